"""Run the simulator on werkzeug's threaded server, in a background thread."""
from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .config import SimConfig
from .state import SimState


class QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Skip the access log line."""


class SimServer:
    """Handle of a running simulator: URL, knobs, faults, stats, tokens, shutdown."""

    def __init__(self, app, server, thread: threading.Thread, host: str) -> None:
        """Wrap a started werkzeug server."""
        self.app, self._server, self._thread = app, server, thread
        self.host, self.port = host, server.server_port
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"http://{shown}:{self.port}"

    @property
    def state(self) -> SimState:
        """The simulator's in-memory state (for advanced inspection)."""
        return self.app.extensions["simulator"]

    @property
    def password(self) -> str:
        """Password accepted by POST /auth/refresh."""
        return self.state.config.password

    def set_config(self, **knobs: Any) -> dict:
        """Change runtime knobs (job_duration, failure_rate, ...); returns the new config."""
        return self.state.set_config(**knobs)

    def fault(self, mode: str, count: int = 1, retry_after: int = 1, path: str | None = None) -> dict:
        """Queue "the next `count` calls (matching `path` prefix) answer `mode`"."""
        return self.state.faults.add(mode, count, retry_after, path)

    def clear_faults(self) -> None:
        """Drop all queued faults."""
        self.state.faults.clear()

    def stats(self) -> dict:
        """Counters: requests, jobs_created, idempotent_replays, refreshes, ..."""
        return self.state.snapshot()

    def reset(self) -> None:
        """Forget jobs, faults and stats; knobs back to their start values."""
        self.state.reset()

    def issue_token(self, ttl_seconds: float | None = None) -> str:
        """A token signed by the simulator (negative ttl_seconds: already expired)."""
        return self.state.issue_token(ttl_seconds)[0]

    def shutdown(self) -> None:
        """Stop serving, release hanging requests, close SSE streams, join the thread."""
        self.state.shutdown()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        """Context manager entry."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Shut down on context exit."""
        self.shutdown()


def serve_in_thread(host: str = "127.0.0.1", port: int = 0,
                    config: SimConfig | dict | None = None, quiet: bool = True,
                    **knobs: Any) -> SimServer:
    """Start the simulator on host:port (0 = any free port) and return its handle."""
    app = create_app(config, **knobs)
    handler = QuietHandler if quiet else WSGIRequestHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="sim-server", daemon=True)
    thread.start()
    return SimServer(app, server, thread, host)
