"""The SSE log stream against the real Redis: replay, live relay, resume, auth, end, keep-alive."""
import json
import threading
import time
import uuid

import pytest
import redis

from apps.auth.models import Role
from apps.clientes.models import Cliente
from apps.core.types import db, utcnow
from apps.operadoras.models import Operadora
from apps.processos import execucoes as lifecycle
from apps.processos.models import Execucao, ExecucaoLog, Processo, StatusExecucao
from apps.realtime import events, hub, stream

pytestmark = pytest.mark.timeout(30)


def url(ref) -> str:
    return f"/api/v2/logs-tempo-real/stream/{ref}"


class SSEReader:
    """Reads frames from a streamed (buffered=False) test-client response."""

    def __init__(self, response):
        self.response, self.chunks, self.buf = response, iter(response.response), ""

    def next(self):
        """The next frame as a dict (event, id, data, comment), or None at the end of the stream."""
        while "\n\n" not in self.buf:
            try:
                chunk = next(self.chunks)
            except StopIteration:
                return None
            self.buf += chunk.decode() if isinstance(chunk, bytes) else chunk
        raw, self.buf = self.buf.split("\n\n", 1)
        frame = {}
        for line in raw.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                frame["comment"] = value
            elif field == "data":
                frame["data"] = json.loads(value)
            else:
                frame[field] = value
        return frame

    def until(self, predicate):
        """Frames up to and including the first one matching `predicate`."""
        seen = []
        while True:
            frame = self.next()
            assert frame is not None, f"stream ended before the expected frame; got {seen}"
            seen.append(frame)
            if predicate(frame):
                return seen

    def rest(self):
        frames = []
        while (frame := self.next()) is not None:
            frames.append(frame)
        return frames


def logs(frames):
    return [int(f["id"]) for f in frames if f.get("event") == "log"]


def make_execucao(status=StatusExecucao.EXECUTANDO, lines=0, job_id="job-1", nome="Padaria Aurora"):
    op = db.session.scalar(db.select(Operadora).where(Operadora.codigo == "VIVO"))
    op = op or Operadora(codigo="VIVO", nome="Vivo")
    cliente = Cliente(nome=nome, cnpj=uuid.uuid4().hex[:14].upper(), operadora=op)
    processo = Processo(cliente=cliente, competencia="2026-03")
    execucao = Execucao(processo=processo, tipo="DOWNLOAD", status=status, job_id=job_id, data_inicio=utcnow())
    db.session.add_all([op, cliente, processo, execucao])
    db.session.commit()
    if lines:
        lifecycle.gravar_logs(execucao, [raw_line(n) for n in range(1, lines + 1)])
    return execucao.id


def raw_line(seq, message=None, level="INFO"):
    return {"seq": seq, "level": level, "message": message or f"linha {seq}", "timestamp": "2026-03-01T12:00:00Z",
            "service": "rpa-robots", "logger": "robots.vivo"}


def store_and_publish(app, execucao_id, seqs, publish=True):
    """What the worker does: store the lines, then publish them (optionally not: a lost publish)."""
    with app.app_context():
        execucao = db.session.get(Execucao, execucao_id)
        stored = lifecycle.gravar_logs(execucao, [raw_line(n) for n in seqs])
        if publish:
            events.publish_logs(execucao, stored)
        db.session.remove()


def finish(app, execucao_id, status=StatusExecucao.CONCLUIDO, publish=True):
    with app.app_context():
        execucao = db.session.get(Execucao, execucao_id)
        execucao.status, execucao.data_fim = status, utcnow()
        db.session.commit()
        if publish:
            events.publish_status(execucao)
        db.session.remove()


def in_thread(fn, *args, **kwargs):
    thread = threading.Thread(target=fn, args=args, kwargs=kwargs)
    thread.start()
    thread.join(10)


@pytest.fixture(scope="module", autouse=True)
def _stop_hubs():
    """The hubs' threads outlive a test; stop them before the session's Redis goes away."""
    yield
    hub.shutdown_streams()


@pytest.fixture
def viewer(app, client, users, login):
    """A logged-in Visualizador; the process's hub is already subscribed (no start-up resync)."""
    process_hub = hub.get_hub(app.config["REDIS_URL"])
    process_hub.remove(process_hub.add("aquecimento"))
    assert process_hub.ready.wait(5)
    return login(users[Role.VISUALIZADOR])


def open_stream(client, ref, **kwargs):
    response = client.get(url(ref), buffered=False, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return SSEReader(response)


def test_headers_and_connection_event_first(app, viewer):
    execucao_id = make_execucao()
    reader = open_stream(viewer, "job-1")
    response = reader.response
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    first = reader.next()
    assert first["event"] == "connection" and first["retry"] == "3000"
    assert first["data"] == {"execucao_id": str(execucao_id), "job_id": "job-1", "status": "EXECUTANDO"}
    response.close()


def test_replay_then_live_without_gap_or_duplicate_when_lines_arrive_during_replay(app, viewer, monkeypatch):
    execucao_id = make_execucao(lines=5)
    monkeypatch.setattr(stream, "REPLAY_BATCH", 2)
    original, calls = stream.fetch_lines, []

    def racing_fetch(app_, eid, after, limit, with_end=False):
        batch, end = original(app_, eid, after, limit, with_end)
        calls.append(after)
        if len(calls) == 1:  # already read from the DB: line 6 is stored AND published now
            in_thread(store_and_publish, app, execucao_id, [6])
        elif len(batch) < limit and 7 not in calls:  # the replay's last read: line 7 only reaches pub/sub
            calls.append(7)
            in_thread(store_and_publish, app, execucao_id, [7])
        return batch, end

    monkeypatch.setattr(stream, "fetch_lines", racing_fetch)
    reader = open_stream(viewer, "job-1")
    seen = reader.until(lambda f: f.get("id") == "7")
    store_and_publish(app, execucao_id, [8])
    seen += reader.until(lambda f: f.get("id") == "8")
    finish(app, execucao_id)
    seen += reader.rest()
    assert logs(seen) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [f["event"] for f in seen if f.get("event") != "log"][-2:] == ["status", "job_completed"]


def test_replayed_line_has_the_same_json_as_the_live_one(app, viewer):
    execucao_id = make_execucao(lines=1)
    reader = open_stream(viewer, "job-1")
    replayed = reader.until(lambda f: f.get("id") == "1")[-1]["data"]
    store_and_publish(app, execucao_id, [2])
    live = reader.until(lambda f: f.get("id") == "2")[-1]["data"]
    reader.response.close()
    assert set(replayed) == set(live) == {"type", "seq", "level", "message", "operadora", "job_id", "timestamp",
                                          "service", "logger"}
    assert (replayed["operadora"], replayed["job_id"], replayed["message"]) == ("VIVO", "job-1", "linha 1")
    assert {k: v for k, v in live.items() if k not in ("seq", "message")} == \
        {k: v for k, v in replayed.items() if k not in ("seq", "message")}


@pytest.mark.parametrize("how", ["header", "query"])
def test_resume_after_last_event_id(app, viewer, how):
    make_execucao(status=StatusExecucao.CONCLUIDO, lines=6)
    kwargs = {"headers": {"Last-Event-ID": "4"}} if how == "header" else {"query_string": {"last_event_id": "4"}}
    reader = open_stream(viewer, "job-1", **kwargs)
    assert logs(reader.rest()) == [5, 6]


def test_finished_execucao_replays_then_sends_terminal_event_and_ends(app, viewer):
    make_execucao(status=StatusExecucao.FALHOU, lines=3)
    reader = open_stream(viewer, "job-1")
    frames = reader.rest()
    assert logs(frames) == [1, 2, 3]
    assert frames[-1]["event"] == "job_failed" and frames[-1]["data"]["status"] == "FALHOU"


def test_run_that_ended_before_the_viewer_subscribed_ends_the_stream(app, viewer, monkeypatch):
    """The terminal event was published to nobody: the status read after subscribing ends the stream."""
    execucao_id = make_execucao(lines=2)
    process_hub = hub.get_hub(app.config["REDIS_URL"])
    original_add = process_hub.add

    def add_after_the_end(key):
        in_thread(store_and_publish, app, execucao_id, [3])
        in_thread(finish, app, execucao_id)  # published before this viewer is registered
        return original_add(key)

    monkeypatch.setattr(process_hub, "add", add_after_the_end)
    reader = open_stream(viewer, "job-1")
    assert reader.next()["data"]["status"] == "EXECUTANDO"  # what the page saw when it asked
    frames = reader.rest()
    assert logs(frames) == [1, 2, 3]
    assert frames[-1]["event"] == "job_completed"


def test_status_events_are_relayed_and_a_lost_publish_is_read_from_the_database(app, viewer):
    execucao_id = make_execucao(lines=1)
    reader = open_stream(viewer, "job-1")
    reader.until(lambda f: f.get("id") == "1")
    store_and_publish(app, execucao_id, [2], publish=False)  # the worker's PUBLISH failed
    store_and_publish(app, execucao_id, [3])
    seen = reader.until(lambda f: f.get("id") == "3")
    finish(app, execucao_id, StatusExecucao.FALHOU)
    seen += reader.rest()
    assert logs(seen) == [2, 3]
    status = [f for f in seen if f.get("event") == "status"]
    assert status and status[0]["data"]["status"] == "FALHOU"
    assert seen[-1]["event"] == "job_failed"


def test_last_line_whose_publish_was_lost_is_sent_before_the_end(app, viewer):
    execucao_id = make_execucao(lines=1)
    reader = open_stream(viewer, "job-1")
    reader.until(lambda f: f.get("id") == "1")
    store_and_publish(app, execucao_id, [2], publish=False)
    finish(app, execucao_id)
    frames = reader.rest()
    assert logs(frames) == [2]
    assert frames[-1]["event"] == "job_completed"


def test_keepalive_comment_while_nothing_happens(app, viewer, monkeypatch):
    monkeypatch.setitem(app.config, "SSE_KEEPALIVE_SECONDS", 0.3)
    make_execucao()
    reader = open_stream(viewer, "job-1")
    started = time.monotonic()
    frames = reader.until(lambda f: f.get("comment") == " ping" or f.get("comment") == "ping")
    assert time.monotonic() - started < 3
    assert frames[0]["event"] == "connection"
    reader.response.close()


def test_viewer_leaving_frees_its_place(app, viewer):
    make_execucao()
    process_hub = hub.get_hub(app.config["REDIS_URL"])
    before = process_hub.count()
    reader = open_stream(viewer, "job-1")
    reader.next()
    assert process_hub.count() == before + 1
    reader.response.close()  # the browser went away: GeneratorExit in the stream
    assert process_hub.count() == before


def test_pendente_execucao_is_followed_by_its_execucao_id(app, viewer):
    execucao_id = make_execucao(status=StatusExecucao.PENDENTE, job_id=None)
    reader = open_stream(viewer, str(execucao_id))
    assert reader.next()["data"]["status"] == "PENDENTE"
    store_and_publish(app, execucao_id, [1])
    assert logs(reader.until(lambda f: f.get("event") == "log")) == [1]
    reader.response.close()


def test_hub_reconnect_catches_up_from_the_database(app, viewer, redis_url):
    execucao_id = make_execucao(lines=1)
    reader = open_stream(viewer, "job-1")
    reader.until(lambda f: f.get("id") == "1")
    process_hub = hub.get_hub(app.config["REDIS_URL"])
    redis.Redis.from_url(redis_url).client_kill_filter(_type="pubsub")
    store_and_publish(app, execucao_id, [2])  # likely published while the hub is away
    seen = reader.until(lambda f: f.get("id") == "2")
    assert logs(seen) == [2]
    deadline = time.monotonic() + 5
    while not process_hub.ready.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    store_and_publish(app, execucao_id, [3])
    assert logs(reader.until(lambda f: f.get("id") == "3")) == [3]
    reader.response.close()


def test_requires_login(client):
    make_execucao()
    response = client.get(url("job-1"))
    assert response.status_code == 401
    assert response.mimetype == "application/json" and "error" in response.get_json()


def test_invalid_bearer_is_refused(client):
    make_execucao()
    response = client.get(url("job-1"), headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.mimetype == "application/json"


def test_bearer_jwt_works(app, client, api_headers):
    make_execucao(status=StatusExecucao.CONCLUIDO, lines=2)
    headers = api_headers(Role.VISUALIZADOR)
    reader = open_stream(client, "job-1", headers=headers)
    assert logs(reader.rest()) == [1, 2]


def test_unknown_job_is_404_json(viewer):
    for ref in ("nao-existe", str(uuid.uuid4())):
        response = viewer.get(url(ref))
        assert response.status_code == 404
        assert response.get_json() == {"error": "Execução não encontrada."}


def test_global_stream_relays_status_changes(app, viewer):
    execucao_id = make_execucao()
    response = viewer.get("/api/v2/logs-tempo-real/stream-execucoes", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    reader = SSEReader(response)
    assert reader.next()["event"] == "connection"
    finish(app, execucao_id)
    frame = reader.until(lambda f: f.get("event") == "status" and not f["data"].get("resync"))[-1]
    assert frame["data"]["execucao_id"] == str(execucao_id) and frame["data"]["status"] == "CONCLUIDO"
    reader.response.close()


def test_global_stream_requires_login(client):
    assert client.get("/api/v2/logs-tempo-real/stream-execucoes").status_code == 401


def test_log_download_is_a_text_attachment(app, viewer):
    execucao_id = make_execucao(lines=3)
    with app.app_context():
        lifecycle.gravar_logs(db.session.get(Execucao, execucao_id), [raw_line(4, "<script>x</script>", "ERROR")])
    response = viewer.get(f"/execucoes/{execucao_id}/log.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"] == f'attachment; filename="execucao-{execucao_id}.log.txt"'
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == 5 and lines[0].startswith(f"# Execução {execucao_id}")
    assert lines[-1].endswith("#4 [ERROR] <script>x</script>")


def test_log_download_anonymous_is_sent_to_login(client):
    response = client.get(f"/execucoes/{uuid.uuid4()}/log.txt")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_log_download_unknown_is_404(viewer):
    assert viewer.get(f"/execucoes/{uuid.uuid4()}/log.txt").status_code == 404
    assert viewer.get("/execucoes/nao-e-uuid/log.txt").status_code == 404


def test_stored_lines_count(app):
    """The fixture helper stores what it says (guards the other tests' assumptions)."""
    execucao_id = make_execucao(lines=4)
    assert db.session.scalar(db.select(db.func.count()).select_from(ExecucaoLog)
                             .where(ExecucaoLog.execucao_id == execucao_id)) == 4


def test_em_execucao_fragment_lists_only_active_runs(app, viewer):
    active = make_execucao(nome="Cliente Ativo")
    finished = make_execucao(status=StatusExecucao.CONCLUIDO, job_id="job-2", nome="Cliente Pronto")
    response = viewer.get("/em-execucao/fragmento")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="em-execucao-table"' in html and "<html" not in html
    assert f'data-execucao-id="{active}"' in html and f'data-execucao-id="{finished}"' not in html


def test_detail_page_includes_the_live_panel_without_inline_script(app, viewer):
    make_execucao()
    processo_id = db.session.scalar(db.select(Processo.id))
    html = viewer.get(f"/processos/{processo_id}").get_data(as_text=True)
    panel = html[html.index('<section id="live-panel"'):]
    panel = panel[:panel.index("</section>")]
    assert 'data-ativa-job="job-1"' in panel
    assert 'data-stream-url="/api/v2/logs-tempo-real/stream/__ref__"' in panel
    assert f'data-fragment-url="/processos/{processo_id}/fragmento"' in panel
    assert '<script src="/static/js/live_logs.js"></script>' in html
    assert "<script>" not in html


def test_a_viewers_mailbox_keeps_order_wakes_across_threads_and_flags_overflow(monkeypatch):
    mailbox = hub.Viewer("execucao:x")
    assert mailbox.next(0.05) is None  # nothing: the wait times out
    for item in ("a", "b", "c"):
        mailbox.offer(item)
    assert mailbox.next(1) == "a"
    assert mailbox.pending() == ["b", "c"]
    assert mailbox.pending() == []
    threading.Timer(0.1, mailbox.offer, args=("late",)).start()
    started = time.monotonic()
    assert mailbox.next(5) == "late"  # woken by the other thread, not by the timeout
    assert time.monotonic() - started < 2
    monkeypatch.setattr(hub, "QUEUE_SIZE", 2)
    for item in range(3):
        mailbox.offer(item)
    assert mailbox.overflowed
    assert [mailbox.next(1), mailbox.next(1), mailbox.next(0.01)] == [0, 1, None]


def test_a_viewers_mailbox_under_gevent_uses_gevents_event():
    """Under gunicorn's gevent workers the mailbox must not build threading locks per stream."""
    import subprocess
    import sys

    code = ("from gevent import monkey; monkey.patch_all()\n"
            "import gevent, gevent.event\nfrom apps.realtime import hub\n"
            "box = hub.Viewer('k')\nassert isinstance(box._ready, gevent.event.Event), type(box._ready)\n"
            "gevent.spawn_later(0.05, box.offer, 'x')\nassert box.next(2) == 'x'\nprint('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
