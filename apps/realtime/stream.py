"""Server-Sent Events for live robot logs: one Redis subscriber per process, fanned out to viewers.

Why a hub. A pub/sub connection per open stream costs a Redis client (about 20 KB in Redis,
a socket and a file descriptor here) per viewer and makes Redis copy every line once per
viewer. Instead each worker process keeps ONE pub/sub connection (`Hub`), subscribed once to
the pattern `execucao:*` and to `execucoes`, and copies each message into small per-viewer
queues (`queue.Queue`, which gevent's monkey patching makes cooperative; real threads under
the werkzeug dev server). So Redis cost grows with jobs and worker processes, never with
viewers, and the SSE frame of a message is built once per process, not once per viewer.
Every process does receive every job's lines, watched or not: a few lines a second per
running job, negligible next to one socket per viewer. Measured with bench/bench_sse.py
(gunicorn-cfg.py settings, 2 gevent workers, 2 cores): 1,000 viewers of one job each got
every line, publish-to-receive p50 ≈ 64 ms / p95 ≈ 124 ms, ≈ 54 KB of RSS per open stream, 2
Redis pub/sub connections in all, and the RPA API got the same number of requests with 1,000
viewers as with 1 (ratio 1.0): only the worker talks to it.

Correctness. Being subscribed from the start means that any line published after a viewer
registered reaches its queue; the worker stores a line BEFORE publishing it, so a line
published before the viewer registered is already in the database when the viewer replays
it. Replay (seq > Last-Event-ID), then live lines skipping seqs already sent: no gap, no
duplicate. A gap in seqs, a full queue, or a reconnect of the hub (messages lost while it was
away) makes the viewer catch up from the database; while Redis is down, viewers poll it.
"""
import json
import logging
import os
import queue
import threading
import time

import redis
from sqlalchemy import select

from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, ExecucaoLog, Processo, StatusExecucao
from apps.realtime.events import ALL_CHANNEL, channel_for, status_payload

log = logging.getLogger(__name__)
TERMINAL = {StatusExecucao.CONCLUIDO: "job_completed", StatusExecucao.FALHOU: "job_failed"}
RESYNC, SHUTDOWN = "_resync", "_shutdown"  # control messages the hub sends to viewers
REPLAY_BATCH = 500
READY_WAIT = 3.0        # seconds a new viewer waits for the hub's subscription
DEGRADED_POLL = 2.0     # while Redis is down, viewers read the database this often
QUEUE_SIZE = 5000       # per viewer; a viewer this far behind catches up from the database


def sse(event: str, data, event_id=None) -> str:
    """One SSE frame; JSON never holds a raw newline, so `data:` is a single line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class Message:
    """A pub/sub message parsed once per process: kind, seq (log lines), data and its frame."""

    __slots__ = ("data", "frame", "kind", "seq")

    def __init__(self, kind, data=None, seq=None):
        self.kind, self.data, self.seq = kind, data, seq
        self.frame = sse(kind, data, seq).encode() if data is not None else b""


class Viewer:
    """One open stream's mailbox."""

    def __init__(self, key: str):
        self.key, self.overflowed = key, False
        self.queue = queue.Queue(maxsize=QUEUE_SIZE)

    def offer(self, message) -> None:
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.overflowed = True  # dropped: the viewer reads the database instead

    def next(self, timeout: float):
        try:
            return self.queue.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            return None

    def pending(self) -> list:
        """Whatever else is already queued (a burst is sent as one write)."""
        items = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                return items


class Hub:
    """The process's single pub/sub connection and the viewers it feeds."""

    def __init__(self, url: str):
        self.url, self.pid = url, os.getpid()
        self.ready, self.closing = threading.Event(), False
        self._viewers: dict[str, set] = {}
        self._lock = threading.Lock()
        self._thread = None

    def add(self, key: str) -> Viewer:
        viewer = Viewer(key)
        with self._lock:
            self._viewers.setdefault(key, set()).add(viewer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sse-hub", daemon=True)
                self._thread.start()
        return viewer

    def remove(self, viewer: Viewer) -> None:
        with self._lock:
            group = self._viewers.get(viewer.key)
            if group is not None:
                group.discard(viewer)
                if not group:
                    del self._viewers[viewer.key]

    def count(self) -> int:
        with self._lock:
            return sum(len(group) for group in self._viewers.values())

    def broadcast(self, kind: str) -> None:
        with self._lock:
            targets = [v for group in self._viewers.values() for v in group]
        for viewer in targets:
            viewer.offer(Message(kind))

    def shutdown(self) -> None:
        """End every stream (the browsers reconnect elsewhere with Last-Event-ID)."""
        self.closing = True
        self.broadcast(SHUTDOWN)

    def _run(self) -> None:
        delay = 0.5
        while not self.closing:
            pubsub = None
            try:
                pubsub = self._subscribe()
                delay = 0.5
                self._listen(pubsub)
            except redis.RedisError as exc:
                log.warning("SSE hub lost Redis (%s); retrying in %.1fs", exc.__class__.__name__, delay)
            finally:
                self.ready.clear()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # closing a broken connection may fail too
                        log.debug("SSE hub: closing the old pub/sub connection failed", exc_info=True)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _subscribe(self):
        client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_keepalive=True,
                                      health_check_interval=15, client_name=f"sse-hub-{os.getpid()}")
        pubsub = client.pubsub()
        pubsub.psubscribe(channel_for("*"))
        pubsub.subscribe(ALL_CHANNEL)
        acks = 0
        while acks < 2:
            message = pubsub.get_message(timeout=READY_WAIT)
            if message is None:
                raise redis.TimeoutError("no subscribe confirmation")
            acks += message["type"] in ("subscribe", "psubscribe")
            if message["type"] in ("message", "pmessage"):
                self._dispatch(message["channel"], message["data"])
        self.ready.set()
        self.broadcast(RESYNC)  # anything published while we were away is only in the database
        return pubsub

    def _listen(self, pubsub) -> None:
        while not self.closing:
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            if message["type"] in ("subscribe", "psubscribe"):
                self.broadcast(RESYNC)  # redis-py reconnected and resubscribed by itself
            elif message["type"] in ("message", "pmessage"):
                self._dispatch(message["channel"], message["data"])

    def _dispatch(self, channel, raw) -> None:
        key = channel.decode() if isinstance(channel, bytes) else channel
        with self._lock:
            targets = list(self._viewers.get(key, ()))
        if not targets:
            return
        try:
            body = json.loads(raw)
            kind, data = body["event"], body["data"]
            message = Message(kind, data, data.get("seq") if kind == "log" else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("SSE hub ignored a malformed message on %s", key)
            return
        for viewer in targets:
            viewer.offer(message)


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def get_hub(url: str) -> Hub:
    """This process's hub for `url` (a forked worker builds its own)."""
    with _hubs_lock:
        hub = _hubs.get(url)
        if hub is None or hub.pid != os.getpid() or hub.closing:
            hub = _hubs[url] = Hub(url)
        return hub


def shutdown_streams() -> None:
    """Called when the worker stops: end open streams now instead of at graceful_timeout."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        hub.shutdown()


def _line(row, job_id, operadora) -> dict:
    """The seed's log JSON (the same shape events.log_payload publishes)."""
    return {"type": "log", "seq": row.seq, "level": row.level, "message": row.message, "operadora": operadora,
            "job_id": job_id, "timestamp": row.timestamp.isoformat(), "service": row.service,
            "logger": row.logger}


def fetch_lines(app, execucao_id, after: int, limit: int = REPLAY_BATCH) -> list:
    """Stored lines with seq > after, as (seq, frame), in a short-lived session."""
    with app.app_context():
        try:
            meta = db.session.execute(
                select(Execucao.job_id, Operadora.codigo).join(Processo, Processo.id == Execucao.processo_id)
                .join(Cliente, Cliente.id == Processo.cliente_id)
                .join(Operadora, Operadora.id == Cliente.operadora_id).where(Execucao.id == execucao_id)).first()
            if meta is None:
                return []
            rows = db.session.scalars(select(ExecucaoLog).where(
                ExecucaoLog.execucao_id == execucao_id, ExecucaoLog.seq > after
            ).order_by(ExecucaoLog.seq).limit(limit)).all()
            return [(row.seq, sse("log", _line(row, meta.job_id, meta.codigo), row.seq)) for row in rows]
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


def terminal_frame(app, execucao_id):
    """The job_completed/job_failed frame if the execucao has finished, else None."""
    with app.app_context():
        try:
            execucao = db.session.get(Execucao, execucao_id)
            if execucao is None or execucao.status not in TERMINAL:
                return None
            return sse(TERMINAL[execucao.status], status_payload(execucao))
        finally:
            db.session.remove()


class ExecucaoStream:
    """The SSE body for one execucao: connection, replay, live lines, terminal event."""

    def __init__(self, app, hub: Hub, execucao_id, hello: dict, last_seq: int, keepalive: float,
                 max_seconds: float):
        self.app, self.hub, self.execucao_id, self.hello = app, hub, execucao_id, hello
        self.sent, self.keepalive, self.max_seconds = last_seq, keepalive, max_seconds

    def catch_up(self):
        """Yield stored lines newer than the last one sent."""
        while True:
            batch = fetch_lines(self.app, self.execucao_id, self.sent, REPLAY_BATCH)
            for seq, frame in batch:
                self.sent = seq
                yield frame
            if len(batch) < REPLAY_BATCH:
                return

    def __iter__(self):
        viewer = self.hub.add(channel_for(self.execucao_id))  # subscribed before the replay
        try:
            yield "retry: 3000\n" + sse("connection", self.hello)
            self.hub.ready.wait(READY_WAIT)
            yield from self.catch_up()
            end = terminal_frame(self.app, self.execucao_id)  # finished before we subscribed?
            if end is not None:
                yield from self.catch_up()
                yield end
                return
            yield from self._live(viewer)
        finally:
            self.hub.remove(viewer)  # GeneratorExit (viewer left) lands here too

    def _live(self, viewer):
        stop_at = time.monotonic() + self.max_seconds
        last_write = time.monotonic()
        while time.monotonic() < stop_at:
            wait = last_write + self.keepalive - time.monotonic()
            if not self.hub.ready.is_set():
                wait = min(wait, DEGRADED_POLL)
            message = viewer.next(wait)
            frames, done = self._handle(viewer, message)
            for extra in viewer.pending() if message is not None and not done else ():
                more, done = self._handle(viewer, extra)
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

    def _handle(self, viewer, message):
        """Frames to send for one queue item (or a timeout), and whether the stream ends."""
        if message is not None and message.kind == SHUTDOWN:
            return [], True
        resync = message is None and not self.hub.ready.is_set()
        if (message is not None and message.kind == RESYNC) or viewer.overflowed:
            viewer.overflowed, resync = False, True
        if message is not None and message.kind == "log" and isinstance(message.seq, int) \
                and message.seq > self.sent + 1:
            resync = True  # a line's publish was lost: it is in the database
        frames = list(self.catch_up()) if resync else []
        if message is None or message.kind == RESYNC:
            end = terminal_frame(self.app, self.execucao_id) if resync else None
            return frames + ([end] if end else []), end is not None
        if message.kind == "log":
            if isinstance(message.seq, int) and message.seq > self.sent:
                self.sent = message.seq
                frames.append(message.frame)
            return frames, False
        if message.kind in TERMINAL.values():
            if stored_top(self.app, self.execucao_id) > self.sent:  # the last line's publish was lost
                frames += list(self.catch_up())
            return frames + [message.frame], True
        return frames + [message.frame], False


def execucoes_stream(hub: Hub, keepalive: float, max_seconds: float):
    """The SSE body of the global channel: every status change, with keep-alives."""
    viewer = hub.add(ALL_CHANNEL)
    try:
        yield "retry: 3000\n" + sse("connection", {"canal": ALL_CHANNEL})
        stop_at = time.monotonic() + max_seconds
        while time.monotonic() < stop_at:
            message = viewer.next(keepalive)
            if message is None:
                yield ": ping\n\n"
            elif message.kind == SHUTDOWN:
                return
            elif message.kind == RESYNC or viewer.overflowed:
                viewer.overflowed = False
                yield sse("status", {"resync": True})
            else:
                yield message.frame
    finally:
        hub.remove(viewer)
