"""Structured JSON logs, one line per event, carrying a request id from the web request into RQ jobs.

The request id comes from a valid X-Request-ID header or is generated; it is returned in the
response, stored in the meta of every job enqueued during the request, and restored by the
worker while that job runs, so one id follows an action from the click to the robot run.
"""
import contextvars
import json
import logging
import re
import sys
import time
import uuid

from flask import current_app, g, has_request_context, request

_job_request_id = contextvars.ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Anything that looks like a credential is masked before a line is written.
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_KEY_VALUE = re.compile(
    r"(?i)((?:password|senha|token|secret|authorization)[\"']?\s*[=:]\s*[\"']?)(?!bearer\b|\*\*\*)([^\s\"',&]+)")


def current_request_id() -> str | None:
    if has_request_context():
        return getattr(g, "request_id", None)
    return _job_request_id.get()


def set_job_request_id(value: str | None):
    """Worker side: the request id of the job being run (returns a token to reset it)."""
    return _job_request_id.set(value)


def reset_job_request_id(token) -> None:
    _job_request_id.reset(token)


def redact(text: str) -> str:
    text = _BEARER.sub(lambda m: m.group(1) + "***", text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + "***", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and extras."""

    EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "user", "endpoint", "job_id", "execucao_id")

    def format(self, record):
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for name in self.EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__  # the trace stays out of shared logs
            entry["exc"] = redact(self.formatException(record.exc_info))[-4000:]
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "INFO", json_logs: bool = True) -> None:
    """Route the root logger to stdout, as JSON lines (or plain text when json_logs is off)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_rpa_dashboard", False)]:
        root.removeHandler(old)
    handler._rpa_dashboard = True
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _begin_request():
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _end_request(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    if request.endpoint not in ("static", None) and not request.path.startswith("/static/"):
        path = request.path
        if getattr(current_app.view_functions.get(request.endpoint), "secret_in_path", False):
            path = request.url_rule.rule  # '/webhooks/telegram/<secret>': the secret never reaches the logs
        logging.getLogger("apps.request").info(
            "%s %s %s", request.method, path, response.status_code,
            extra={"method": request.method, "path": path, "status": response.status_code,
                   "endpoint": request.endpoint,
                   "duration_ms": round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1),
                   "user": getattr(g.get("_login_user"), "username", None)},  # never load it just to log
        )
    return response


def init_app(app):
    if not app.config.get("TESTING"):
        configure(app.config.get("LOG_LEVEL", "INFO"), app.config.get("JSON_LOGS", True))
    app.before_request(_begin_request)
    app.after_request(_end_request)
