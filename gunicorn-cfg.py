"""Gunicorn settings: gevent workers sized for long-lived SSE streams plus ordinary pages.

Run: `gunicorn -c gunicorn-cfg.py` (the app is named below). Command-line flags override
these values, e.g. `-b 127.0.0.1:8080` for a loopback-only server in tests.
"""
import logging
import os
import re
import resource
import shutil
import tempfile
from pathlib import Path

from gunicorn import glogging

# 0.0.0.0 so a container's published port reaches it; PORT as on most PaaS.
bind = f"0.0.0.0:{os.environ.get('PORT', '5050')}"
wsgi_app = "apps:create_app()"

# SSE streams stay open for minutes: a sync worker would hold one per process. gevent runs
# each request in a greenlet, so one process serves thousands of open streams (~20-50 KB each).
worker_class = "gevent"

# Processes, not greenlets, use the cores; each process has ONE Redis subscriber for all its
# streams (apps/realtime/stream.py), so more workers cost one Redis connection each.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Greenlets per worker = concurrent connections. The default 1000 starved pages once 1,000
# streams were open (FACTS.md: /ping hung > 10 s); 4000 leaves room for pages beside them.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "4000"))

# Heartbeat: a gevent worker that blocks its event loop this long is killed and replaced.
# Streams do not count against it (they yield to the loop between lines and pings).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))

# On restart, open streams end at once (post_worker_init below) and browsers resume with
# Last-Event-ID, so waiting long for them gains nothing; pages get 10 s to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))

# Idle keep-alive between requests on one connection; below nginx's and the browser's.
keepalive = 5

# Access and error logs to stdout/stderr, for the container runtime to collect.
accesslog = "-"


class MaskedAccessLogger(glogging.Logger):
    """gunicorn's access log without the secrets some URLs carry: the Telegram webhook's path secret
    (`/webhooks/telegram/<secret>`, Telegram's own scheme) and the sign-in callback's one-time `code`/`state`.
    The app's own request log (apps/core/logs.py) masks the same by the route's rule."""

    SECRET_PATH = re.compile(r"^(/webhooks/telegram/)[^/?#]+")
    SECRET_PARAMS = re.compile(r"(?i)(^|&)(code|state|token|access_token|id_token)=[^&]*")

    @classmethod
    def mask(cls, path: str, query: str) -> tuple[str, str]:
        return cls.SECRET_PATH.sub(r"\1***", path), cls.SECRET_PARAMS.sub(r"\1\2=***", query)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        raw_path, _, raw_query = environ.get("RAW_URI", "").partition("?")
        path, query = self.mask(raw_path, raw_query)
        uri = path + ("?" + query if query else "")
        atoms["r"] = f"{environ['REQUEST_METHOD']} {uri} {environ['SERVER_PROTOCOL']}"
        atoms["U"], atoms["q"] = self.mask(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        referer, _, referer_query = atoms["f"].partition("?")  # a page URL may carry the same parameters
        atoms["f"] = referer + ("?" + self.mask("", referer_query)[1] if referer_query else "")
        return atoms


logger_class = MaskedAccessLogger
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# The app must be imported AFTER gevent patches the standard library in each worker:
# psycopg 3 picks its wait function at import time and uses a gevent-friendly one only if
# `select` is already patched (psycopg/waiting.py); psycogreen is for psycopg2 only.
preload_app = False

# gunicorn's control socket (gunicornc) defaults to one path per user: two instances on one
# machine (tests, benchmarks) would fight over it. Off unless a path is given.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")

# The heartbeat file on tmpfs: a slow disk (container overlay) cannot stall the workers.
SHM = "/dev/shm"  # noqa: S108 - gunicorn's own advice; it only holds an unlinked heartbeat file
worker_tmp_dir = SHM if os.path.isdir(SHM) else None

# /metrics sums every worker's counts (prometheus-client multiprocess mode, apps/core/metrics.py):
# without it each scrape lands on one worker and a counter reads 7, 1, 8, 9, 2. The variable must
# be in the environment before any process imports prometheus_client: set here, in the master,
# before the workers are forked (preload_app is off, so the app is imported after the fork).
# PROMETHEUS_MULTIPROC_DIR from the environment or .env is used as given (emptied at start);
# else a directory is made for this run, on tmpfs when there is one, and removed at exit.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_MADE_ENV = "RPA_METRICS_DIR_MADE"  # this config is read again on HUP: keep the same directory


def _given_metrics_dir() -> str:
    given = os.environ.get(MULTIPROC_ENV) or os.environ.get("prometheus_multiproc_dir")
    dotenv = Path(__file__).resolve().parent / ".env"
    if not given and dotenv.is_file():
        from dotenv import dotenv_values

        given = dotenv_values(dotenv).get(MULTIPROC_ENV)
    return given or ""


metrics_dir = _given_metrics_dir()
if not metrics_dir:
    metrics_dir = tempfile.mkdtemp(prefix="rpa-metrics-", dir=worker_tmp_dir)
    os.environ[_MADE_ENV] = metrics_dir
os.makedirs(metrics_dir, exist_ok=True)
os.environ[MULTIPROC_ENV] = metrics_dir


def _empty_metrics_dir() -> None:
    """prometheus_client's files (*.db) and the shared domain cache of a previous run."""
    for pattern in ("*.db", "*.json", ".domain-*.tmp"):
        for entry in Path(metrics_dir).glob(pattern):
            if entry.is_file():
                entry.unlink(missing_ok=True)


def on_starting(server):
    """Raise the open-file limit (each stream is a socket; workers inherit it); empty the metrics dir."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = worker_connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        server.log.info("RLIMIT_NOFILE raised from %s to %s", soft, new)
    _empty_metrics_dir()
    server.log.info("métricas multiprocesso em %s=%s", MULTIPROC_ENV, metrics_dir)


def on_exit(server):
    """Remove the metrics directory made for this run (one given by the environment stays)."""
    if os.environ.get(_MADE_ENV) == metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def post_worker_init(worker):
    """Check psycopg is cooperative, and end open streams as soon as the worker is told to stop."""
    if "gevent" not in type(worker).__module__:
        return  # another worker class given on the command line: nothing of ours to watch
    import gevent

    try:
        from psycopg import waiting
    except ImportError:
        waiting = None
    if waiting is not None:
        logger = logging.getLogger("gunicorn.error")
        if waiting.wait is getattr(waiting, "wait_c", None):
            logger.warning("psycopg uses its blocking C wait under gevent: was the app preloaded?")
        else:
            logger.debug("psycopg waits with %s (cooperative under gevent)", waiting.wait.__name__)

    def end_streams_on_shutdown():
        while worker.alive:
            gevent.sleep(0.5)
        from apps.realtime.hub import shutdown_streams

        shutdown_streams()

    gevent.spawn(end_streams_on_shutdown)


def child_exit(server, worker):
    """A dead worker's live gauges stop being summed (its counters stay: they must not go down)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)
