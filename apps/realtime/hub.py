"""One Redis pub/sub subscriber per process, fanning messages out to the open SSE streams.

Why. A pub/sub connection per open stream would cost a Redis client (a socket and a file
descriptor here, a client in Redis that copies every line once per viewer). Instead each
worker process keeps ONE pub/sub connection (`Hub`), subscribed from its start to the pattern
`execucao:*` and to `execucoes`, and puts each message into small per-viewer queues
(a deque and an Event: gevent's under its monkey patching, threading's under the werkzeug
dev server). Redis cost grows with running jobs and worker processes, never with viewers; a
message is parsed and its SSE frame built once per process, not once per viewer. Every
process receives every job's lines, watched or not: a few lines a second per running job,
nothing next to a socket per viewer. Measurements: apps/realtime/stream.py's docstring.
"""
import json
import logging
import os
import threading
import time
from collections import deque

import redis

from apps.realtime.events import ALL_CHANNEL, channel_for

log = logging.getLogger(__name__)
RESYNC, SHUTDOWN = "_resync", "_shutdown"  # control messages the hub sends to viewers
READY_WAIT = 3.0        # seconds a new viewer waits for the hub's subscription
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


def _new_event():
    """A wake-up flag: gevent's own Event when threading is patched (a few dozen bytes, no lock
    objects; the hub is then a greenlet of the same thread), else threading's (werkzeug's threads)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return threading.Event()
    if monkey.is_module_patched("threading"):
        from gevent.event import Event

        return Event()
    return threading.Event()


class Viewer:
    """One open stream's mailbox: a deque and a wake-up flag.

    Not a queue.Queue: with 10,000 streams open, its lock and three Conditions (each with its own
    waiter deque and bound methods) were ~2-3 KB per stream and a Condition round per line. deque's
    append and popleft are atomic, and the consumer always looks at the deque before it waits, so a
    flag cleared while an item is queued never loses it.
    """

    __slots__ = ("_items", "_ready", "key", "overflowed")

    def __init__(self, key: str):
        self.key, self.overflowed = key, False
        self._items = deque()
        self._ready = _new_event()

    def offer(self, message) -> None:
        if len(self._items) >= QUEUE_SIZE:
            self.overflowed = True  # dropped: the viewer reads the database instead
            return
        self._items.append(message)
        self._ready.set()

    def next(self, timeout: float):
        if not self._items:
            self._ready.wait(max(timeout, 0.01))
        try:
            item = self._items.popleft()
        except IndexError:
            return None
        finally:
            if not self._items:
                self._ready.clear()
        return item

    def pending(self) -> list:
        """Whatever else is already queued (a burst is sent as one write)."""
        items = []
        while self._items:
            items.append(self._items.popleft())
        self._ready.clear()
        if self._items:  # offered between the last popleft and the clear: keep the flag up
            self._ready.set()
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
