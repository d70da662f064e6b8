"""Limits of the live streams: open streams per user and per address (shared by every process,
expiring by themselves), the maximum duration and its resume, hostile Last-Event-ID values,
log.txt lines a robot cannot forge, and a real gunicorn that keeps serving pages at the cap."""
import re
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from apps.auth.models import Role
from apps.processos.models import StatusExecucao
from apps.realtime import hub, limits
from tests.conftest import PASSWORD, USING_POSTGRES, make_user
from tests.test_sse_stream import SSEReader, logs, make_execucao, open_stream, store_and_publish, url

pytestmark = pytest.mark.timeout(120)
EVENT_STREAM = {"Accept": "text/event-stream"}


@pytest.fixture(scope="module", autouse=True)
def _stop_hubs():
    """The hubs' threads outlive a test; stop them before the session's Redis goes away."""
    yield
    hub.shutdown_streams()


@pytest.fixture
def viewer(app, client, users, login):
    """A logged-in Visualizador; the process's hub is already subscribed."""
    process_hub = hub.get_hub(app.config["REDIS_URL"])
    process_hub.remove(process_hub.add("aquecimento"))
    assert process_hub.ready.wait(5)
    return login(users[Role.VISUALIZADOR])


# --- open streams per user and per address ---------------------------------------------------------

def test_the_next_stream_beyond_the_users_cap_is_429_json_or_text(app, viewer, monkeypatch):
    monkeypatch.setitem(app.config, "SSE_MAX_STREAMS_PER_USER", 2)
    make_execucao()
    readers = [open_stream(viewer, "job-1"), open_stream(viewer, "job-1")]
    for reader in readers:
        assert reader.next()["event"] == "connection"
    refused = viewer.get(url("job-1"))
    assert refused.status_code == 429 and refused.is_json
    assert refused.get_json()["error"].startswith("Limite de 2 conexões ao vivo abertas por usuário atingido.")
    assert int(refused.headers["Retry-After"]) >= 1
    refused = viewer.get(url("job-1"), headers=EVENT_STREAM)  # what an EventSource sends
    assert refused.status_code == 429 and refused.mimetype == "text/plain"
    assert "Feche outras abas" in refused.get_data(as_text=True)
    # The global channel counts too.
    assert viewer.get("/api/v2/logs-tempo-real/stream-execucoes", headers=EVENT_STREAM).status_code == 429
    readers[0].response.close()  # a viewer left: its place is free at once
    again = open_stream(viewer, "job-1")
    assert again.next()["event"] == "connection"
    again.response.close()
    readers[1].response.close()


def test_the_address_cap_counts_every_user_of_one_address(app, client, users, viewer, monkeypatch):
    monkeypatch.setitem(app.config, "SSE_MAX_STREAMS_PER_ADDRESS", 2)
    make_execucao()
    first = open_stream(viewer, "job-1")
    other = app.test_client()
    other.post("/login", data={"login": "operador", "password": PASSWORD})
    second = open_stream(other, "job-1")
    third = app.test_client()
    third.post("/login", data={"login": "admin", "password": PASSWORD})
    refused = third.get(url("job-1"))
    assert refused.status_code == 429 and "por endereço de rede" in refused.get_json()["error"]
    elsewhere = third.get(url("job-1"), environ_base={"REMOTE_ADDR": "10.9.8.7"}, buffered=False)
    assert elsewhere.status_code == 200
    elsewhere.close()
    for reader in (first, second):
        reader.response.close()


def test_a_stream_that_finishes_gives_its_place_back(app, viewer, monkeypatch):
    monkeypatch.setitem(app.config, "SSE_MAX_STREAMS_PER_USER", 1)
    make_execucao(status=StatusExecucao.CONCLUIDO, lines=2)
    for _ in range(3):
        assert logs(open_stream(viewer, "job-1").rest()) == [1, 2]


def test_a_killed_process_claims_expire_by_themselves(app, redis_url):
    """A process killed mid-stream never releases; its claims stop being refreshed and lapse."""
    dead = [limits.StreamSlot(redis_url, "u1", "1.2.3.4", ttl=0.5) for _ in range(2)]
    for slot in dead:
        slot.acquire(2, 50)
    with pytest.raises(limits.TooManyStreams):
        limits.StreamSlot(redis_url, "u1", "1.2.3.4", ttl=0.5).acquire(2, 50)
    live = limits.StreamSlot(redis_url, "u1", "1.2.3.4", ttl=30)
    time.sleep(0.6)
    live.acquire(2, 50)  # the dead ones were swept
    assert limits.open_count(redis_url, "u1") == 1
    live.release()
    assert limits.open_count(redis_url, "u1") == 0


def test_a_refreshed_claim_stays_and_a_swept_one_does_not_come_back(redis_url):
    slot = limits.StreamSlot(redis_url, "u2", "1.2.3.4", ttl=0.6)
    slot.acquire(1, 50)
    for _ in range(4):
        time.sleep(0.3)
        slot.refresh(force=True)
    with pytest.raises(limits.TooManyStreams):  # still held after 1.2 s > ttl
        limits.StreamSlot(redis_url, "u2", "1.2.3.4", ttl=0.6).acquire(1, 50)
    time.sleep(0.7)
    newcomer = limits.StreamSlot(redis_url, "u2", "1.2.3.4", ttl=30)
    newcomer.acquire(1, 50)
    slot.refresh(force=True)  # a late refresh of the expired claim does not re-add it
    assert limits.open_count(redis_url, "u2") == 1


def test_the_process_refresher_keeps_open_streams_claims_and_lets_the_others_lapse(redis_url, monkeypatch):
    """One refresher per process keeps every claim a stream body holds; claims no body keeps lapse."""
    monkeypatch.setattr(limits.Refresher, "TICK", 0.05)
    kept = [limits.StreamSlot(redis_url, "u4", "5.6.7.8", ttl=1.2) for _ in range(30)]
    left = [limits.StreamSlot(redis_url, "u4", "5.6.7.8", ttl=1.2) for _ in range(5)]
    for slot in kept + left:
        slot.acquire(100, 100)
    for slot in kept:
        slot.keep()
    time.sleep(3.0)  # > 2 ttl
    assert limits.open_count(redis_url, "u4") == 30
    for slot in kept:
        slot.release()
    assert limits.open_count(redis_url, "u4") == 0
    assert all(slot not in limits.refresher()._slots for slot in kept)


def test_a_refresh_round_sends_only_the_due_claims(redis_url):
    refresher = limits.Refresher()
    slots = [limits.StreamSlot(redis_url, "u6", "5.6.7.8", ttl=30) for _ in range(12)]
    for slot in slots:
        slot.acquire(100, 100)
        refresher._slots.add(slot)  # no thread: rounds are driven by hand
    now = time.monotonic()
    assert refresher.refresh_due(now) == 0  # just acquired: none due
    for slot in slots[:5]:
        slot.refreshed_at -= slot.refresh_every
    assert refresher.refresh_due(now) == 5
    assert refresher.refresh_due(now) == 0
    slots[0].release()
    assert limits.open_count(redis_url, "u6") == 11


def test_a_stream_body_keeps_its_claim_while_open_and_gives_it_back_on_close(redis_url, monkeypatch):
    """No frame for longer than the ttl (a quiet run): the claim must still hold, and close frees it."""
    monkeypatch.setattr(limits.Refresher, "TICK", 0.05)
    slot = limits.StreamSlot(redis_url, "u5", "5.6.7.8", ttl=1.2)
    slot.acquire(1, 50)
    body = limits.LimitedBody(iter(["retry: 3000\n\n", ": ping\n\n"]), slot)
    assert next(iter(body)) == b"retry: 3000\n\n"  # bytes: the server gets it as it is (direct passthrough)
    time.sleep(3.0)  # > 2 ttl without a frame
    with pytest.raises(limits.TooManyStreams):
        limits.StreamSlot(redis_url, "u5", "5.6.7.8", ttl=1.2).acquire(1, 50)
    body.close()
    assert limits.open_count(redis_url, "u5") == 0


def test_without_redis_streams_are_let_through():
    slot = limits.StreamSlot("redis://127.0.0.1:1/0", "u3", "1.2.3.4", ttl=30)
    slot.acquire(0, 0)  # would refuse everything if it could count
    slot.refresh(force=True)
    slot.release()


# --- maximum duration ------------------------------------------------------------------------------

def test_a_stream_ends_at_its_maximum_duration_with_a_retry_and_resumes_without_gap(app, viewer, monkeypatch):
    monkeypatch.setitem(app.config, "SSE_MAX_SECONDS", 1.0)
    monkeypatch.setitem(app.config, "SSE_KEEPALIVE_SECONDS", 0.3)
    execucao_id = make_execucao(lines=3)
    started = time.monotonic()
    frames = open_stream(viewer, "job-1").rest()
    assert 0.85 <= time.monotonic() - started < 5
    assert logs(frames) == [1, 2, 3]
    last = frames[-1]
    assert 1000 <= int(last["retry"]) <= 4000 and "tempo máximo" in last["comment"]
    store_and_publish(app, execucao_id, [4, 5], publish=False)  # while the browser was reconnecting
    last_id = [f["id"] for f in frames if "id" in f][-1]  # what EventSource sends when it reconnects
    assert last_id == "3"
    resumed = open_stream(viewer, "job-1", headers={"Last-Event-ID": last_id})
    assert logs(resumed.until(lambda f: f.get("id") == "5")) == [4, 5]
    resumed.response.close()


def test_the_global_stream_ends_at_its_maximum_duration_too(app, viewer, monkeypatch):
    monkeypatch.setitem(app.config, "SSE_MAX_SECONDS", 0.5)
    response = viewer.get("/api/v2/logs-tempo-real/stream-execucoes", buffered=False)
    frames = SSEReader(response).rest()
    assert frames[0]["event"] == "connection" and "retry" in frames[-1]


# --- hostile Last-Event-ID -------------------------------------------------------------------------

@pytest.mark.parametrize("value", [str(10**30), "9" * 19, str(2**31), "abc", "-5", "1e5", "0x10", "٣", "1 2",
                                   "9" * 5000])
@pytest.mark.parametrize("how", ["header", "query"])
def test_a_hostile_last_event_id_is_a_400_with_a_message(app, viewer, value, how):
    make_execucao(lines=2)
    kwargs = {"headers": {"Last-Event-ID": value}} if how == "header" else {"query_string": {"last_event_id": value}}
    response = viewer.get(url("job-1"), **kwargs)
    assert response.status_code == 400, response.get_data(as_text=True)[:200]
    assert "Last-Event-ID inválido" in response.get_json()["error"]


def test_the_largest_accepted_last_event_id_replays_nothing(app, viewer):
    make_execucao(status=StatusExecucao.CONCLUIDO, lines=2)
    frames = open_stream(viewer, "job-1", headers={"Last-Event-ID": str(2**31 - 1)}).rest()
    assert logs(frames) == [] and frames[-1]["event"] == "job_completed"
    assert logs(open_stream(viewer, "job-1", headers={"Last-Event-ID": " 1 "}).rest()) == [2]


# --- log.txt ---------------------------------------------------------------------------------------

HOSTILE = [
    "fim\r\n2026-03-01T12:00:00+00:00 #999 [INFO] Fatura aprovada pelo financeiro",
    "\x1b[2K\x1b[1A\x1b[32mtudo certo\x1b[0m",
    "valor: R$ \u202e00,001\u202c",
    "zero\u200bwidth \u2066isolado\u2069 e \u2028separador \x85nel \x07bel \tTab",
    "Salvando em C:\\Faturas\\vivo.pdf — ação concluída º",
]


def test_log_txt_shows_control_characters_as_escapes(app, viewer):
    from apps.core.types import db
    from apps.processos.models import ExecucaoLog

    execucao_id = make_execucao()
    # Rows as an older version (or any other writer) stored them: the robot's raw text. Today's
    # gravar_logs also replaces control characters when storing; the download must not rely on it.
    db.session.add_all([ExecucaoLog(execucao_id=execucao_id, seq=n + 1, level="INFO", message=message)
                        for n, message in enumerate(HOSTILE)])
    db.session.commit()
    stored = db.session.scalars(db.select(ExecucaoLog.message).where(ExecucaoLog.execucao_id == execucao_id)
                                .order_by(ExecucaoLog.seq)).all()
    text = viewer.get(f"/execucoes/{execucao_id}/log.txt").get_data(as_text=True)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 1 + len(HOSTILE) + 1  # header, one per message, final newline
    body = lines[1:-1]
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d #\d+ \[INFO\] ", line) for line in body)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]", text)
    assert "\t" not in text
    joined = "\n".join(body)
    for escape in ("fim\\r\\n2026", "\\x1b[2K", "\\u202e00,001\\u202c", "\\u200b", "\\u2066", "\\u2028",
                   "\\x85", "\\x07", "\\tTab"):
        assert escape in joined, escape
    assert body[-1].endswith("Salvando em C:\\Faturas\\vivo.pdf — ação concluída º")  # ordinary text untouched
    assert stored == HOSTILE  # the rows keep their text; only the download escapes it


def test_visible_leaves_ordinary_text_alone():
    from apps.realtime.routes import visible

    assert visible("Fatura 2026-03 baixada: R$ 1.234,56 (ação nº 3) — ok ✓ 日本") == \
        "Fatura 2026-03 baixada: R$ 1.234,56 (ação nº 3) — ok ✓ 日本"
    assert visible("\x1b\r\n\u202e\U000e0041") == "\\x1b\\r\\n\\u202e\\U000e0041"
    assert visible(None) == ""


# --- a real gunicorn at the cap --------------------------------------------------------------------

def _login(base_url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base_url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    response = session.post(base_url + "/login", data={"login": username, "password": password,
                                                        "csrf_token": token.group(1)},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:300]
    return session


def _open(session: requests.Session, stream_url: str):
    """One stream on its own connection (as each browser tab's EventSource): (response, first chunk)."""
    other = requests.Session()
    other.cookies.update(session.cookies)
    response = other.get(stream_url, headers=EVENT_STREAM, stream=True, timeout=(5, 30))
    if response.status_code != 200:
        return response, None
    return response, next(response.iter_content(chunk_size=None))


@pytest.fixture(scope="module")
def gunicorn_system(tmp_path_factory):
    """gunicorn (gunicorn-cfg.py, 2 gevent workers), its Redis and database; no worker or simulator."""
    from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER, System

    workdir = tmp_path_factory.mktemp("stream-limits")
    system = System(workdir, "postgresql" if USING_POSTGRES else "sqlite", web_workers=2)
    try:
        from tests.support.servers import postgres_server, redis_server

        redis_url, _proc = system.stack.enter_context(redis_server())
        db_url = system.stack.enter_context(postgres_server()) if USING_POSTGRES else f"sqlite:///{workdir}/d.db"
        system.env = system._env(db_url, redis_url)
        system.env.update({"SSE_KEEPALIVE_SECONDS": "1", "SSE_MAX_STREAMS_PER_USER": "20",
                           "SSE_MAX_STREAMS_PER_ADDRESS": "50"})
        system.flask("db", "upgrade")
        system.flask("users", "create-admin", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD)
        system.start_web()
        yield system
    finally:
        system.stop()


def test_gunicorn_refuses_the_stream_beyond_the_cap_and_pages_keep_answering(gunicorn_system):
    system = gunicorn_system
    app = system.app()
    with app.app_context():
        make_user(Role.VISUALIZADOR, "visual")
        make_execucao(job_id="job-cap")
    base = system.base_url
    session = _login(base, "visual", PASSWORD)
    stream_url = f"{base}{url('job-cap')}"
    opened = []
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: _open(session, stream_url), range(20)))
    for response, first in results:
        assert response.status_code == 200 and b"event: connection" in first
        opened.append(response)
    try:
        beyond = [_open(session, stream_url)[0] for _ in range(5)]
        for response in beyond:  # the 21st (and every later one) is refused, across both workers
            assert response.status_code == 429
            assert "Limite de 20 conexões ao vivo" in response.text and response.headers["Retry-After"]
        json_refusal = session.get(stream_url, timeout=10)
        assert json_refusal.status_code == 429 and json_refusal.json()["error"].startswith("Limite de 20")
        timings = []
        for _ in range(5):
            started = time.monotonic()
            page = session.get(base + "/processos", timeout=10)
            timings.append(time.monotonic() - started)
            assert page.status_code == 200
        assert statistics.median(timings) < 1.0, timings
        print(f"\n20 streams open; 429 beyond; GET /processos median {statistics.median(timings) * 1000:.0f} ms")
    finally:
        for response in opened:
            response.close()
    # The server notices the closed sockets at its next keep-alive (1 s here) and frees the places.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response, _first = _open(session, stream_url)
        response.close()
        if response.status_code == 200:
            break
        time.sleep(0.5)
    assert response.status_code == 200


def test_gunicorn_counts_across_processes_and_expires_a_killed_workers_streams(gunicorn_system):
    """SIGKILL both workers while they hold streams: no release runs, the claims lapse by themselves."""
    system = gunicorn_system
    app = system.app()
    with app.app_context():
        from apps.auth.models import User
        from apps.core.types import db

        user = db.session.scalar(db.select(User).where(User.username == "visual"))
        if user is None:
            user = make_user(Role.VISUALIZADOR, "visual")
            make_execucao(job_id="job-cap")
        user_id = str(user.id)
    session = _login(system.base_url, "visual", PASSWORD)
    stream_url = f"{system.base_url}{url('job-cap')}"
    opened = [_open(session, stream_url)[0] for _ in range(6)]
    assert all(r.status_code == 200 for r in opened)
    redis_url = system.env["REDIS_URL"]
    assert limits.open_count(redis_url, user_id) >= 6
    master = system.procs["web"].pid
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2
    for pid in children:
        subprocess.run(["kill", "-KILL", pid], check=True)  # only the workers of the gunicorn this test started
    for response in opened:
        response.close()
    time.sleep(1)
    assert limits.open_count(redis_url, user_id) >= 6  # nobody released them...
    # TTL here: max(4 x 1 s keep-alive, 4 s) = 4 s.
    deadline = time.monotonic() + 15
    while limits.open_count(redis_url, user_id) and time.monotonic() < deadline:
        time.sleep(1)
    assert limits.open_count(redis_url, user_id) == 0
    system.wait_http(system.base_url + "/login", 30)  # gunicorn replaced its workers
