"""Login defence, security headers, request ids and log redaction."""
import json
import logging

import pytest
from sqlalchemy import select

from apps.core.audit import AuditLog
from apps.core.logs import JsonFormatter
from apps.core.types import db
from tests.conftest import PASSWORD


@pytest.fixture
def client(app_config):
    """A client of an app created for this test: Flask-Limiter keeps one storage per extension
    instance, bound by the last create_app() (other tests create apps on other Redis servers)."""
    from apps import create_app
    from tests.conftest import CSRFClient

    fresh = create_app(dict(app_config))
    fresh.test_client_class = CSRFClient
    return fresh.test_client()


@pytest.fixture
def app(client):
    return client.application


def _fail_login(client, login="admin"):
    return client.post("/login", data={"login": login, "password": "senha-errada-123"})


def test_failed_logins_are_limited_per_account_with_a_clear_429(client, users):
    for _ in range(5):
        assert _fail_login(client).status_code == 200
    blocked = _fail_login(client)
    assert blocked.status_code == 429
    assert "Muitas tentativas de login" in blocked.get_data(as_text=True)
    actions = [a.action for a in db.session.scalars(select(AuditLog))]
    assert actions.count("login_falhou") == 5 and "login_bloqueado" in actions
    # Even the right password is refused while the account is blocked...
    assert client.post("/login", data={"login": "admin", "password": PASSWORD}).status_code == 429
    # ...but another account from the same address still gets in (per-address limit is higher).
    assert client.post("/login", data={"login": "operador", "password": PASSWORD}).status_code == 302


def test_successful_logins_do_not_count(client, users):
    for _ in range(8):
        assert client.post("/login", data={"login": "admin", "password": PASSWORD}).status_code == 302
        client.post("/logout")


def test_failed_logins_are_limited_per_address(app, client, users):
    app.config["LOGIN_LIMIT_ADDRESS"] = "3 per 15 minutes"
    try:
        for name in ("a1", "a2", "a3"):
            assert _fail_login(client, name).status_code == 200
        assert _fail_login(client, "a4").status_code == 429
    finally:
        app.config["LOGIN_LIMIT_ADDRESS"] = "30 per 15 minutes"


def test_api_token_endpoint_shares_the_account_limit(client, users):
    for _ in range(5):
        assert client.post("/api/v1/auth/token", json={"username": "admin", "password": "x"}).status_code == 401
    response = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
    assert response.status_code == 429 and "Muitas tentativas" in response.get_json()["error"]


def test_security_headers_on_pages(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # development/testing: no HSTS
    assert response.headers["X-Request-ID"]


def test_hsts_and_secure_cookies_in_production(monkeypatch, app_config):
    from apps import create_app

    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    import apps.config as config

    monkeypatch.setattr(config.ProductionConfig, "SECRET_KEY", "x" * 40)
    prod = create_app("production")
    prod.config.update(SQLALCHEMY_DATABASE_URI=app_config["SQLALCHEMY_DATABASE_URI"])
    response = prod.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert prod.config["SESSION_COOKIE_SECURE"] and prod.config["REMEMBER_COOKIE_SECURE"]


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    import pytest

    import apps.config as config
    from apps import create_app

    monkeypatch.setattr(config.ProductionConfig, "SECRET_KEY", None)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")


def test_request_id_is_echoed_when_valid(client):
    response = client.get("/login", headers={"X-Request-ID": "abc12345-req"})
    assert response.headers["X-Request-ID"] == "abc12345-req"
    response = client.get("/login", headers={"X-Request-ID": "<script>"})
    assert response.headers["X-Request-ID"] != "<script>"


def test_json_log_lines_mask_secrets():
    record = logging.LogRecord("x", logging.INFO, __file__, 1,
                               "calling with Authorization: Bearer eyJhbGciOi.secret.value and password=hunter2", (), None)
    line = json.loads(JsonFormatter().format(record))
    assert "eyJhbGciOi" not in line["message"] and "hunter2" not in line["message"]
    assert line["level"] == "INFO" and line["ts"].endswith("Z")
