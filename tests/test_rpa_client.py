"""The RPA API client: retries, idempotency, 401 handling, secrets, SSRF (simulator + a fake session)."""
import io
import logging
import socket
import time

import pytest
import requests
from sqlalchemy import select

from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.rpa import connect
from apps.rpa.client import (
    AUTH_MESSAGE,
    RpaAuthError,
    RpaClient,
    RpaConfigError,
    RpaError,
    RpaRejected,
    RpaUnavailable,
    retry_after_seconds,
)

SIM_PASSWORD = "senha-do-simulador"
CLIENTE = {"id": "cli-1", "nome": "ACME Ltda", "cnpj": "12ABC34501DE35", "codigo": None}


@pytest.fixture(scope="module")
def sim_knobs():
    return {"password": SIM_PASSWORD, "job_duration": 0, "queue_wait": 0, "log_lines": 2, "hang_seconds": 2}


class StaticToken:
    """A token provider that cannot refresh."""

    def __init__(self, token):
        self.token = token

    def get(self):
        return self.token

    def refresh(self, rejected):
        return None


def make_client(url, token=None, sleeps=None, **overrides):
    settings = {"connect_timeout": 1, "read_timeout": 1, "max_retries": 3, "backoff_base": 0.01, "backoff_cap": 5,
                    "token_provider": StaticToken(token), "sleep": (sleeps.append if sleeps is not None else lambda s: None)}
    settings.update(overrides)
    return RpaClient(url, **settings)


def start(client, key="proc-1:2026-03:download", **body):
    args = {"processo_id": "proc-1", "cliente": CLIENTE, "competencia": "2026-03", "idempotency_key": key}
    args.update(body)
    return client.start_download("vivo", **args)


def requests_to(sim, key):
    return sim.stats()["requests"].get(key, 0)


# -- against the simulator ---------------------------------------------------------------------
def test_503_then_429_then_success_starts_one_robot_run(sim):
    sim.fault("503", 1)
    sim.fault("429", 1, retry_after=2)
    sleeps = []
    client = make_client(sim.url, sim.issue_token(), sleeps)
    job = start(client)
    assert job["status"] in {"PENDING", "RUNNING", "COMPLETED"}
    assert len(sleeps) == 2 and sleeps[1] == 2  # Retry-After honoured
    assert 0 < sleeps[0] <= 0.01  # first backoff: base * 2**0 with jitter
    stats = sim.stats()
    assert stats["requests"]["POST /executar/{operadora}"] == 3
    assert stats["jobs_created"]["download"] == 1
    assert start(client)["job_id"] == job["job_id"]  # same key again: the same job
    assert sim.stats()["jobs_created"]["download"] == 1


def test_retry_after_a_timeout_reuses_the_key_and_starts_no_second_run(sim):
    """The first request reaches the robots but its answer comes too late: the retry replays it."""
    sim.set_config(latency=0.6)
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        sim.set_config(latency=0)

    client = make_client(sim.url, sim.issue_token(), read_timeout=0.3, sleep=sleep)
    job = start(client, key="proc-9:2026-03:download")
    deadline = time.monotonic() + 3
    while sim.stats()["idempotent_replays"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = sim.stats()
    assert len(sleeps) == 1
    assert stats["jobs_created"]["download"] == 1 and stats["idempotent_replays"] == 1
    assert client.get_job(job["job_id"])["job_id"] == job["job_id"]


@pytest.mark.parametrize("call, status", [
    (lambda c: c.get_job("nao-existe"), 404),
    (lambda c: c.start_download("NAOEXISTE", processo_id="p", cliente=CLIENTE, competencia="2026-03",
                                idempotency_key="k1"), 404),
    (lambda c: start(c, competencia="2026-13"), 422),
])
def test_other_4xx_is_not_retried(sim, call, status):
    sleeps = []
    client = make_client(sim.url, sim.issue_token(), sleeps)
    with pytest.raises(RpaRejected) as caught:
        call(client)
    assert caught.value.status == status and not caught.value.retryable
    assert caught.value.detail and caught.value.detail in str(caught.value)
    assert sleeps == []
    assert sum(sim.stats()["requests"].values()) == 1


def test_hang_counts_as_5xx_then_gives_up(sim):
    sim.fault("hang", 3)
    sleeps = []
    client = make_client(sim.url, sim.issue_token(), sleeps, read_timeout=0.3, max_retries=2)
    with pytest.raises(RpaUnavailable) as caught:
        client.get_job("qualquer")
    assert caught.value.retryable
    assert "tempo limite" in str(caught.value) and "3 tentativa" in str(caught.value)
    assert len(sleeps) == 2
    assert requests_to(sim, "GET /jobs/{job_id}") == 3


def test_hang_once_then_answer(sim):
    client = make_client(sim.url, sim.issue_token(), read_timeout=0.3)
    job = start(client)
    sim.fault("hang", 1)
    assert client.get_job(job["job_id"])["job_id"] == job["job_id"]


def test_5xx_until_the_end_gives_up_with_unavailable(sim):
    sim.fault("503", 10)
    client = make_client(sim.url, sim.issue_token(), max_retries=1)
    with pytest.raises(RpaUnavailable) as caught:
        client.get_job("x")
    assert caught.value.status == 503


def test_logs_and_fatura_download(sim):
    client = make_client(sim.url, sim.issue_token())
    job = start(client)
    deadline = time.monotonic() + 5
    while client.get_job(job["job_id"])["status"] != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.02)
    done = client.get_job(job["job_id"])
    logs = client.get_logs(job["job_id"])
    assert logs["logs"] and logs["next"] == logs["logs"][-1]["seq"]
    assert client.get_logs(job["job_id"], after=logs["next"])["logs"] == []
    arquivo = done["result"]["faturas"][0]["arquivo"]
    pdf = client.download_fatura(job["job_id"], arquivo, max_bytes=1_000_000)
    assert pdf.startswith(b"%PDF")
    with pytest.raises(RpaError, match="maior que o limite"):
        client.download_fatura(job["job_id"], arquivo, max_bytes=10)


def test_401_with_password_refreshes_once_and_succeeds(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim.url)
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", SIM_PASSWORD)
    admin = users[Role.ADMIN]
    admin.api_externa_token = sim.issue_token(ttl_seconds=-60)  # expired: the API answers 401
    db.session.commit()
    client = connect.default_client(sleep=lambda s: None)
    job = start(client)
    assert job["job_id"]
    assert sim.stats()["refreshes"] == 1
    db.session.refresh(admin)
    assert admin.api_externa_token and sim.state.token_ok(admin.api_externa_token)
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "token_global_renovado"))
    assert entry is not None and admin.api_externa_token not in (entry.detail or "")


def test_401_twice_after_refresh_gives_auth_error(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim.url)
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", SIM_PASSWORD)
    sim.fault("401", 1, path="/jobs")
    sim.fault("401", 1, path="/jobs")
    client = connect.default_client(sleep=lambda s: None)
    with pytest.raises(RpaAuthError):
        client.get_job("x")
    assert sim.stats()["refreshes"] == 1


def test_401_without_password_raises_the_admin_message(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim.url)
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "")
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "token-que-a-api-recusa")
    with pytest.raises(RpaAuthError) as caught:
        connect.default_client(sleep=lambda s: None).get_job("x")
    assert str(caught.value) == AUTH_MESSAGE
    assert sim.stats()["refreshes"] == 0


def enable_logs(monkeypatch, caplog):
    """Capture everything; alembic's fileConfig (run by the app fixture) disabled older loggers."""
    for name in ("apps", "apps.rpa.client", "apps.rpa.token", "urllib3.connectionpool", "werkzeug"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    caplog.set_level(logging.DEBUG)


def test_token_is_never_logged_nor_in_errors(app, sim, users, monkeypatch, caplog):
    enable_logs(monkeypatch, caplog)
    secret = sim.issue_token(ttl_seconds=-60)
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim.url)
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "senha-errada")
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", secret)
    client = connect.default_client(sleep=lambda s: None)
    errors = []
    for call in (lambda: client.get_job("x"), lambda: make_client(sim.url, secret).get_job("y")):
        with pytest.raises(RpaError) as caught:
            call()
        errors.append(caught.value)
    assert "GET /jobs/{job_id} -> 401" in caplog.text  # the calls were logged...
    assert secret not in caplog.text  # ...without the token
    for exc in errors:
        assert secret not in str(exc) and secret not in repr(exc.args)
    assert SIM_PASSWORD not in caplog.text and "senha-errada" not in caplog.text


# -- SSRF guard of outsourced robots ---------------------------------------------------------
def _terceirizada(url):
    return Operadora(codigo="TERC", nome="Terceirizada", rpa_terceirizado=True, url_endpoint_rpa=url)


def test_outsourced_private_url_is_refused_by_default(app, sim, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", False)
    client = connect.client_for(_terceirizada(sim.url), token_provider=StaticToken("t"))
    with pytest.raises(RpaConfigError) as caught:
        client.health()
    assert "TERC" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert sum(sim.stats()["requests"].values()) == 0


def test_outsourced_private_url_allowed_by_config(app, sim, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", True)
    client = connect.client_for(_terceirizada(sim.url + "/"), token_provider=StaticToken(sim.issue_token()))
    assert client.health()["status"] == "ok"
    assert start(client)["job_id"]


def test_outsourced_401_does_not_rotate_the_global_token(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", True)
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", SIM_PASSWORD)
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "token-que-o-terceiro-recusa")
    with pytest.raises(RpaAuthError):
        connect.client_for(_terceirizada(sim.url), sleep=lambda s: None).get_job("x")
    assert sim.stats()["refreshes"] == 0


def test_own_robots_use_the_trusted_default_url(app, sim, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", False)
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim.url)
    operadora = Operadora(codigo="VIVO", nome="Vivo", rpa_terceirizado=False, url_endpoint_rpa="http://10.0.0.1")
    assert connect.client_for(operadora, token_provider=None).health()["status"] == "ok"


def test_outsourced_without_url_is_a_config_error(app):
    with pytest.raises(RpaConfigError, match="não tem URL"):
        connect.client_for(_terceirizada(""))


# -- against a scripted session (what a simulator cannot easily show) ------------------------
def response(status, body=b"", headers=None):
    resp = requests.Response()
    resp.status_code = status
    resp.raw = io.BytesIO(body)
    resp.headers.update(headers or {})
    return resp


class FakeSession:
    """Answers each request with the next scripted Response (or raises the next exception)."""

    def __init__(self, *script):
        self.script, self.calls = list(script), []

    def request(self, method, url, **kwargs):
        self.calls.append({"method": method, "url": url, **kwargs})
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self):
        pass


def fake_client(*script, sleeps=None, **overrides):
    session = FakeSession(*script)
    return make_client("http://rpa.example/api/", "segredo-abc", sleeps, session=session, **overrides), session


def test_path_segments_are_quoted_and_calls_are_safe():
    client, session = fake_client(response(200, b'{"job_id": "a/b", "status": "RUNNING", "extra": 1}'))
    assert client.get_job("../a/b c?x#y%")["extra"] == 1
    call = session.calls[0]
    assert call["url"] == "http://rpa.example/api/jobs/..%2Fa%2Fb%20c%3Fx%23y%25"
    assert call["allow_redirects"] is False and call["timeout"] == (1.0, 1.0)
    assert call["headers"]["Authorization"] == "Bearer segredo-abc"


def test_every_retry_of_a_post_carries_the_same_idempotency_key():
    client, session = fake_client(requests.ReadTimeout("late"), response(502), response(202, b'{"job_id": 123, "status": "PENDING"}'))
    job = start(client, key="chave-1")
    assert job["job_id"] == "123"  # any id format, as text
    assert [c["headers"]["Idempotency-Key"] for c in session.calls] == ["chave-1"] * 3


def test_a_post_without_idempotency_key_is_refused_before_sending():
    client, session = fake_client()
    with pytest.raises(ValueError):
        start(client, key="")
    assert session.calls == []


def test_redirect_is_not_followed():
    client, session = fake_client(response(302, headers={"Location": "http://169.254.169.254/"}))
    with pytest.raises(RpaError) as caught:
        client.health()
    assert caught.value.status == 302 and not caught.value.retryable
    assert len(session.calls) == 1


def test_retry_after_is_capped_and_parsed():
    sleeps = []
    client, _ = fake_client(response(429, headers={"Retry-After": "3600"}), response(200, b"{}"), sleeps=sleeps, backoff_cap=5)
    client.health()  # any call: an empty object is a valid /health answer
    assert sleeps == [5]
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert retry_after_seconds("nan") is None and retry_after_seconds("abc") is None and retry_after_seconds("2") == 2


def test_backoff_is_exponential_capped_and_jittered():
    sleeps = []
    client, _ = fake_client(*[response(500)] * 6, sleeps=sleeps, max_retries=5, backoff_base=1, backoff_cap=4)
    with pytest.raises(RpaUnavailable):
        client.get_job("x")
    ceilings = [1, 2, 4, 4, 4]
    assert len(sleeps) == 5
    assert all(c / 2 <= s <= c for s, c in zip(sleeps, ceilings))


def test_echoed_token_is_scrubbed_from_the_error():
    client, _ = fake_client(response(422, b'{"detail": "token segredo-abc malformado"}'))
    with pytest.raises(RpaRejected) as caught:
        client.get_job("x")
    assert "segredo-abc" not in str(caught.value) and "[token]" in caught.value.detail


def test_declared_oversized_file_is_refused_without_reading():
    client, _ = fake_client(response(200, b"%PDF-1.4", headers={"Content-Length": "999999999"}))
    with pytest.raises(RpaError, match="maior que o limite"):
        client.download_fatura("job", "f.pdf", max_bytes=1000)


def test_non_json_answer_is_a_clear_error():
    client, _ = fake_client(response(200, b"<html>proxy</html>"))
    with pytest.raises(RpaError, match="não é JSON"):
        client.get_job("x")


def test_one_connection_serves_job_after_job_and_a_closed_one_is_replaced(monkeypatch):
    """Each job builds its own client; the thread's session keeps the connection to a keep-alive server open
    between them, keeps no cookie a server set, and opens a new connection when the old one was closed."""
    from apps.rpa import client as rpa_client
    from tests.support.hostile import HostileServer, Script

    class WithCookie(Script):
        def job(self, h):
            h.json(200, {"job_id": "x", "status": "RUNNING"}, headers={"Set-Cookie": "sessao=abc; Path=/"})

    opened = []
    connect = rpa_client._HTTPConnection.connect

    def counted(conn):
        opened.append(conn)
        return connect(conn)

    monkeypatch.setattr(rpa_client._HTTPConnection, "connect", counted)
    server = HostileServer()
    server.script = WithCookie()
    try:
        for _ in range(3):  # three jobs, three clients
            with make_client(server.url, "segredo") as client:
                assert client.get_job("x")["status"] == "RUNNING"
        assert len(opened) == 1 and not rpa_client.shared_session().cookies
        opened[0].sock.shutdown(socket.SHUT_RDWR)  # the server (or the deadline) closed it meanwhile
        with make_client(server.url, "segredo") as client:
            assert client.get_job("x")["status"] == "RUNNING"
        assert len(opened) == 2
    finally:
        server.close()
