"""Probes for the orchestrator: /healthz (the process answers) and /readyz (database and Redis answer).

Both are PUBLIC and say nothing but "ok"/"erro": no versions, no error text, never a trace.
/healthz touches nothing, so a slow database never gets a healthy process restarted; /readyz
takes the instance out of rotation while a dependency is down. Each check is bounded: Redis by
its socket timeouts, PostgreSQL by a statement_timeout (set `connect_timeout` in DATABASE_URL to
bound the connection too, e.g. `?connect_timeout=3`).
"""
import redis
from flask import current_app, jsonify
from sqlalchemy import text

from apps.auth.policy import PUBLIC, requires
from apps.core.types import db

TIMEOUT_SECONDS = 2


def _no_store(response, status=200):
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@requires(PUBLIC)
def healthz():
    """The process is up and serving requests."""
    return _no_store(jsonify(status="ok"))


def check_database() -> str:
    """'ok' when the database answers SELECT 1 within the timeout, else 'erro'."""
    try:
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL statement_timeout = {TIMEOUT_SECONDS * 1000}"))
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any failure means "not ready"; the detail goes to the log only
        current_app.logger.warning("readyz: database check failed (%s)", exc.__class__.__name__)
        return "erro"


def check_redis() -> str:
    """'ok' when Redis answers PING within the timeout, else 'erro'."""
    client = redis.Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=TIMEOUT_SECONDS,
                                  socket_timeout=TIMEOUT_SECONDS)
    try:
        client.ping()
        return "ok"
    except Exception as exc:
        current_app.logger.warning("readyz: Redis check failed (%s)", exc.__class__.__name__)
        return "erro"
    finally:
        client.close()


@requires(PUBLIC)
def readyz():
    """200 when the database and Redis answer; 503 saying which one does not."""
    checks = {"database": check_database(), "redis": check_redis()}
    ready = all(value == "ok" for value in checks.values())
    return _no_store(jsonify(status="ok" if ready else "erro", **checks), 200 if ready else 503)


def init_app(app):
    """Register /healthz and /readyz (once per app)."""
    if "healthz" in app.view_functions:
        return
    app.add_url_rule("/healthz", endpoint="healthz", view_func=healthz)
    app.add_url_rule("/readyz", endpoint="readyz", view_func=readyz)
