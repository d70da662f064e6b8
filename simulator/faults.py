"""Injected faults ("the next N calls answer X") and request statistics."""
from __future__ import annotations

import threading
from collections import Counter

FAULT_MODES = ("503", "500", "429", "hang", "401")
CLEAR_MODES = ("none", "clear", "off")


class FaultQueue:
    """FIFO of fault rules; each matching request consumes one unit of the first rule."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._lock = threading.Lock()
        self._rules: list[dict] = []

    def add(self, mode: str, count: int = 1, retry_after: int = 1, path: str | None = None) -> dict:
        """Queue a rule; mode "none" clears all rules. Returns the rule (or {})."""
        mode = str(mode).strip().lower()
        if mode in CLEAR_MODES:
            self.clear()
            return {}
        if mode not in FAULT_MODES:
            raise ValueError(f"modo de falha inválido: {mode!r} (use {', '.join(FAULT_MODES)})")
        count, retry_after = _positive_int(count, "count"), _positive_int(retry_after, "retry_after", 0)
        if path is not None and not str(path).startswith("/"):
            raise ValueError("path deve começar com '/'")
        rule = {"mode": mode, "remaining": count, "retry_after": retry_after, "path": path}
        with self._lock:
            self._rules.append(rule)
        return dict(rule)

    def take(self, path: str) -> dict | None:
        """Consume and return the first rule matching `path`, if any."""
        with self._lock:
            for rule in self._rules:
                if _matches(rule["path"], path):
                    rule["remaining"] -= 1
                    if rule["remaining"] <= 0:
                        self._rules.remove(rule)
                    return dict(rule)
        return None

    def clear(self) -> None:
        """Remove every pending rule."""
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict]:
        """Copy of the rules still queued."""
        with self._lock:
            return [dict(rule) for rule in self._rules]


def _matches(prefix: str | None, path: str) -> bool:
    """Rules without a path hit every contract route but /health."""
    if prefix is None:
        return path != "/health"
    return path.startswith(prefix)


def _positive_int(value, name: str, minimum: int = 1) -> int:
    """Parse an int >= minimum or raise ValueError."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: inteiro esperado") from None
    if isinstance(value, bool) or number < minimum:
        raise ValueError(f"{name}: deve ser >= {minimum}")
    return number


class Stats:
    """Thread-safe counters reported by GET /_sim/stats."""

    def __init__(self) -> None:
        """Start every counter at zero."""
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests: Counter = Counter()
            self.jobs_created: Counter = Counter({"download": 0, "sat": 0})
            self.faults_served: Counter = Counter()
            self.scalars: Counter = Counter(
                {"idempotent_replays": 0, "refreshes": 0, "refresh_failures": 0,
                 "auth_failures": 0, "saturated": 0, "cancel_requests": 0, "jobs_cancelled": 0})

    def request(self, key: str) -> None:
        """Count one request under "METHOD /path/{template}"."""
        with self._lock:
            self.requests[key] += 1

    def bump(self, name: str, sub: str | None = None) -> None:
        """Increment a scalar counter, or jobs_created/faults_served[sub]."""
        with self._lock:
            if name == "jobs_created":
                self.jobs_created[sub] += 1
            elif name == "faults_served":
                self.faults_served[sub] += 1
            else:
                self.scalars[name] += 1

    def snapshot(self) -> dict:
        """Plain-dict copy of every counter."""
        with self._lock:
            return {"requests": dict(self.requests), "jobs_created": dict(self.jobs_created),
                    "faults_served": dict(self.faults_served), **dict(self.scalars)}
