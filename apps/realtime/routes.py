"""Live robot logs over SSE, the full log as text, and the live 'Em execução' table."""
from flask import Response, current_app, render_template, request
from sqlalchemy import select

from apps.auth.policy import VIEW, access
from apps.core.errors import ApiError
from apps.core.records import get_or_404
from apps.core.types import db, parse_uuid
from apps.processos import queries
from apps.processos.models import Execucao, ExecucaoLog
from apps.realtime import bp, hub, stream

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
LOG_BATCH = 2000


def _settings():
    config = current_app.config
    return float(config.get("SSE_KEEPALIVE_SECONDS", 15)), float(config.get("SSE_MAX_SECONDS", 3600))


def _last_event_id() -> int:
    """Last-Event-ID (what EventSource sends on reconnect) or ?last_event_id=; 0 when absent or bad."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "0"
    try:
        return max(int(raw.strip()), 0)
    except ValueError:
        return 0


def find_execucao(ref: str):
    """The execucao of an RPA job id (the newest, if reused), or of an execucao id (runs still PENDENTE)."""
    execucao = queries.execucao_por_job(ref)
    if execucao is None and parse_uuid(ref) is not None:
        execucao = db.session.get(Execucao, parse_uuid(ref))
    return execucao


def _event_stream(body) -> Response:
    return Response(body, mimetype="text/event-stream", headers=STREAM_HEADERS)


@bp.get("/api/v2/logs-tempo-real/stream/<job_id>")
@access(VIEW)
def stream_logs(job_id):
    """SSE: a run's stored log lines, then its live ones, status changes and its end."""
    execucao = find_execucao(job_id)
    if execucao is None:
        raise ApiError(404, "Execução não encontrada.")
    hello = {"execucao_id": str(execucao.id), "job_id": execucao.job_id, "status": execucao.status}
    execucao_id, last_seq = execucao.id, _last_event_id()
    keepalive, max_seconds = _settings()
    app = current_app._get_current_object()
    db.session.remove()  # no database connection is held while the stream is open
    process_hub = hub.get_hub(app.config["REDIS_URL"])
    return _event_stream(stream.ExecucaoStream(app, process_hub, execucao_id, hello, last_seq, keepalive,
                                               max_seconds))


@bp.get("/api/v2/logs-tempo-real/stream-execucoes")
@access(VIEW)
def stream_execucoes():
    """SSE: every execucao's status changes (the 'Em execução' page)."""
    keepalive, max_seconds = _settings()
    process_hub = hub.get_hub(current_app.config["REDIS_URL"])
    db.session.remove()
    return _event_stream(stream.execucoes_stream(process_hub, keepalive, max_seconds))


def _log_text(app, execucao_id, header: str):
    """The stored lines as text, read in batches so a long log never sits in memory."""
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
            yield f"{row.timestamp.isoformat()} #{row.seq} [{row.level}] {row.message}\n"
        if len(rows) < LOG_BATCH:
            return


@bp.get("/execucoes/<execucao_id>/log.txt")
@access(VIEW)
def log_txt(execucao_id):
    """The full stored log of a run, as a text download."""
    execucao = get_or_404(Execucao, execucao_id, "Execução não encontrada.")
    uid = execucao.id
    header = (f"# Execução {execucao.id} ({execucao.tipo}, {execucao.status})"
              f" job {execucao.job_id or '-'}\n")
    app = current_app._get_current_object()
    db.session.remove()
    disposition = f'attachment; filename="execucao-{uid}.log.txt"'
    return Response(_log_text(app, uid, header), mimetype="text/plain",
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})


@bp.get("/em-execucao/fragmento")
@access(VIEW)
def em_execucao_fragmento():
    """The 'Em execução' table alone, for the page to swap in after a status event."""
    return render_template("processos/_em_execucao_table.html", execucoes=queries.execucoes_ativas())
