"""Live robot logs over SSE, the full log as text, and the live 'Em execução' table."""
import re
import unicodedata

from flask import Response, current_app, jsonify, render_template, request
from flask_login import current_user
from sqlalchemy import select

from apps.auth.policy import current_identity, requires
from apps.core.clock import local_tz
from apps.core.errors import ApiError
from apps.core.records import get_or_404
from apps.core.types import db, parse_uuid
from apps.processos import queries
from apps.processos.models import Execucao, ExecucaoLog
from apps.realtime import hub, limits, stream
from apps.realtime.blueprint import bp

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
LOG_BATCH = 2000


def _settings():
    config = current_app.config
    return float(config.get("SSE_KEEPALIVE_SECONDS", 15)), float(config.get("SSE_MAX_SECONDS", 3600))


SEQ_PATTERN = re.compile(r"[0-9]{1,10}")
MAX_SEQ = 2**31 - 1  # execucao_logs.seq is an INTEGER: PostgreSQL refuses to bind a larger value
BAD_LAST_EVENT_ID = ("Last-Event-ID inválido: informe o número (seq) da última linha recebida, "
                     "ou nada para receber o log desde o início.")


def _last_event_id() -> int:
    """Last-Event-ID (what EventSource sends on reconnect) or ?last_event_id=; 0 when absent.

    Anything but a plain number up to the largest seq a line can have (text, a sign, 10**30, which
    SQLite's driver cannot bind and PostgreSQL refuses as an INTEGER: a 500 before) is refused
    with a 400 instead of reaching the query.
    """
    raw = (request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "").strip()
    if not raw:
        return 0
    if not SEQ_PATTERN.fullmatch(raw) or int(raw) > MAX_SEQ:
        raise ApiError(400, BAD_LAST_EVENT_ID, {"Last-Event-ID": f"número inteiro entre 0 e {MAX_SEQ}"})
    return int(raw)


def _too_many(exc: limits.TooManyStreams) -> Response:
    """429: plain text for an EventSource (it shows no body anyway), JSON for an API client."""
    headers = {"Retry-After": str(exc.retry_after), "Cache-Control": "no-store"}
    accepts = request.accept_mimetypes
    if accepts.best_match(["text/event-stream", "application/json"]) == "text/event-stream" \
            and accepts["text/event-stream"] > accepts["application/json"]:
        return Response(str(exc) + "\n", status=429, mimetype="text/plain", headers=headers)
    response = jsonify(error=str(exc))
    response.status_code = 429
    response.headers.update(headers)
    return response


def _claim_slot(keepalive: float) -> limits.StreamSlot:
    """This stream's place among its user's and its address's open streams (TooManyStreams when full)."""
    config = current_app.config
    user = current_identity()
    slot = limits.StreamSlot(config["REDIS_URL"], str(user.id), request.remote_addr or "?",
                             limits.claim_ttl(keepalive))
    slot.acquire(int(config.get("SSE_MAX_STREAMS_PER_USER", 20)), int(config.get("SSE_MAX_STREAMS_PER_ADDRESS", 50)))
    return slot


def find_execucao(ref: str):
    """The execucao of an RPA job id (the newest, if reused), or of an execucao id (runs still PENDENTE)."""
    execucao = queries.execucao_por_job(ref)
    if execucao is None and parse_uuid(ref) is not None:
        execucao = db.session.get(Execucao, parse_uuid(ref))
    return execucao


def _event_stream(body, slot: limits.StreamSlot) -> Response:
    return Response(limits.LimitedBody(body, slot), mimetype="text/event-stream", headers=STREAM_HEADERS,
                    direct_passthrough=True)


@bp.get("/api/v2/logs-tempo-real/stream/<job_id>")
@requires("processo.ler")
def stream_logs(job_id):
    """SSE: a run's stored log lines, then its live ones, status changes and its end."""
    execucao = find_execucao(job_id)
    if execucao is None:
        raise ApiError(404, "Execução não encontrada.")
    hello = {"execucao_id": str(execucao.id), "job_id": execucao.job_id, "status": execucao.status}
    execucao_id, last_seq = execucao.id, _last_event_id()
    keepalive, max_seconds = _settings()
    try:
        slot = _claim_slot(keepalive)
    except limits.TooManyStreams as exc:
        return _too_many(exc)
    app = current_app._get_current_object()
    db.session.remove()  # no database connection is held while the stream is open
    process_hub = hub.get_hub(app.config["REDIS_URL"])
    return _event_stream(stream.ExecucaoStream(app, process_hub, execucao_id, hello, last_seq, keepalive,
                                               max_seconds), slot)


@bp.get("/api/v2/logs-tempo-real/stream-execucoes")
@requires("processo.ler")
def stream_execucoes():
    """SSE: every execucao's status changes (the 'Em execução' page)."""
    keepalive, max_seconds = _settings()
    try:
        slot = _claim_slot(keepalive)
    except limits.TooManyStreams as exc:
        return _too_many(exc)
    process_hub = hub.get_hub(current_app.config["REDIS_URL"])
    db.session.remove()
    return _event_stream(stream.execucoes_stream(process_hub, keepalive, max_seconds), slot)


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hidden(char: str) -> bool:
    """Characters that can move the cursor, reorder or hide text: C0/C1 controls (ANSI escapes,
    CR, LF), the bidi controls (U+202A-202E, U+2066-2069, marks), line and paragraph separators,
    zero-width and other format characters (Unicode category Cc, Cf, Zl, Zp, Cs, Co, Cn)."""
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_PLAIN = re.compile(r"[ -~\u00a0-\u00ac\u00ae-\u024f]*")  # ASCII and Latin text: no per-character look-up


def visible(text) -> str:
    """One line of text in which every control or format character shows as an escape (`\\n`,
    `\\x1b`, `\\u202e`), so a robot's message cannot forge, overwrite or reorder lines.

    Backslashes are kept as they are (robots log Windows paths): `\\n` in the output may be an
    escaped newline or the robot's own two characters, but never a line break."""
    text = "" if text is None else str(text)
    if _PLAIN.fullmatch(text):
        return text
    return "".join(_escape(c) if _hidden(c) else c for c in text)


def log_time(moment, tz) -> str:
    """A line's moment in the page's time zone, with its offset: '2026-12-01 19:47:40-03:00'."""
    return moment.astimezone(tz).isoformat(sep=" ", timespec="seconds")


def _log_text(app, execucao_id, header: str, tz):
    """The stored lines as text (times in `tz`), read in batches so a long log never sits in memory."""
    yield header
    after = 0
    while True:
        with app.app_context():
            rows = db.session.scalars(select(ExecucaoLog).where(
                ExecucaoLog.execucao_id == execucao_id, ExecucaoLog.seq > after
            ).order_by(ExecucaoLog.seq).limit(LOG_BATCH)).all()
            db.session.remove()
        for row in rows:
            after = row.seq
            yield (f"{log_time(row.timestamp, tz)} #{row.seq} [{visible(row.level)}] "
                   f"{visible(row.message)}\n")
        if len(rows) < LOG_BATCH:
            return


@bp.get("/execucoes/<execucao_id>/log.txt")
@requires("processo.ler")
def log_txt(execucao_id):
    """The full stored log of a run, as a text download."""
    execucao = get_or_404(Execucao, execucao_id, "Execução não encontrada.")
    uid = execucao.id
    header = (f"# Execução {execucao.id} ({execucao.tipo}, {execucao.status})"
              f" job {visible(execucao.job_id or '-')}\n")
    app = current_app._get_current_object()
    db.session.remove()
    disposition = f'attachment; filename="execucao-{uid}.log.txt"'
    return Response(_log_text(app, uid, header, local_tz()), mimetype="text/plain",
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})


@bp.get("/em-execucao/fragmento")
@requires("processo.ler")
def em_execucao_fragmento():
    """The 'Em execução' table alone, for the page to swap in after a status event."""
    return render_template("processos/_em_execucao_table.html",
                           execucoes=queries.execucoes_ativas(queries.servico_runs_seen_by(current_user)))
