"""The contract routes (openapi.yaml) of the RPA API, as a Flask blueprint."""
from __future__ import annotations

import json
import queue
import re

from flask import Blueprint, Response, current_app, jsonify, request

from .auth import INVALID_TOKEN, bearer_from_header
from .jobs import DOWNLOAD, SAT, TAREFA, now_iso
from .state import Saturated, SimState
from .tasks import TASKS
from .validation import BodyError, validate_executar, validate_idempotency_key, validate_sat, validate_tarefa

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}
PUBLIC_ENDPOINTS = {"api.health", "api.refresh"}
TASK_ENDPOINTS = {"api.tarefas", "api.tarefa_start", "api.job_arquivo"}
RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

bp = Blueprint("api", __name__)


def state() -> SimState:
    """The SimState of the running app."""
    return current_app.extensions["simulator"]


def error(status: int, detail: str, headers: dict | None = None):
    """An error answer with the contract's {"detail": ...} body."""
    return jsonify(detail=detail), status, headers or {}


def route_key() -> str:
    """Stats key of the current request: "METHOD /path/{template}"."""
    rule = request.url_rule.rule if request.url_rule else "(sem rota)"
    template = RULE_ARG.sub(r"{\1}", rule)
    return f"{request.method} {template}"


def fault_response(sim: SimState, fault: dict):
    """Answer of an injected fault."""
    sim.stats.bump("faults_served", fault["mode"])
    mode = fault["mode"]
    if mode == "429":
        return error(429, "Robôs ocupados; tente novamente mais tarde",
                     {"Retry-After": str(fault["retry_after"])})
    if mode == "401":
        return error(401, INVALID_TOKEN, BEARER_CHALLENGE)
    if mode == "hang":
        sim.hang()
        return error(503, "Serviço indisponível (tempo esgotado)")
    if mode == "500":
        return error(500, "Erro interno (falha simulada)")
    return error(503, "Serviço indisponível (falha simulada)")


@bp.before_request
def gate():
    """Stats, latency, injected faults and bearer authentication, in that order."""
    sim = state()
    sim.stats.request(route_key())
    sim.pause(sim.config.latency)
    fault = sim.faults.take(request.path)
    if fault is not None:
        return fault_response(sim, fault)
    missing = unsupported(sim)
    if missing is not None:
        return missing
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not sim.token_ok(bearer_from_header(request.headers.get("Authorization"))):
        sim.stats.bump("auth_failures")
        return error(401, INVALID_TOKEN, BEARER_CHALLENGE)
    return None


def unsupported(sim: SimState):
    """The answer of a 1.1 route this server is configured not to have (before authentication)."""
    if request.endpoint in TASK_ENDPOINTS and not sim.config.tasks_supported:
        return error(404, "Recurso não encontrado")
    if request.endpoint == "api.cancel_job" and not sim.config.cancel_supported:
        return error(405, "Cancelamento de jobs não suportado por este servidor")
    return None


@bp.get("/health")
def health():
    """Liveness; with health_details, the 1.1 fields (version, running, capacity, robot)."""
    return jsonify(state().health())


@bp.post("/auth/refresh")
def refresh():
    """Issue a new token for the right password."""
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("password"), str):
        return error(422, "Corpo inválido: campo 'password' (texto) é obrigatório")
    answer = state().refresh(body["password"])
    if answer is None:
        return error(401, "Senha inválida")
    return jsonify(answer)


def json_body():
    """The parsed JSON body (also without a Content-Type), or None."""
    mimetype = request.mimetype or ""
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        return None
    return request.get_json(force=True, silent=True)


def start_job(tipo: str, operadora: str | None, validator):
    """Validate the body and Idempotency-Key, then create (or replay) a job."""
    key = request.headers.get("Idempotency-Key") or None
    try:
        validate_idempotency_key(key)
        body = validator(json_body())
    except BodyError as exc:
        return error(422, f"Corpo inválido: {exc}")
    return create_job(tipo, operadora, body, key)


def create_job(tipo: str, operadora: str | None, body: dict, key: str | None, tarefa: str | None = None):
    """Create (or replay) a validated job: 202, or 429 when the robots are saturated."""
    try:
        answer, _ = state().create_job(tipo, operadora, body, key, tarefa=tarefa)
    except Saturated as exc:
        return error(429, "Robôs ocupados; tente novamente mais tarde",
                     {"Retry-After": str(exc.retry_after)})
    return jsonify(answer), 202


@bp.post("/executar/<operadora>")
def executar(operadora: str):
    """Start an invoice download for one client and one month."""
    code = operadora.strip().upper()
    if code not in state().config.operadoras:
        return error(404, f"Operadora desconhecida: {operadora}")
    return start_job(DOWNLOAD, code, validate_executar)


@bp.post("/sat/enviar")
def sat_enviar():
    """Start the upload of approved invoices to SAT."""
    return start_job(SAT, None, validate_sat)


@bp.get("/tarefas")
def tarefas():
    """The generic tasks the robots know, with the JSON Schema of their parametros."""
    return jsonify(tarefas=[task.describe() for task in TASKS.values()])


@bp.post("/tarefas/<tarefa>")
def tarefa_start(tarefa: str):
    """Start a generic task; same answers and Idempotency-Key rules as /executar."""
    task = TASKS.get(tarefa.strip().lower())
    if task is None:
        return error(404, f"Tarefa desconhecida: {tarefa}")
    key = request.headers.get("Idempotency-Key") or None
    try:
        validate_idempotency_key(key)
        body = validate_tarefa(json_body(), task.parametros)
    except BodyError as exc:
        return error(422, f"Corpo inválido: {exc}")
    codes = [raw.strip().upper() for raw in (body.get("operadora"), body["parametros"].get("operadora"))
             if isinstance(raw, str) and raw.strip()]
    for code in codes:
        if code not in state().config.operadoras:
            return error(404, f"Operadora desconhecida: {code}")
    return create_job(TAREFA, codes[0] if codes else None, body, key, tarefa=task.nome)


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    """Ask the robots to stop a job: 202 with the job (a finished one keeps its status)."""
    job = state().cancel(job_id)
    return error(404, "Job não encontrado") if job is None else (jsonify(job), 202)


@bp.get("/jobs/<job_id>/arquivos/<arquivo>")
def job_arquivo(job_id: str, arquivo: str):
    """One file produced by a completed generic task (its type is in result.arquivos)."""
    sim = state()
    if not sim.has_job(job_id):
        return error(404, "Job não encontrado")
    data = sim.file(job_id, arquivo, TAREFA)
    if data is None:
        return error(404, "Arquivo não encontrado")
    headers = {"Content-Disposition": f'attachment; filename="{arquivo}"'}
    return Response(data, mimetype="application/octet-stream", headers=headers)


@bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    """Authoritative status of a job."""
    job = state().job_json(job_id)
    return error(404, "Job não encontrado") if job is None else jsonify(job)


@bp.get("/jobs/<job_id>/logs")
def job_logs(job_id: str):
    """A job's log lines with seq > after."""
    raw = request.args.get("after", "0").strip()
    if not raw.isdigit() or not raw.isascii():
        return error(422, "Parâmetro 'after' deve ser um inteiro >= 0")
    after = int(raw)
    logs = state().logs_after(job_id, after)
    if logs is None:
        return error(404, "Job não encontrado")
    return jsonify(job_id=job_id, logs=logs, next=logs[-1]["seq"] if logs else after)


@bp.get("/jobs/<job_id>/faturas/<arquivo>")
def job_fatura(job_id: str, arquivo: str):
    """One invoice PDF of a completed download job."""
    sim = state()
    if not sim.has_job(job_id):
        return error(404, "Job não encontrado")
    data = sim.file(job_id, arquivo)
    if data is None:
        return error(404, "Fatura não encontrada")
    headers = {"Content-Disposition": f'attachment; filename="{arquivo}"'}
    return Response(data, mimetype="application/pdf", headers=headers)


def sse_events(sim: SimState, subscriber):
    """Generator of the SSE stream: connection event, log lines, pings."""
    hello = {"type": "connection", "message": "Conectado ao stream de logs",
             "job_id": subscriber.job_id, "timestamp": now_iso()}
    yield f"data: {json.dumps(hello, ensure_ascii=False)}\n\n"
    while not sim.stop_event.is_set():
        try:
            line = subscriber.queue.get(timeout=max(0.05, sim.config.sse_ping))
        except queue.Empty:
            yield ": ping\n\n"
            continue
        if line is None:
            return
        yield f"data: {json.dumps(line, ensure_ascii=False)}\n\n"


@bp.get("/events/logs")
def events_logs():
    """Server-Sent Events stream of log lines (all jobs, or ?job_id=X)."""
    sim = state()
    subscriber = sim.subscribe(request.args.get("job_id") or None)
    response = Response(sse_events(sim, subscriber), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(lambda: sim.unsubscribe(subscriber))
    return response
