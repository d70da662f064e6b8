"""API v1 tokens: issue, refresh, and every way a token must be refused."""
import base64
import json
import time

import jwt

from apps.auth.models import Role
from apps.core.types import db
from tests.conftest import PASSWORD


def _tokens(client, username="admin"):
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    return response.get_json()


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_token_and_refresh_flow(client, users):
    pair = _tokens(client)
    assert set(pair) == {"access", "refresh"}
    response = client.get("/api/v1/auth/token")
    assert response.status_code == 405
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh": pair["refresh"]})
    assert refreshed.status_code == 200 and set(refreshed.get_json()) == {"access"}


def test_bad_credentials_and_bad_bodies(client, users):
    assert client.post("/api/v1/auth/token", json={"username": "admin", "password": "x"}).status_code == 401
    response = client.post("/api/v1/auth/token", data="não é json", content_type="application/json")
    assert response.status_code == 400 and "error" in response.get_json()
    response = client.post("/api/v1/auth/token", json={"username": "admin"})
    assert response.status_code == 400 and response.get_json()["fields"] == {"password": "obrigatório"}


def test_access_token_cannot_be_used_as_refresh_and_vice_versa(client, users):
    pair = _tokens(client)
    assert client.post("/api/v1/auth/refresh", json={"refresh": pair["access"]}).status_code == 401
    response = client.get("/api/v1/auth/token", headers={"Authorization": f"Bearer {pair['refresh']}"})
    assert response.status_code == 401


def test_alg_none_and_wrong_key_and_expired_tokens_are_refused(app, client, users):
    admin = users[Role.ADMIN]
    now = int(time.time())
    claims = {"sub": str(admin.id), "iat": now, "exp": now + 600, "iss": "rpa-dashboard", "type": "access",
              "ver": admin.token_version, "jti": "x"}
    none_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    wrong_key = jwt.encode(claims, "outra-chave-qualquer-com-tamanho-suficiente", algorithm="HS256")
    other_alg = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS512")
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, app.config["SECRET_KEY"], algorithm="HS256")
    no_exp = jwt.encode({k: v for k, v in claims.items() if k != "exp"}, app.config["SECRET_KEY"], algorithm="HS256")
    good = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    for token in (none_token, wrong_key, other_alg, expired, no_exp, "lixo"):
        response = client.get("/api/v1/operadoras", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.get_json()["error"]
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/v1/operadoras", headers={"Authorization": f"Bearer {good}"}).status_code != 401


def test_deactivated_user_tokens_stop_working_at_once(client, users):
    pair = _tokens(client, "operador")
    headers = {"Authorization": f"Bearer {pair['access']}"}
    assert client.get("/api/v1/operadoras", headers=headers).status_code == 200
    users[Role.OPERADOR].ativo = False
    db.session.commit()
    assert client.get("/api/v1/operadoras", headers=headers).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh": pair["refresh"]}).status_code == 401


def test_api_v1_ignores_the_session_cookie(client, users, login):
    login(users[Role.ADMIN])
    response = client.get("/api/v1/operadoras")
    assert response.status_code == 401
    assert response.is_json


def test_role_refusal_is_json_403(client, users, api_headers):
    response = client.post("/api/v1/operadoras", json={"codigo": "X", "nome": "X"},
                           headers=api_headers(Role.VISUALIZADOR))
    assert response.status_code == 403 and response.get_json()["error"]
