"""The SSE bodies: one execucao's log (replay, then live) and the global status channel.

Correctness. A viewer registers with its process's hub (apps/realtime/hub.py), which is
subscribed to every execucao channel, BEFORE it reads the database; the worker stores a line
before publishing it. So a line published before the viewer registered is in the database
when the viewer replays, and one published after reaches the viewer's queue: replay
(seq > Last-Event-ID) then live lines, skipping seqs already sent, has no gap and no
duplicate. The status is read first in the replay's session, so a run that ended before the
viewer registered ends its stream at once. A gap in seqs, a full queue, or a reconnect of the
hub (messages lost while it was away) makes the viewer catch up from the database; while
Redis is down, viewers poll it. The RPA API is never called here: the worker is its only
consumer, however many people watch.

Measured with bench/bench_sse.py --viewers 10000 --instances 2 --jobs 10 (two gunicorn servers with
gunicorn-cfg.py's settings, 2 gevent workers each, one Redis, SQLite, nginx from deploy/nginx.conf with
deploy/nginx-main.conf's limits; 4 client processes on the same 2 cores): 10 jobs writing 2 lines/s
each (20,000 deliveries/s), 10,000 viewers connected in 40 s and every one received all its lines in
order, then the end event; publish-to-receive p50 39 ms, p95 127 ms, p99 551 ms; 24.9 KB of worker
RSS per open stream (534.8 -> 778.1 MB over 4 workers); GET /processos signed in, median 14 ms and
p95 74 ms while the lines flowed; 26 us of worker CPU per delivered line (16.1 s, beside 16.2 s for
the clients and 3.9 s for nginx); 4 Redis pub/sub connections in all.
"""
import random
import time

from sqlalchemy import func, select

from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, ExecucaoLog, Processo, StatusExecucao
from apps.realtime.events import ALL_CHANNEL, channel_for, log_line_json, status_payload
from apps.realtime.hub import READY_WAIT, RESYNC, SHUTDOWN, Hub, sse

TERMINAL = {StatusExecucao.CONCLUIDO: "job_completed", StatusExecucao.FALHOU: "job_failed"}
REPLAY_BATCH = 500
DEGRADED_POLL = 2.0     # while Redis is down, viewers read the database this often


def deadline(max_seconds: float) -> float:
    """When a stream opened now must end: SSE_MAX_SECONDS, minus up to 10% so that streams opened
    together (after a deploy) do not all reconnect in the same second."""
    return time.monotonic() + max_seconds * random.uniform(0.9, 1.0)  # noqa: S311 - spreading load, not secrecy


def timeout_frame() -> str:
    """The last frame of a stream that reached its maximum duration: EventSource reconnects after
    `retry` ms (1-4 s, spread) and sends the Last-Event-ID it holds, so nothing is lost or repeated."""
    return f": tempo máximo da conexão; reconecte com Last-Event-ID\nretry: {random.randint(1000, 4000)}\n\n"  # noqa: S311


def _end_frame(execucao_id):
    execucao = db.session.get(Execucao, execucao_id)
    return sse(TERMINAL[execucao.status], status_payload(execucao))


def fetch_lines(app, execucao_id, after: int, limit: int, with_end: bool = False):
    """(stored lines with seq > after as (seq, frame), terminal frame or None) in one short session.

    with_end reads the status BEFORE the lines: a finished run's lines are all stored by then.
    """
    with app.app_context():
        try:
            meta = db.session.execute(
                select(Execucao.job_id, Execucao.status, Operadora.codigo)
                # outer joins: a portal serviço's run may have no processo (its operadora, if any, is its own)
                .outerjoin(Processo, Processo.id == Execucao.processo_id)
                .outerjoin(Cliente, Cliente.id == Processo.cliente_id)
                .outerjoin(Operadora, Operadora.id == func.coalesce(Cliente.operadora_id, Execucao.operadora_id))
                .where(Execucao.id == execucao_id)).first()
            if meta is None:
                return [], None
            end = _end_frame(execucao_id) if with_end and meta.status in TERMINAL else None
            rows = db.session.scalars(select(ExecucaoLog).where(
                ExecucaoLog.execucao_id == execucao_id, ExecucaoLog.seq > after
            ).order_by(ExecucaoLog.seq).limit(limit)).all()
            return [(row.seq, sse("log", log_line_json(row, meta.job_id, meta.codigo), row.seq)) for row in rows], end
        finally:
            db.session.remove()


_tops: dict = {}  # execucao_id -> (ultimo_seq, read at): one query per process when a run ends, not per viewer


def stored_top(app, execucao_id) -> int:
    """The highest stored seq of an execucao, shared for a moment by every viewer of this process."""
    cached = _tops.get(execucao_id)
    if cached is not None and time.monotonic() - cached[1] < 2.0:
        return cached[0]
    with app.app_context():
        try:
            top = db.session.scalar(select(Execucao.ultimo_seq).where(Execucao.id == execucao_id)) or 0
        finally:
            db.session.remove()
    if len(_tops) > 1000:
        _tops.clear()
    _tops[execucao_id] = (top, time.monotonic())
    return top


def _collect(generator) -> tuple[list, object]:
    """Run a catch-up generator to the end: (its frames, its return value)."""
    frames = []
    while True:
        try:
            frames.append(next(generator))
        except StopIteration as stop:
            return frames, stop.value


class ExecucaoStream:
    """The SSE body for one execucao: connection, replay, live lines, terminal event."""

    def __init__(self, app, hub: Hub, execucao_id, hello: dict, last_seq: int, keepalive: float,
                 max_seconds: float):
        self.app, self.hub, self.execucao_id, self.hello = app, hub, execucao_id, hello
        self.sent, self.keepalive, self.max_seconds = last_seq, keepalive, max_seconds

    def catch_up(self, check_end: bool = False):
        """Yield stored lines newer than the last one sent; return the terminal frame if it ended."""
        end, first = None, True
        while True:
            batch, found = fetch_lines(self.app, self.execucao_id, self.sent, REPLAY_BATCH, check_end and first)
            end, first = end or found, False
            for seq, frame in batch:
                self.sent = seq
                yield frame
            if len(batch) < REPLAY_BATCH:
                return end

    def __iter__(self):
        self.stop_at = deadline(self.max_seconds)
        viewer = self.hub.add(channel_for(self.execucao_id))  # subscribed before the replay
        try:
            yield "retry: 3000\n" + sse("connection", self.hello)
            self.hub.ready.wait(READY_WAIT)
            end = yield from self.catch_up(check_end=True)
            if end is not None:  # finished, maybe before we subscribed: nothing more will come
                yield end
                return
            yield from self._live(viewer)
        finally:
            self.hub.remove(viewer)  # GeneratorExit (viewer left) lands here too

    def _live(self, viewer):
        last_write = time.monotonic()
        while time.monotonic() < self.stop_at:
            wait = last_write + self.keepalive - time.monotonic()
            if not self.hub.ready.is_set():
                wait = min(wait, DEGRADED_POLL)
            message = viewer.next(min(wait, self.stop_at - time.monotonic()))
            frames, done = self._handle(viewer, message)
            for extra in viewer.pending() if message is not None and not done else ():
                more, done = self._handle(viewer, extra)  # a burst goes out as one write
                frames += more
                if done:
                    break
            if frames:
                last_write = time.monotonic()
                yield b"".join(f if isinstance(f, bytes) else f.encode() for f in frames)
            if done:
                return
            if time.monotonic() - last_write >= self.keepalive:
                last_write = time.monotonic()
                yield ": ping\n\n"
        yield timeout_frame()

    def _needs_resync(self, viewer, message) -> bool:
        if message is None:
            return not self.hub.ready.is_set()  # Redis is down: poll the database
        if message.kind == RESYNC or viewer.overflowed:
            viewer.overflowed = False
            return True
        return message.kind == "log" and isinstance(message.seq, int) and message.seq > self.sent + 1

    def _handle(self, viewer, message):
        """Frames to send for one queue item (or a timeout), and whether the stream ends."""
        if message is not None and message.kind == SHUTDOWN:
            return [], True
        frames, end = _collect(self.catch_up(check_end=True)) if self._needs_resync(viewer, message) else ([], None)
        if end is not None:
            return [*frames, end], True
        if message is None or message.kind == RESYNC:
            return frames, False
        if message.kind == "log":
            if isinstance(message.seq, int) and message.seq > self.sent:
                self.sent = message.seq
                frames.append(message.frame)
            return frames, False
        if message.kind in TERMINAL.values():
            if stored_top(self.app, self.execucao_id) > self.sent:  # the last line's publish was lost
                frames += _collect(self.catch_up())[0]
            return [*frames, message.frame], True
        return [*frames, message.frame], False


def execucoes_stream(hub: Hub, keepalive: float, max_seconds: float):
    """The SSE body of the global channel: every status change, with keep-alives."""
    viewer = hub.add(ALL_CHANNEL)
    try:
        yield "retry: 3000\n" + sse("connection", {"canal": ALL_CHANNEL})
        stop_at = deadline(max_seconds)
        while time.monotonic() < stop_at:
            message = viewer.next(min(keepalive, stop_at - time.monotonic()))
            if message is None:
                if time.monotonic() >= stop_at:
                    break
                yield ": ping\n\n"
            elif message.kind == SHUTDOWN:
                return
            elif message.kind == RESYNC or viewer.overflowed:
                viewer.overflowed = False
                yield sse("status", {"resync": True})
            else:
                yield message.frame
        yield timeout_frame()
    finally:
        hub.remove(viewer)
