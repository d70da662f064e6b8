"""API v1 operadoras and clientes: every status code, filters, pagination, DELETE = deactivate."""
import ipaddress
import re
import socket

import pytest
from sqlalchemy import select

from apps.clientes.models import Cliente
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.operadoras import url_validation
from apps.operadoras.models import Operadora
from tests.factories import ClienteFactory, OperadoraFactory
from tests.factories import valid_cnpj as cnpj_for

CLASSIC = "11222333000181"
ALPHA = "12ABC34501DE35"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
REAL_GETADDRINFO = socket.getaddrinfo


def is_numeric_host(host) -> bool:
    """An IP literal (or a number like 2130706433): the real resolver answers it without DNS."""
    try:
        ipaddress.ip_address(str(host))
        return True
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+", str(host)))


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    """robo.exemplo.com.br is public, interno.exemplo.com.br private; numeric hosts resolve for real."""
    names = {"robo.exemplo.com.br": "200.160.2.3", "interno.exemplo.com.br": "10.9.8.7"}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        if not is_numeric_host(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(url_validation.socket, "getaddrinfo", getaddrinfo)




# --- authentication and roles -----------------------------------------------------------

def test_no_token_is_401(client):
    for method, path in [("get", "/api/v1/operadoras"), ("get", f"/api/v1/operadoras/{UNKNOWN_ID}"),
                         ("delete", f"/api/v1/operadoras/{UNKNOWN_ID}"), ("get", "/api/v1/clientes"),
                         ("patch", f"/api/v1/clientes/{UNKNOWN_ID}")]:
        response = getattr(client, method)(path)
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"]
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_json_post_without_token_is_401(client):
    assert client.post("/api/v1/clientes", json={"nome": "X"}).status_code == 401


def test_invalid_token_is_401(client):
    response = client.get("/api/v1/operadoras", headers={"Authorization": "Bearer nao-e-um-jwt"})
    assert response.status_code == 401 and response.get_json()["error"]


def test_session_cookie_is_not_enough(admin_client):
    assert admin_client.get("/api/v1/clientes").status_code == 401


def test_visualizador_reads_but_cannot_write(client, viewer):
    operadora = OperadoraFactory()
    assert client.get("/api/v1/operadoras", headers=viewer).status_code == 200
    assert client.get(f"/api/v1/operadoras/{operadora.id}", headers=viewer).status_code == 200
    assert client.post("/api/v1/operadoras", json={"codigo": "TIM", "nome": "TIM"}, headers=viewer).status_code == 403
    assert client.patch(f"/api/v1/operadoras/{operadora.id}", json={"nome": "X"}, headers=viewer).status_code == 403
    assert client.delete(f"/api/v1/operadoras/{operadora.id}", headers=viewer).status_code == 403
    body = {"nome": "X", "cnpj": CLASSIC, "operadora_id": str(operadora.id)}
    assert client.post("/api/v1/clientes", json=body, headers=viewer).status_code == 403
    assert db.session.scalar(select(Operadora.nome)) == "Vivo"
    assert db.session.scalar(select(Cliente)) is None


def test_operador_may_not_manage_operadoras(client, op):
    """Operadoras are the Mantenedor's and the Admin's (operadora.gerenciar), as the role help says."""
    operadora = OperadoraFactory()
    assert client.patch(f"/api/v1/operadoras/{operadora.id}", json={"nome": "Vivo SA"}, headers=op).status_code == 403
    assert client.post("/api/v1/operadoras", json={"codigo": "TIM", "nome": "TIM"}, headers=op).status_code == 403
    assert client.delete(f"/api/v1/operadoras/{operadora.id}", headers=op).status_code == 403
    assert client.get(f"/api/v1/operadoras/{operadora.id}", headers=op).status_code == 200


def test_mantenedor_sending_rpa_fields_is_403(client, maint):
    operadora = OperadoraFactory()
    for field, value in [("possui_rpa", False), ("rpa_terceirizado", False), ("url_endpoint_rpa", None),
                         ("limite_concorrencia", 5)]:
        response = client.patch(f"/api/v1/operadoras/{operadora.id}", json={"nome": "Vivo SA", field: value},
                                headers=maint)
        assert response.status_code == 403, field
        body = response.get_json()
        assert "Admin" in body["error"] and field in body["fields"]
        response = client.post("/api/v1/operadoras", json={"codigo": "TIM", "nome": "TIM", field: value},
                               headers=maint)
        assert response.status_code == 403, field
    assert db.session.scalars(select(Operadora.nome)).all() == ["Vivo"]


def test_mantenedor_edits_other_fields(client, maint):
    operadora = OperadoraFactory()
    response = client.patch(f"/api/v1/operadoras/{operadora.id}", json={"nome": "Vivo SA"}, headers=maint)
    assert response.status_code == 200 and response.get_json()["nome"] == "Vivo SA"


# --- operadoras -------------------------------------------------------------------------

def test_admin_operadora_lifecycle(client, admin):
    response = client.post("/api/v1/operadoras", headers=admin, json={
        "codigo": "tim", "nome": "TIM", "rpa_terceirizado": True,
        "url_endpoint_rpa": "https://robo.exemplo.com.br/rpa", "limite_concorrencia": 2})
    assert response.status_code == 201
    created = response.get_json()
    assert created == {"id": created["id"], "codigo": "TIM", "nome": "TIM", "possui_rpa": True,
                       "rpa_terceirizado": True, "url_endpoint_rpa": "https://robo.exemplo.com.br/rpa",
                       "limite_concorrencia": 2, "ativo": True, "credencial_configurada": False, "aprovadores": [],
                       "prazo_aprovacao_dias_uteis": 2, "valor_dupla_aprovacao": None, "variacao_alerta_pct": 25}
    assert response.headers["Location"].endswith(f"/api/v1/operadoras/{created['id']}")
    url = f"/api/v1/operadoras/{created['id']}"
    assert client.get(url, headers=admin).get_json() == created
    response = client.patch(url, headers=admin, json={"limite_concorrencia": 7, "rpa_terceirizado": False,
                                                      "url_endpoint_rpa": None})
    assert response.status_code == 200
    assert (response.get_json()["limite_concorrencia"], response.get_json()["url_endpoint_rpa"]) == (7, None)
    response = client.delete(url, headers=admin)
    assert response.status_code == 204 and response.data == b""
    assert client.get(url, headers=admin).get_json()["ativo"] is False
    assert db.session.scalar(select(Operadora.ativo)) is False
    actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.entity_id == created["id"])))
    assert actions == {"operadora_criada", "operadora_alterada", "operadora_desativada"}


def test_duplicate_codigo_is_409(client, admin):
    OperadoraFactory(codigo="VIVO")
    response = client.post("/api/v1/operadoras", json={"codigo": "vivo", "nome": "Outra"}, headers=admin)
    assert response.status_code == 409
    assert "codigo" in response.get_json()["fields"]
    other = OperadoraFactory(codigo="OI")
    response = client.patch(f"/api/v1/operadoras/{other.id}", json={"codigo": "Vivo"}, headers=admin)
    assert response.status_code == 409


OPERADORA_INVALID = [
    ({"nome": "Sem código"}, {"codigo"}),
    ({"codigo": "", "nome": ""}, {"codigo", "nome"}),
    ({"codigo": "TIM", "nome": "TIM", "rpa_terceirizado": True}, {"url_endpoint_rpa"}),
    ({"codigo": "TIM", "nome": "TIM", "url_endpoint_rpa": "ftp://robo.exemplo.com.br"}, {"url_endpoint_rpa"}),
    ({"codigo": "TIM", "nome": "TIM", "url_endpoint_rpa": "http://169.254.169.254/"}, {"url_endpoint_rpa"}),
    ({"codigo": "TIM", "nome": "TIM", "url_endpoint_rpa": "http://interno.exemplo.com.br/"}, {"url_endpoint_rpa"}),
    ({"codigo": "TIM", "nome": "TIM", "limite_concorrencia": 0}, {"limite_concorrencia"}),
    ({"codigo": "TIM", "nome": "TIM", "cor": "azul", "id": "x"}, {"cor", "id"}),
]
OPERADORA_WRONG_TYPES = [
    ({"codigo": 12, "nome": "TIM"}, "codigo"),
    ({"codigo": "TIM", "nome": "TIM", "possui_rpa": "sim"}, "possui_rpa"),
    ({"codigo": "TIM", "nome": "TIM", "limite_concorrencia": "5"}, "limite_concorrencia"),
    ({"codigo": "TIM", "nome": "TIM", "limite_concorrencia": True}, "limite_concorrencia"),
    ({"codigo": "TIM", "nome": None}, "nome"),
]


def test_operadora_validation_is_422_naming_fields(client, admin):
    for body, fields in OPERADORA_INVALID:
        response = client.post("/api/v1/operadoras", json=body, headers=admin)
        assert response.status_code == 422, body
        assert set(response.get_json()["fields"]) == fields, body
    assert db.session.scalar(select(Operadora)) is None


def test_operadora_wrong_types_are_400(client, admin):
    for body, field in OPERADORA_WRONG_TYPES:
        response = client.post("/api/v1/operadoras", json=body, headers=admin)
        assert response.status_code == 400, body
        assert field in response.get_json()["fields"], body
    operadora = OperadoraFactory()
    response = client.patch(f"/api/v1/operadoras/{operadora.id}", json={"ativo": "false"}, headers=admin)
    assert response.status_code == 400 and db.session.scalar(select(Operadora.ativo)) is True


def test_malformed_json_is_400(client, admin):
    operadora = OperadoraFactory()
    for data in ["{not json", "[1, 2]", "", "null", '"texto"']:
        for method, path in [("post", "/api/v1/operadoras"), ("patch", f"/api/v1/operadoras/{operadora.id}"),
                             ("post", "/api/v1/clientes")]:
            response = getattr(client, method)(path, data=data, content_type="application/json", headers=admin)
            assert response.status_code == 400, (method, path, data)
            assert response.get_json()["error"]


def test_unknown_id_is_404(client, admin):
    for path in [f"/api/v1/operadoras/{UNKNOWN_ID}", "/api/v1/operadoras/nao-e-uuid",
                 f"/api/v1/clientes/{UNKNOWN_ID}", "/api/v1/clientes/123"]:
        assert client.get(path, headers=admin).status_code == 404, path
        assert client.patch(path, json={"nome": "X"}, headers=admin).status_code == 404, path
        assert client.delete(path, headers=admin).status_code == 404, path
        assert "não encontrad" in client.get(path, headers=admin).get_json()["error"], path


def test_operadoras_list_filters_and_pagination(client, viewer):
    for codigo in ("A1", "B2", "C3", "D4"):
        OperadoraFactory(codigo=codigo)
    OperadoraFactory(codigo="ZZ", ativo=False)
    body = client.get("/api/v1/operadoras?per_page=2&page=2", headers=viewer).get_json()
    assert (body["total"], body["page"], body["pages"]) == (5, 2, 3)
    assert [o["codigo"] for o in body["items"]] == ["C3", "D4"]
    body = client.get("/api/v1/operadoras?ativo=false", headers=viewer).get_json()
    assert [o["codigo"] for o in body["items"]] == ["ZZ"]
    body = client.get("/api/v1/operadoras?q=b2", headers=viewer).get_json()
    assert [o["codigo"] for o in body["items"]] == ["B2"]
    assert client.get("/api/v1/operadoras?ativo=talvez", headers=viewer).status_code == 400


# --- clientes ---------------------------------------------------------------------------

def test_cliente_lifecycle(client, op):
    operadora = OperadoraFactory()
    response = client.post("/api/v1/clientes", headers=op, json={
        "nome": "Hotel Pampa", "cnpj": "12.abc.345/01de-35", "codigo": None, "operadora_id": str(operadora.id)})
    assert response.status_code == 201
    created = response.get_json()
    assert created == {"id": created["id"], "nome": "Hotel Pampa", "cnpj": ALPHA,
                       "cnpj_formatado": "12.ABC.345/01DE-35", "codigo": None,
                       "operadora_id": str(operadora.id), "ativo": True}
    url = f"/api/v1/clientes/{created['id']}"
    response = client.patch(url, json={"codigo": "C-1", "cnpj": CLASSIC}, headers=op)
    assert response.status_code == 200
    assert (response.get_json()["codigo"], response.get_json()["cnpj_formatado"]) == ("C-1", "11.222.333/0001-81")
    assert client.delete(url, headers=op).status_code == 204
    assert client.get(url, headers=op).get_json()["ativo"] is False
    assert client.patch(url, json={"ativo": True}, headers=op).get_json()["ativo"] is True


def test_duplicate_cnpj_is_409(client, admin):
    operadora = OperadoraFactory()
    ClienteFactory(operadora=operadora, nome="Padaria", cnpj=CLASSIC)
    body = {"nome": "Outro", "cnpj": "11.222.333/0001-81", "operadora_id": str(operadora.id)}
    response = client.post("/api/v1/clientes", json=body, headers=admin)
    assert response.status_code == 409 and "cnpj" in response.get_json()["fields"]
    other = ClienteFactory(operadora=operadora, nome="Outro", cnpj=ALPHA)
    response = client.patch(f"/api/v1/clientes/{other.id}", json={"cnpj": CLASSIC}, headers=admin)
    assert response.status_code == 409


CLIENTE_INVALID = [
    ({"nome": "X", "cnpj": "11.222.333/0001-82"}, {"cnpj"}),
    ({"nome": "X", "cnpj": "11111111111111"}, {"cnpj"}),
    ({"cnpj": CLASSIC}, {"nome"}),
    ({"nome": "X"}, {"cnpj"}),
    ({"nome": "X", "cnpj": CLASSIC, "operadora_id": UNKNOWN_ID}, {"operadora_id"}),
    ({"nome": "X", "cnpj": CLASSIC, "operadora_id": "inativa"}, {"operadora_id"}),
    ({"nome": "X", "cnpj": CLASSIC, "cnpj_formatado": "11.222.333/0001-81", "extra": 1}, {"cnpj_formatado", "extra"}),
]
CLIENTE_WRONG_TYPES = [
    ({"nome": 1, "cnpj": CLASSIC}, "nome"), ({"nome": "X", "cnpj": 11222333000181}, "cnpj"),
    ({"nome": "X", "cnpj": CLASSIC, "ativo": "true"}, "ativo"),
    ({"nome": "X", "cnpj": CLASSIC, "operadora_id": 5}, "operadora_id"),
]


def test_cliente_validation_is_422_naming_fields(client, admin):
    ativa, inativa = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI", ativo=False)
    for body, fields in CLIENTE_INVALID:
        body = {"operadora_id": str(ativa.id), **body}
        if body["operadora_id"] == "inativa":
            body["operadora_id"] = str(inativa.id)
        response = client.post("/api/v1/clientes", json=body, headers=admin)
        assert response.status_code == 422, body
        assert set(response.get_json()["fields"]) == fields, body
    assert db.session.scalar(select(Cliente)) is None


def test_cliente_wrong_types_are_400(client, admin):
    operadora = OperadoraFactory()
    for body, field in CLIENTE_WRONG_TYPES:
        response = client.post("/api/v1/clientes", json={"operadora_id": str(operadora.id), **body}, headers=admin)
        assert response.status_code == 400, body
        assert field in response.get_json()["fields"], body


def test_clientes_list_filters_and_pagination(client, viewer):
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    ClienteFactory(operadora=vivo, nome="Alfa", cnpj=cnpj_for(1))
    ClienteFactory(operadora=oi, nome="Bravo", cnpj=cnpj_for(2))
    ClienteFactory(operadora=oi, nome="Charlie", cnpj=cnpj_for(3), ativo=False)
    ClienteFactory(operadora=oi, nome="Delta", cnpj=ALPHA)

    def nomes(query):
        response = client.get(f"/api/v1/clientes?{query}", headers=viewer)
        assert response.status_code == 200
        return [c["nome"] for c in response.get_json()["items"]]

    assert nomes("") == ["Alfa", "Bravo", "Charlie", "Delta"]
    assert nomes(f"operadora_id={oi.id}") == ["Bravo", "Charlie", "Delta"]
    assert nomes(f"operadora_id={oi.id}&ativo=true") == ["Bravo", "Delta"]
    assert nomes("ativo=0") == ["Charlie"]
    assert nomes("q=12.ABC.345/01DE-35") == ["Delta"]
    assert nomes("q=brav") == ["Bravo"]
    body = client.get("/api/v1/clientes?per_page=3&page=2", headers=viewer).get_json()
    assert body == {"items": body["items"], "total": 4, "page": 2, "pages": 2}
    assert [c["nome"] for c in body["items"]] == ["Delta"]
    assert client.get("/api/v1/clientes?operadora_id=xyz", headers=viewer).status_code == 400
