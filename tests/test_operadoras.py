"""Operadoras: the RPA URL guard, the service rules and the pages."""
import ipaddress
import re
import socket

import pytest
from sqlalchemy import select

from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.operadoras import services, url_validation
from apps.operadoras.models import Operadora
from apps.operadoras.url_validation import validate_rpa_url
from tests.factories import OperadoraFactory

REAL_GETADDRINFO = socket.getaddrinfo


def is_numeric_host(host) -> bool:
    """An IP literal (or a number like 2130706433): the real resolver answers it without DNS."""
    try:
        ipaddress.ip_address(str(host))
        return True
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+", str(host)))
FAKE_DNS = {
    "robo.exemplo.com.br": ["200.160.2.3"],
    "v6.exemplo.com.br": ["2800:3f0:4001:800::200e"],
    "interno.exemplo.com.br": ["10.1.2.3"],
    "metadados.exemplo.com.br": ["169.254.169.254"],
    "misto.exemplo.com.br": ["200.160.2.3", "127.0.0.1"],
}


def fake_getaddrinfo(host, port, *args, **kwargs):
    """Known names from FAKE_DNS, numeric hosts from the real resolver, anything else fails."""
    if host in FAKE_DNS:
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in FAKE_DNS[host]]
    if not is_numeric_host(host):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return REAL_GETADDRINFO(host, port, *args, **kwargs)


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    monkeypatch.setattr(url_validation.socket, "getaddrinfo", fake_getaddrinfo)



def audit_actions(entity_id):
    return [a.action for a in db.session.scalars(select(AuditLog).where(AuditLog.entity_id == str(entity_id)))]


# --- validate_rpa_url (cases looped, not parametrized: each test item pays a database cleanup) ---

ACCEPTED = [
    ("https://robo.exemplo.com.br/api", "https://robo.exemplo.com.br/api"),
    ("HTTP://Robo.Exemplo.com.br:80/x?a=1#frag", "http://robo.exemplo.com.br/x?a=1"),
    ("https://robo.exemplo.com.br:8443", "https://robo.exemplo.com.br:8443"),
    ("https://v6.exemplo.com.br/", "https://v6.exemplo.com.br/"),
    ("  https://200.160.2.3/rpa  ", "https://200.160.2.3/rpa"),
]
MALFORMED = [
    ("ftp://robo.exemplo.com.br/", "http:// ou https://"),
    ("javascript:alert(1)", "http:// ou https://"),
    ("robo.exemplo.com.br/api", "http:// ou https://"),
    ("https://", "host"),
    ("https://user:senha@robo.exemplo.com.br/", "usuário ou senha"),
    ("https://user@robo.exemplo.com.br/", "usuário ou senha"),
    ("https://robo.exemplo.com.br:99999/", "porta"),
    ("https://nao-existe.exemplo.com.br/", "não foi encontrado"),
    ("https://robo.exemplo.com.br/a b", "espaços"),
    ("", "Informe"),
]
INTERNAL = [
    "http://127.0.0.1:8000/", "http://127.1/", "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
    "http://metadados.exemplo.com.br/", "http://10.0.0.8/", "http://interno.exemplo.com.br/",
    "http://192.168.1.10/", "http://172.16.0.1/", "http://0.0.0.0/", "http://224.0.0.1/", "http://100.64.0.1/",
    "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://misto.exemplo.com.br/",
]


def test_public_urls_are_accepted_and_normalized():
    for url, expected in ACCEPTED:
        assert validate_rpa_url(url, allow_private=False) == expected, url


def test_malformed_urls_are_refused():
    for url, message in MALFORMED:
        with pytest.raises(ValueError, match=message):
            validate_rpa_url(url, allow_private=True)


def test_internal_addresses_are_refused():
    for url in INTERNAL:
        with pytest.raises(ValueError, match="endereço interno ou reservado"):
            validate_rpa_url(url, allow_private=False)


def test_allow_private_lets_internal_addresses_through():
    for url in ("http://127.0.0.1:8000/", "http://169.254.169.254/", "http://10.0.0.8/", "http://interno.exemplo.com.br/"):
        assert validate_rpa_url(url, allow_private=True).startswith("http://"), url


def test_allow_private_still_refuses_credentials_and_bad_schemes():
    with pytest.raises(ValueError):
        validate_rpa_url("http://a:b@127.0.0.1/", allow_private=True)
    with pytest.raises(ValueError):
        validate_rpa_url("file:///etc/passwd", allow_private=True)


# --- services ---------------------------------------------------------------------------

def test_codigo_is_upper_cased_and_unique(users):
    admin = users[Role.ADMIN]
    operadora = services.create_operadora({"codigo": " vivo ", "nome": "Vivo"}, by=admin)
    db.session.commit()
    assert operadora.codigo == "VIVO"
    assert "operadora_criada" in audit_actions(operadora.id)
    with pytest.raises(services.RecordError) as info:
        services.create_operadora({"codigo": "Vivo", "nome": "Outra"}, by=admin)
    assert info.value.status == 409 and "codigo" in info.value.fields


@pytest.mark.parametrize("data, field", [
    ({"codigo": "", "nome": "X"}, "codigo"),
    ({"codigo": "TIM MOVEL", "nome": "X"}, "codigo"),
    ({"codigo": "TIM", "nome": "  "}, "nome"),
    ({"codigo": "TIM", "nome": "X", "limite_concorrencia": 0}, "limite_concorrencia"),
    ({"codigo": "TIM", "nome": "X", "limite_concorrencia": 101}, "limite_concorrencia"),
    ({"codigo": "TIM", "nome": "X", "rpa_terceirizado": True}, "url_endpoint_rpa"),
    ({"codigo": "TIM", "nome": "X", "possui_rpa": False, "rpa_terceirizado": True,
      "url_endpoint_rpa": "https://robo.exemplo.com.br"}, "rpa_terceirizado"),
    ({"codigo": "TIM", "nome": "X", "url_endpoint_rpa": "http://169.254.169.254/"}, "url_endpoint_rpa"),
])
def test_invalid_values_name_the_field(users, data, field):
    with pytest.raises(services.RecordError) as info:
        services.create_operadora(data, by=users[Role.ADMIN])
    assert info.value.status == 422
    assert field in info.value.fields


def test_private_rpa_url_allowed_by_config(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", True)
    operadora = services.create_operadora(
        {"codigo": "LOCAL", "nome": "Local", "rpa_terceirizado": True, "url_endpoint_rpa": "http://127.0.0.1:8000"},
        by=users[Role.ADMIN])
    assert operadora.url_endpoint_rpa == "http://127.0.0.1:8000"


def test_operador_cannot_change_rpa_settings_in_the_service(users):
    operadora = OperadoraFactory(codigo="OI")
    with pytest.raises(services.RecordError) as info:
        services.update_operadora(operadora, {"limite_concorrencia": 50}, by=users[Role.OPERADOR])
    assert info.value.status == 403
    db.session.rollback()
    assert db.session.get(Operadora, operadora.id).limite_concorrencia == 5


def test_unchanged_url_is_not_resolved_again(users, monkeypatch):
    operadora = OperadoraFactory(codigo="EMBRATEL", rpa_terceirizado=True, url_endpoint_rpa="https://sumiu.exemplo.com.br/")

    def no_dns(*args, **kwargs):
        raise AssertionError("DNS consulted for an unchanged URL")

    monkeypatch.setattr(url_validation.socket, "getaddrinfo", no_dns)
    services.update_operadora(operadora, {"nome": "Embratel S.A."}, by=users[Role.OPERADOR])
    assert operadora.nome == "Embratel S.A."


# --- pages ------------------------------------------------------------------------------

def test_list_search_filter_and_sort(admin_client):
    OperadoraFactory(codigo="VIVO", nome="Telefônica Brasil")
    OperadoraFactory(codigo="EMBRATEL")
    OperadoraFactory(codigo="OI", ativo=False)
    html = admin_client.get("/operadoras").get_data(as_text=True)
    assert html.index('data-operadora="EMBRATEL"') < html.index('data-operadora="OI"') < html.index('data-operadora="VIVO"')
    html = admin_client.get("/operadoras?q=telef").get_data(as_text=True)
    assert 'data-operadora="VIVO"' in html and 'data-operadora="EMBRATEL"' not in html
    html = admin_client.get("/operadoras?q=emb").get_data(as_text=True)
    assert 'data-operadora="EMBRATEL"' in html and 'data-operadora="VIVO"' not in html
    html = admin_client.get("/operadoras?ativo=0").get_data(as_text=True)
    assert 'data-operadora="OI"' in html and 'data-operadora="VIVO"' not in html


def test_list_search_treats_percent_literally(admin_client):
    OperadoraFactory(codigo="VIVO")
    html = admin_client.get("/operadoras?q=%25").get_data(as_text=True)
    assert 'data-operadora="VIVO"' not in html


def test_list_pagination(app, admin_client, monkeypatch):
    monkeypatch.setitem(app.config, "ITEMS_PER_PAGE", 2)
    for codigo in ("A1", "B2", "C3", "D4", "E5"):
        OperadoraFactory(codigo=codigo)
    first = admin_client.get("/operadoras").get_data(as_text=True)
    assert 'data-operadora="A1"' in first and 'data-operadora="C3"' not in first
    assert "5 registro(s)" in first
    last = admin_client.get("/operadoras?page=3").get_data(as_text=True)
    assert 'data-operadora="E5"' in last and 'data-operadora="A1"' not in last


def test_visualizador_sees_list_without_actions(client, users, login):
    operadora = OperadoraFactory(codigo="VIVO")
    login(users[Role.VISUALIZADOR])
    html = client.get("/operadoras").get_data(as_text=True)
    assert 'data-operadora="VIVO"' in html
    assert "Nova operadora" not in html and "/desativar" not in html and "/editar" not in html
    assert client.get("/operadoras/nova").status_code == 403
    assert client.post("/operadoras/nova", data={"codigo": "TIM", "nome": "TIM"}).status_code == 403
    assert client.get(f"/operadoras/{operadora.id}/editar").status_code == 403
    assert client.post(f"/operadoras/{operadora.id}/editar", data={"codigo": "VIVO", "nome": "X"}).status_code == 403
    assert client.post(f"/operadoras/{operadora.id}/desativar").status_code == 403
    assert db.session.scalar(select(Operadora.ativo)) is True
    assert db.session.scalar(select(Operadora.nome)) == "Vivo"


def test_admin_creates_with_rpa_settings(admin_client):
    response = admin_client.post("/operadoras/nova", data={
        "codigo": "tim", "nome": "TIM Brasil", "possui_rpa": "y", "rpa_terceirizado": "y",
        "url_endpoint_rpa": "https://robo.exemplo.com.br/rpa", "limite_concorrencia": "3"})
    assert response.status_code == 302
    operadora = db.session.scalar(select(Operadora))
    assert (operadora.codigo, operadora.rpa_terceirizado, operadora.limite_concorrencia) == ("TIM", True, 3)
    assert operadora.url_endpoint_rpa == "https://robo.exemplo.com.br/rpa"
    assert audit_actions(operadora.id) == ["operadora_criada"]


def test_form_errors_are_shown_and_nothing_is_lost(admin_client):
    OperadoraFactory(codigo="VIVO")
    response = admin_client.post("/operadoras/nova", data={
        "codigo": "vivo", "nome": "Nome que não se perde", "possui_rpa": "y", "rpa_terceirizado": "y",
        "url_endpoint_rpa": "http://10.0.0.1/", "limite_concorrencia": "abc"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    limite_block = html[html.index('for="limite_concorrencia"'):]
    assert "Informe um número inteiro." in limite_block
    assert 'value="Nome que não se perde"' in html
    assert db.session.scalar(select(Operadora).where(Operadora.nome == "Nome que não se perde")) is None


def test_service_errors_are_shown_next_to_each_field(admin_client):
    OperadoraFactory(codigo="VIVO")
    response = admin_client.post("/operadoras/nova", data={
        "codigo": "vivo", "nome": "Outra Vivo", "possui_rpa": "y", "limite_concorrencia": "5"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    codigo_block = html[html.index('for="codigo"'):html.index('for="nome"')]
    assert "is-invalid" in codigo_block and "Código já cadastrado." in codigo_block
    response = admin_client.post("/operadoras/nova", data={
        "codigo": "TIM", "nome": "TIM", "possui_rpa": "y", "rpa_terceirizado": "y",
        "url_endpoint_rpa": "http://169.254.169.254/latest", "limite_concorrencia": "5"})
    html = response.get_data(as_text=True)
    url_block = html[html.index('for="url_endpoint_rpa"'):html.index('for="limite_concorrencia"')]
    assert "endereço interno ou reservado" in url_block
    assert 'value="http://169.254.169.254/latest"' in html


def test_edit_changes_and_audits(admin_client):
    operadora = OperadoraFactory(codigo="VIVO")
    page = admin_client.get(f"/operadoras/{operadora.id}/editar")
    assert page.status_code == 200 and 'name="limite_concorrencia"' in page.get_data(as_text=True)
    response = admin_client.post(f"/operadoras/{operadora.id}/editar", data={
        "codigo": "VIVO", "nome": "Vivo Empresas", "possui_rpa": "y", "limite_concorrencia": "8"})
    assert response.status_code == 302
    db.session.refresh(operadora)
    assert (operadora.nome, operadora.limite_concorrencia) == ("Vivo Empresas", 8)
    assert "operadora_alterada" in audit_actions(operadora.id)


def test_mantenedor_cannot_change_rpa_fields_on_the_page(client, users, login):
    operadora = OperadoraFactory(codigo="VIVO")
    login(users[Role.MANTENEDOR])
    page = client.get(f"/operadoras/{operadora.id}/editar").get_data(as_text=True)
    assert 'name="nome"' in page
    for name in services.RPA_FIELDS:
        assert f'name="{name}"' not in page
    assert "Somente um Admin" in page
    response = client.post(f"/operadoras/{operadora.id}/editar", data={
        "codigo": "VIVO", "nome": "Vivo Novo", "rpa_terceirizado": "y",
        "url_endpoint_rpa": "https://robo.exemplo.com.br/", "limite_concorrencia": "99"})
    assert response.status_code == 302
    db.session.refresh(operadora)
    assert operadora.nome == "Vivo Novo"
    assert (operadora.possui_rpa, operadora.rpa_terceirizado, operadora.url_endpoint_rpa,
            operadora.limite_concorrencia) == (True, False, None, 5)


def test_mantenedor_creates_with_default_rpa_settings(client, users, login):
    login(users[Role.MANTENEDOR])
    response = client.post("/operadoras/nova", data={"codigo": "OI", "nome": "Oi", "limite_concorrencia": "50"})
    assert response.status_code == 302
    operadora = db.session.scalar(select(Operadora))
    assert (operadora.possui_rpa, operadora.limite_concorrencia) == (True, 5)


def test_deactivate_and_reactivate(admin_client):
    operadora = OperadoraFactory(codigo="VIVO")
    html = admin_client.get("/operadoras").get_data(as_text=True)
    assert re.search(r'action="/operadoras/[^"]+/desativar" data-confirm="[^"]+"', html)
    response = admin_client.post(f"/operadoras/{operadora.id}/desativar", data={"next": "/operadoras?ativo=1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/operadoras?ativo=1")
    db.session.refresh(operadora)
    assert operadora.ativo is False
    assert admin_client.post(f"/operadoras/{operadora.id}/reativar").status_code == 302
    db.session.refresh(operadora)
    assert operadora.ativo is True
    assert sorted(audit_actions(operadora.id)) == ["operadora_desativada", "operadora_reativada"]


def test_deactivate_needs_csrf_and_known_id(admin_client):
    operadora = OperadoraFactory(codigo="VIVO")
    assert admin_client.post(f"/operadoras/{operadora.id}/desativar", no_csrf=True).status_code == 400
    assert admin_client.post("/operadoras/nao-e-uuid/desativar").status_code == 404
    assert admin_client.get("/operadoras/00000000-0000-0000-0000-000000000000/editar").status_code == 404
    db.session.refresh(operadora)
    assert operadora.ativo is True
