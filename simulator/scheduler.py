"""A single background thread that runs callbacks at given monotonic times."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Scheduler:
    """Timer wheel for job steps: one daemon thread, a heap, a condition variable."""

    def __init__(self) -> None:
        """Create the scheduler and start its thread."""
        self._heap: list = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._generation = 0
        self._thread = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)
        self._thread.start()

    def call_at(self, due: float, callback: Callable[[], None]) -> None:
        """Run `callback` on the scheduler thread once time.monotonic() >= due."""
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._counter), self._generation, callback))
            self._cond.notify()

    def clear(self) -> None:
        """Drop every pending callback (used by reset)."""
        with self._cond:
            self._heap.clear()
            self._generation += 1

    def stop(self) -> None:
        """Stop the thread and drop pending callbacks."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _next_due(self) -> tuple | None:
        """Wait until a callback is due and pop it; None once stopped."""
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay <= 0:
                    due, _, generation, callback = heapq.heappop(self._heap)
                    return (generation == self._generation, callback)
                self._cond.wait(delay)
            return None

    def _run(self) -> None:
        """Thread body: run due callbacks until stopped."""
        while True:
            item = self._next_due()
            if item is None:
                return
            current, callback = item
            if not current:
                continue
            try:
                callback()
            except Exception:  # a broken step must not kill the clock
                log.exception("simulator step failed")
