"""How many SSE streams one user and one address may hold open, counted across every process.

Each open stream owns a member of two Redis sorted sets, one per user and one per client
address, scored by the moment its claim expires (Redis server time, so machines agree). While
the stream runs its claim is refreshed by its process's refresher (`Refresher`): one thread
(a greenlet under gevent) that pushes forward, every second, the claims of all the process's
streams that are due, in one pipelined round trip, instead of one Redis call per stream every
ttl/4 (with 2,500 streams on a worker, ~170 calls/s and a fifth of the worker's CPU). The stream
removes its claim when it ends; a stream whose process was killed stops being refreshed and its
member is swept by the next `acquire`, a TTL later. No counter can leak on a crash.

`acquire` sweeps, counts and adds in one Lua script, so two streams opened at the same moment
on two machines cannot both take the last place. While Redis is unreachable streams are let
through (fail open, as the login limiter): the hub has no Redis either, and viewers poll.
"""
import logging
import math
import os
import threading
import time
import uuid

import redis

from apps.core.queues import get_redis

log = logging.getLogger(__name__)

USER_KEY, ADDRESS_KEY = "sse:streams:user:", "sse:streams:addr:"

# KEYS: user set, address set. ARGV: member, ttl ms, user cap, address cap.
# Returns 0 (admitted), 1 (user cap reached) or 2 (address cap reached).
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], now_ms + ttl, ARGV[1])
redis.call('ZADD', KEYS[2], now_ms + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
return 0
"""

# Refresh claims of one user and address at once, only members still present (XX): a swept stream must
# not come back from the dead. KEYS: user set, address set. ARGV: ttl ms, members...
_REFRESH_MANY = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 1, 2 do
  for j = 2, #ARGV do
    redis.call('ZADD', KEYS[i], 'XX', now_ms + ttl, ARGV[j])
  end
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
end
return 0
"""


class TooManyStreams(Exception):
    """The user or the address already holds its maximum of open streams."""

    def __init__(self, scope: str, limit: int, retry_after: int):
        self.scope, self.limit, self.retry_after = scope, limit, retry_after
        who = "por usuário" if scope == "user" else "por endereço de rede"
        super().__init__(
            f"Limite de {limit} conexões ao vivo abertas {who} atingido. Feche outras abas ou painéis de "
            f"log e tente novamente em {retry_after} segundos.")


def claim_ttl(keepalive: float) -> float:
    """Seconds a claim lives without a refresh: four keep-alives (at least 4 s).

    A stream writes at least once per keep-alive and refreshes at most every ttl/4, so two
    refreshes are never more than two keep-alives apart: a live stream's claim never lapses.
    """
    return max(4 * keepalive, 4.0)


class StreamSlot:
    """One open stream's claim on its user's and its address's places."""

    def __init__(self, url: str, user_id: str, address: str, ttl: float):
        self.url, self.ttl = url, ttl
        self.keys = [USER_KEY + user_id, ADDRESS_KEY + address]
        self.member = uuid.uuid4().hex
        self.refresh_every = ttl / 4
        self.refreshed_at = 0.0
        self.released = False

    def _client(self):
        return get_redis(self.url)

    def acquire(self, user_cap: int, address_cap: int) -> None:
        """Take a place or raise TooManyStreams."""
        try:
            result = self._client().eval(_ACQUIRE, 2, *self.keys, self.member, int(self.ttl * 1000),
                                         user_cap, address_cap)
        except redis.RedisError as exc:
            log.warning("SSE stream limits unavailable (%s): stream admitted", exc.__class__.__name__)
            self.released = True  # nothing to refresh or remove
            return
        self.refreshed_at = time.monotonic()
        if result:
            self.released = True
            scope, cap = ("user", user_cap) if result == 1 else ("address", address_cap)
            raise TooManyStreams(scope, cap, max(1, math.ceil(self.refresh_every)))

    def refresh(self, force: bool = False) -> None:
        """Push the claim's expiry forward (cheap to call often: it writes at most every ttl/4)."""
        if self.released or (not force and time.monotonic() - self.refreshed_at < self.refresh_every):
            return
        _send([self], time.monotonic())

    def keep(self) -> None:
        """Let this process's refresher keep the claim alive until `release`."""
        if not self.released:
            refresher().add(self)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        refresher().discard(self)
        try:
            pipe = self._client().pipeline(transaction=False)
            for key in self.keys:
                pipe.zrem(key, self.member)
            pipe.execute()
        except redis.RedisError:
            log.debug("SSE stream limits: release failed (the claim expires by itself)", exc_info=True)


class Refresher:
    """Refreshes the claims of this process's open streams, the due ones of each tick in one round trip."""

    TICK = 1.0  # seconds; a claim is refreshed at most refresh_every + TICK after the last time (ttl >= 4 s)

    def __init__(self):
        self.pid = os.getpid()
        self._slots: set = set()
        self._lock = threading.Lock()
        self._thread = None

    def add(self, slot: StreamSlot) -> None:
        with self._lock:
            self._slots.add(slot)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sse-claims", daemon=True)
                self._thread.start()

    def discard(self, slot: StreamSlot) -> None:
        with self._lock:
            self._slots.discard(slot)

    def count(self) -> int:
        with self._lock:
            return len(self._slots)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            try:
                self.refresh_due()
            except Exception:  # the thread must outlive any one failure
                log.warning("SSE stream limits: refresh round failed", exc_info=True)

    def refresh_due(self, now: float | None = None) -> int:
        """Refresh every claim due by `now`; returns how many were sent to Redis."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [slot for slot in self._slots
                   if not slot.released and now - slot.refreshed_at >= slot.refresh_every]
        _send(due, now)
        return len(due)


def _send(slots, now: float) -> None:
    """Push the claims of `slots` forward: one script per user and address, one round trip per Redis."""
    groups: dict = {}
    for slot in slots:
        slot.refreshed_at = now
        groups.setdefault((slot.url, tuple(slot.keys), int(slot.ttl * 1000)), []).append(slot.member)
    by_url: dict = {}
    for (url, keys, ttl_ms), members in groups.items():
        by_url.setdefault(url, []).append((keys, ttl_ms, members))
    for url, calls in by_url.items():
        try:
            pipe = get_redis(url).pipeline(transaction=False)
            for keys, ttl_ms, members in calls:
                pipe.eval(_REFRESH_MANY, 2, *keys, ttl_ms, *members)
            pipe.execute()
        except redis.RedisError:
            log.debug("SSE stream limits: refresh failed", exc_info=True)


_refresher: Refresher | None = None
_refresher_lock = threading.Lock()


def refresher() -> Refresher:
    """This process's refresher (a forked worker builds its own)."""
    global _refresher
    with _refresher_lock:
        if _refresher is None or _refresher.pid != os.getpid():
            _refresher = Refresher()
        return _refresher


def open_count(url: str, user_id: str) -> int:
    """Live claims of a user (for tests and diagnostics)."""
    client = get_redis(url)
    now_ms = int(client.time()[0]) * 1000
    return client.zcount(USER_KEY + user_id, now_ms, "+inf")


class LimitedBody:
    """A WSGI body that holds a StreamSlot: kept alive by the process's refresher while it is
    iterated, released when it ends or is closed.

    A class (not a generator) so that `close()` releases the place even when the server closes
    the response before its first frame was asked for. It yields bytes, so the response can pass
    it to the server as it is (direct_passthrough: no werkzeug ClosingIterator and encoding
    generator around each of 10,000 open streams, two interpreter levels fewer in each stream's
    greenlet stack and per frame).
    """

    def __init__(self, body, slot: StreamSlot):
        self.body, self.slot = body, slot
        self._iterator = None

    def __iter__(self):
        if self._iterator is None:
            self._iterator = iter(self.body)
            self.slot.keep()
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self.__iter__()
        try:
            frame = next(self._iterator)
        except StopIteration:
            self.slot.release()
            raise
        return frame.encode() if isinstance(frame, str) else frame

    def close(self) -> None:
        try:
            closer = getattr(self._iterator if self._iterator is not None else self.body, "close", None)
            if closer is not None:
                closer()
        finally:
            self.slot.release()
