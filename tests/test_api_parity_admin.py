"""API parity for admins: the audit trail, the global RPA token and users; Admin only, audited,
never a secret in an answer, and every answer validated against the OpenAPI document."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from apps.auth.models import Role, User
from apps.core.audit import AuditLog
from apps.core.types import db, utcnow
from tests.conftest import PASSWORD, actions
from tests.test_api_parity_processos import assert_documented
from tests.test_rpa_token import SIM_PASSWORD, a_jwt, sim, sim_knobs  # noqa: F401 (fixtures)

NEW_PASSWORD = "Outra-Senha-Forte-42"  # noqa: S105


ADMIN_ROUTES = [("get", "/api/v1/auditoria"), ("get", "/api/v1/token-global"), ("put", "/api/v1/token-global"),
                ("post", "/api/v1/token-global/renovar"), ("post", "/api/v1/token-global/testar"),
                ("get", "/api/v1/usuarios"), ("post", "/api/v1/usuarios"), ("get", "/api/v1/usuarios/{id}"),
                ("patch", "/api/v1/usuarios/{id}")]


@pytest.mark.parametrize("role", [r for r in Role.ALL if r != Role.ADMIN])
@pytest.mark.parametrize("method,path", ADMIN_ROUTES)
def test_admin_routes_refuse_other_roles(client, users, api_headers, role, method, path):
    headers = api_headers(role)
    response = getattr(client, method)(path.format(id=users[Role.VISUALIZADOR].id), headers=headers,
                                       json={"token": "x", "role": "ADMIN"})
    assert response.status_code == 403 and response.get_json()["error"]
    assert actions("token_global_alterado") == [] and actions("usuario_alterado") == []


# --- auditoria ---------------------------------------------------------------------------------

def test_auditoria_lists_with_the_pages_filters(client, users, admin):
    old = AuditLog(action="processos_gerados", entity_type="processos", entity_id="2026-05", detail="antigo",
                   username="operador", created_at=utcnow() - timedelta(days=40))
    db.session.add(old)
    db.session.commit()
    response = client.get("/api/v1/auditoria", headers=admin)
    body = assert_documented(response, "get", "/api/v1/auditoria")
    assert body["items"][0]["acao"] == "login" or body["total"] >= 2  # the token request logged a login
    filtered = client.get("/api/v1/auditoria?acao=processos_gerados&usuario=oper&registro=2026-05",
                          headers=admin).get_json()
    assert [i["detalhe"] for i in filtered["items"]] == ["antigo"]
    recent = client.get(f"/api/v1/auditoria?acao=processos_gerados&de={utcnow().date().isoformat()}",
                        headers=admin).get_json()
    assert recent["items"] == []


def test_auditoria_bad_date_is_400(client, users, admin):
    response = client.get("/api/v1/auditoria?de=31/12/2026", headers=admin)
    assert response.status_code == 400
    assert assert_documented(response, "get", "/api/v1/auditoria")["fields"] == {"de": "data AAAA-MM-DD"}


# --- token global ------------------------------------------------------------------------------

def test_token_global_put_and_get_never_show_the_token(client, users, admin, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "")
    empty = assert_documented(client.get("/api/v1/token-global", headers=admin), "get", "/api/v1/token-global")
    assert empty["configurado"] is False and empty["token_mascarado"] is None
    token = a_jwt(days=10)
    response = client.put("/api/v1/token-global", headers=admin, json={"token": f"  {token}\n", "motivo": "rotação",
                                                                        "forcar": True})  # no RPA API to test it
    body = assert_documented(response, "put", "/api/v1/token-global")
    assert token not in response.get_data(as_text=True)
    assert body["configurado"] and body["jwt"] and not body["expirado"] and body["token_mascarado"].endswith(token[-6:])
    assert body["origem"] == "usuário admin admin" and body["expira_em"].startswith(
        (utcnow() + timedelta(days=10)).date().isoformat()[:7])
    entry = actions("token_global_alterado")
    assert len(entry) == 1 and entry[0].username == "admin" and "rotação" in entry[0].detail
    assert token not in entry[0].detail
    again = client.get("/api/v1/token-global", headers=admin)
    assert token not in again.get_data(as_text=True) and again.get_json() == body


@pytest.mark.parametrize("payload,field", [({"token": "com espaço"}, "token"), ({"token": ""}, "token"),
                                           ({}, "token"), ({"token": "x" * 5000}, "token"),
                                           ({"token": "abc", "motivo": 7}, "motivo")])
def test_token_global_put_validation(client, users, admin, payload, field):
    response = client.put("/api/v1/token-global", headers=admin, json=payload)
    assert response.status_code == 422
    assert field in assert_documented(response, "put", "/api/v1/token-global")["fields"]
    assert actions("token_global_alterado") == []


def test_token_global_renovar_and_testar(client, users, admin, sim):  # noqa: F811
    renewed = client.post("/api/v1/token-global/renovar", headers=admin)
    body = assert_documented(renewed, "post", "/api/v1/token-global/renovar")
    assert body["configurado"] and len(actions("token_global_renovado")) == 1
    tested = client.post("/api/v1/token-global/testar", headers=admin)
    result = assert_documented(tested, "post", "/api/v1/token-global/testar")
    assert result["ok"] and result["token_ok"] and result["mensagem"].startswith("Conexão OK")
    assert len(actions("token_global_testado")) == 1


def test_token_global_renovar_without_password_is_502(client, users, admin, app, monkeypatch):
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "")
    response = client.post("/api/v1/token-global/renovar", headers=admin)
    assert response.status_code == 502
    assert "BRM_TOKEN_PASSWORD" in assert_documented(response, "post", "/api/v1/token-global/renovar")["error"]


def test_token_global_testar_when_the_api_is_down(client, users, admin, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")
    response = client.post("/api/v1/token-global/testar", headers=admin)
    result = assert_documented(response, "post", "/api/v1/token-global/testar")
    assert result["ok"] is False and result["api_ok"] is False and "não respondeu" in result["mensagem"]


# --- usuarios ----------------------------------------------------------------------------------

def test_usuarios_crud_without_secrets(client, users, admin):
    response = client.post("/api/v1/usuarios", headers=admin, json={
        "username": "maria.silva", "email": "Maria@Example.com", "password": NEW_PASSWORD, "role": "OPERADOR",
        "nome": "Maria"})
    assert response.status_code == 201
    created = assert_documented(response, "post", "/api/v1/usuarios")
    assert response.headers["Location"].endswith(f"/api/v1/usuarios/{created['id']}")
    assert (created["email"], created["role"], created["ativo"]) == ("maria@example.com", "OPERADOR", True)
    listing = client.get("/api/v1/usuarios?q=maria", headers=admin)
    assert [u["username"] for u in assert_documented(listing, "get", "/api/v1/usuarios")["items"]] == ["maria.silva"]
    one = client.get(f"/api/v1/usuarios/{created['id']}", headers=admin)
    assert assert_documented(one, "get", "/api/v1/usuarios/{user_id}") == created
    for text in (listing.get_data(as_text=True), one.get_data(as_text=True)):
        assert "password" not in text and "argon2" not in text and "api_externa_token" not in text
    assert [a.username for a in actions("usuario_criado") if a.entity_id == created["id"]] == ["admin"]


def test_usuarios_patch_role_deactivation_and_password(client, users, admin, api_headers):
    operador = users[Role.OPERADOR]
    op_headers = api_headers(Role.OPERADOR)
    response = client.patch(f"/api/v1/usuarios/{operador.id}", headers=admin,
                            json={"role": "VISUALIZADOR", "nome": "Op"})
    body = assert_documented(response, "patch", "/api/v1/usuarios/{user_id}")
    assert (body["role"], body["nome"], body["email"]) == ("VISUALIZADOR", "Op", "operador@example.com")
    assert "perfil OPERADOR→VISUALIZADOR" in actions("usuario_alterado")[0].detail
    assert client.get("/api/v1/processos", headers=op_headers).status_code == 401  # its tokens ended
    client.patch(f"/api/v1/usuarios/{operador.id}", headers=admin, json={"password": NEW_PASSWORD})
    assert len(actions("senha_redefinida")) == 1
    assert client.post("/api/v1/auth/token", json={"username": "operador", "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": "operador", "password": NEW_PASSWORD}).status_code == 200
    off = client.patch(f"/api/v1/usuarios/{operador.id}", headers=admin, json={"ativo": False}).get_json()
    assert off["ativo"] is False and db.session.get(User, operador.id).ativo is False


@pytest.mark.parametrize("payload,status,field", [
    ({"username": "novo", "email": "n@example.com"}, 422, "password"),
    ({"username": "com espaço", "email": "n@example.com", "password": NEW_PASSWORD}, 422, "username"),
    ({"username": "novo", "email": "não-é-email", "password": NEW_PASSWORD}, 422, "email"),
    ({"username": "novo", "email": "n@example.com", "password": NEW_PASSWORD, "role": "DONO"}, 422, "role"),
    ({"username": "novo", "email": "n@example.com", "password": "curta"}, 422, "password"),
    ({"username": "novo", "email": "n@example.com", "password": NEW_PASSWORD, "password_hash": "x"}, 422,
     "password_hash"),
    ({"username": 5, "email": "n@example.com", "password": NEW_PASSWORD}, 400, "username"),
    ({"username": "operador", "email": "n@example.com", "password": NEW_PASSWORD}, 409, "username"),
    ({"username": "novo", "email": "ADMIN@example.com", "password": NEW_PASSWORD}, 409, "email"),
])
def test_usuarios_create_validation(client, users, admin, payload, status, field):
    response = client.post("/api/v1/usuarios", headers=admin, json=payload)
    assert response.status_code == status, response.get_json()
    body = assert_documented(response, "post", "/api/v1/usuarios")
    assert field in body["fields"] and body["error"]
    assert db.session.scalar(select(User).where(User.username == "novo")) is None


def test_usuarios_patch_validation_and_self_protection(client, users, admin):
    me = users[Role.ADMIN]
    response = client.patch(f"/api/v1/usuarios/{me.id}", headers=admin, json={"role": "OPERADOR"})
    assert response.status_code == 422 and "próprio perfil" in response.get_json()["error"]
    assert client.patch(f"/api/v1/usuarios/{me.id}", headers=admin, json={"ativo": False}).status_code == 422
    readonly = client.patch(f"/api/v1/usuarios/{me.id}", headers=admin, json={"username": "outro"})
    assert readonly.status_code == 422 and readonly.get_json()["fields"] == {"username": "campo somente leitura"}
    assert client.patch(f"/api/v1/usuarios/{me.id}", headers=admin, json={"ativo": "sim"}).status_code == 400
    dup = client.patch(f"/api/v1/usuarios/{users[Role.OPERADOR].id}", headers=admin, json={"email": "admin@example.com"})
    assert dup.status_code == 409 and assert_documented(dup, "patch", "/api/v1/usuarios/{user_id}")["fields"]
    missing = client.get("/api/v1/usuarios/00000000-0000-0000-0000-000000000000", headers=admin)
    assert missing.status_code == 404 and missing.get_json()["error"] == "Usuário não encontrado."
    assert db.session.get(User, me.id).role == Role.ADMIN
