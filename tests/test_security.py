"""Login defence, security headers, request ids and log redaction."""
import json
import logging
import re

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


# --- stored PDFs: served sandboxed, checked beyond their first bytes ------------------------------

def _pdf_with(dictionary: bytes) -> bytes:
    return b"%PDF-1.4\n1 0 obj\n" + dictionary + b"\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def test_a_stored_pdf_is_served_sandboxed_on_the_page_and_the_api(client, users, login, api_headers):
    from apps.auth.models import Role
    from tests.test_state_machine import make_fatura, make_processo

    fatura = make_fatura(make_processo())
    login(users[Role.VISUALIZADOR])
    page = client.get(f"/faturas/{fatura.id}/pdf")
    api = client.get(f"/api/v1/faturas/{fatura.id}/pdf", headers=api_headers(Role.VISUALIZADOR))
    for response in (page, api):
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_simulators_pdfs_pass_the_check(app):
    from apps.processos import storage
    from simulator.pdf import build_pdf

    with app.app_context():
        storage.check_pdf(build_pdf(["Fatura VIVO 2026-05", "Valor: R$ 1.234,56", "/JS (no texto da página)"]))


@pytest.mark.parametrize("data, message", [
    (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "falta o final %%EOF"),  # cut off mid-download
    (b"<html>%PDF-1.4 %%EOF", "não é um PDF válido"),
    (_pdf_with(b"<< /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"), "/JavaScript"),
    (_pdf_with(b"<< /Type /Catalog /OpenAction << /S /J#61vaScript /J#53 (x) >> >>"), "/JavaScript"),
    (_pdf_with(b"<< /Type /Action /S /Launch /F (cmd.exe) >>"), "/Launch"),
    (_pdf_with(b"<< /Type /Catalog /Names << /EmbeddedFiles 2 0 R >> >>"), "/EmbeddedFiles"),
    (_pdf_with(b"<< /Type /Annot /Subtype /RichMedia >>"), "/RichMedia"),
    (_pdf_with(b"<< /AcroForm << /XFA 5 0 R >> >>"), "/XFA"),
])
def test_check_pdf_refuses_cut_off_fake_and_active_pdfs(app, data, message):
    from apps.processos import storage

    with app.app_context(), pytest.raises(storage.StorageError, match=re.escape(message)):
        storage.check_pdf(data)


def test_check_pdf_reads_past_streams_and_accepts_padding_after_eof(app):
    """Bytes inside a stream are not names (compressed data would match /JS by chance); a PDF may have
    incremental updates and up to 1 KB of padding after its last %%EOF."""
    from apps.processos import storage

    stream = b"\x78\x9c/JS/Launch\x00\xff" * 1000
    data = _pdf_with(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream") + b"\0" * 900
    with app.app_context():
        storage.check_pdf(data)
        storage.check_pdf(data + _pdf_with(b"<< /Type /Catalog >>")[9:])
        with pytest.raises(storage.StorageError, match="%%EOF"):
            storage.check_pdf(data + b" " * 2000)


def test_a_manual_upload_with_a_script_is_refused_and_nothing_is_saved(client, users, login):
    import io
    from pathlib import Path

    from apps.auth.models import Role
    from apps.processos.models import Fatura
    from tests.test_state_machine import make_operadora, make_processo

    processo = make_processo(operadora=make_operadora("SEMROBO", possui_rpa=False))
    login(users[Role.OPERADOR])
    hostile = _pdf_with(b"<< /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>")
    response = client.post(f"/processos/{processo.id}/faturas", content_type="multipart/form-data", data={
        "faturas-0-arquivo": (io.BytesIO(hostile), "nf.pdf", "application/pdf"), "faturas-0-numero": "NF-1",
        "faturas-0-valor": "10,00", "faturas-0-vencimento": "2026-06-10", "faturas-0-emissao": ""})
    assert response.status_code == 422
    assert "nf.pdf: O PDF contém conteúdo ativo (/JavaScript" in response.get_data(as_text=True)
    assert db.session.scalar(select(Fatura.id)) is None
    assert not (Path(client.application.config["FATURAS_DIR"]) / str(processo.id)).exists()
