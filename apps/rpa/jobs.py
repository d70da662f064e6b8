"""RQ jobs that drive a robot run on the RPA API. Jobs are thin: load by id, call services.

Following a run does not keep a worker busy: each `poll_execucao` looks once (new log lines,
then the job's status) and, while the robot is still working, schedules itself again after
RPA_POLL_INTERVAL seconds (RQ's scheduler, `enqueue_in`). A Redis lease per execucao says a
follower exists; the reconciler restarts following any active execucao whose lease has
expired (its worker died), so nothing stays stuck, and a lock keeps followers from overlapping.
"""
import logging
from datetime import timedelta

from flask import current_app
from redis import RedisError
from rq import Retry

from apps.core.logs import current_request_id
from apps.core.queues import QueueUnavailable, get_queue, get_redis
from apps.core.types import db, parse_uuid, utcnow
from apps.processos import execucoes as lifecycle
from apps.processos.models import Execucao, StatusExecucao
from apps.realtime.events import publish_logs, publish_status
from apps.rpa.client import RpaAuthError, RpaClient, RpaError, RpaRejected, RpaUnavailable

log = logging.getLogger(__name__)
JOB_TIMEOUT = 300
TERMINAL = {"COMPLETED", "FAILED"}
MAX_LOG_PAGES = 50


def _lease_key(execucao_id) -> str:
    return f"rpa:follow:{execucao_id}"


def _lock_key(execucao_id) -> str:
    return f"rpa:lock:{execucao_id}"


def _lease_seconds() -> int:
    return int(current_app.config.get("FOLLOW_LEASE_SECONDS", 120))


def _enqueue(func, execucao_id, delay: float = 0, job_id: str | None = None):
    """Enqueue (or schedule) a follow-up and renew the execucao's lease."""
    queue = get_queue()
    kwargs = dict(job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=7 * 24 * 3600,
                  meta={"execucao_id": str(execucao_id), "request_id": current_request_id()},
                  retry=Retry(max=2, interval=[2, 10]))
    try:
        get_redis().set(_lease_key(execucao_id), "1", ex=int(delay) + _lease_seconds())
        if delay > 0:
            return queue.enqueue_in(timedelta(seconds=delay), func, str(execucao_id), **kwargs)
        return queue.enqueue(func, str(execucao_id), job_id=job_id, **kwargs)
    except RedisError as exc:
        raise QueueUnavailable() from exc


def enqueue_start(execucao) -> None:
    """Queue the job that asks the RPA API to start this run."""
    job = _enqueue(start_execucao, execucao.id, job_id=f"rpa-start-{execucao.id}")
    execucao.rq_job_id = job.id
    db.session.commit()


def _load(execucao_id):
    uid = parse_uuid(execucao_id)
    execucao = db.session.get(Execucao, uid) if uid else None
    if execucao is not None:
        db.session.refresh(execucao)
    return execucao


def _fail(execucao, message: str) -> None:
    if lifecycle.falhar(execucao, message):
        publish_status(execucao)
    get_redis().delete(_lease_key(execucao.id))


def start_execucao(execucao_id: str) -> str:
    """POST the run to the RPA API (idempotent by key), then start following it."""
    execucao = _load(execucao_id)
    if execucao is None or execucao.status != StatusExecucao.PENDENTE:
        return "nada a fazer"
    processo, cliente = execucao.processo, execucao.processo.cliente
    try:
        client = RpaClient.for_operadora(cliente.operadora)
        if lifecycle.is_download(execucao):
            answer = client.start_download(cliente.operadora.codigo, processo_id=str(processo.id),
                                           cliente=lifecycle.cliente_payload(cliente),
                                           competencia=processo.competencia, idempotency_key=execucao.idempotency_key)
        else:
            answer = client.start_sat(processo_id=str(processo.id), cliente=lifecycle.cliente_payload(cliente),
                                      competencia=processo.competencia,
                                      faturas=lifecycle.faturas_para_sat(processo),
                                      idempotency_key=execucao.idempotency_key)
    except (RpaAuthError, RpaRejected, ValueError) as exc:
        _fail(execucao, str(exc))
        return "falhou"
    except RpaUnavailable as exc:
        _fail(execucao, f"API RPA indisponível: {exc}")
        return "falhou"
    if lifecycle.marcar_executando(execucao, answer["job_id"]):
        publish_status(execucao)
    _enqueue(poll_execucao, execucao.id)
    return str(answer["job_id"])


def poll_execucao(execucao_id: str) -> str:
    """Look at the run once: store new log lines, then finish it or schedule the next look."""
    execucao = _load(execucao_id)
    if execucao is None or execucao.status != StatusExecucao.EXECUTANDO:
        return "nada a fazer"
    redis = get_redis()
    if not redis.set(_lock_key(execucao.id), "1", nx=True, ex=JOB_TIMEOUT):
        return "outro seguidor ativo"
    try:
        return _poll_once(execucao)
    finally:
        redis.delete(_lock_key(execucao.id))


def _poll_once(execucao) -> str:
    client = RpaClient.for_operadora(execucao.processo.cliente.operadora)
    try:
        job = client.get_job(execucao.job_id)
        _sync_logs(client, execucao)
    except RpaUnavailable as exc:
        log.warning("RPA API unavailable while following execucao %s: %s", execucao.id, exc)
        _enqueue(poll_execucao, execucao.id, delay=current_app.config["RPA_POLL_INTERVAL"] * 5)
        return "API indisponível; nova tentativa agendada"
    except (RpaAuthError, RpaRejected) as exc:
        _fail(execucao, str(exc))
        return "falhou"
    status = job.get("status")
    if status not in TERMINAL:
        _enqueue(poll_execucao, execucao.id, delay=current_app.config["RPA_POLL_INTERVAL"])
        return status or "?"
    if status == "FAILED":
        _fail(execucao, job.get("error") or "O robô informou falha sem mensagem.")
        return "FAILED"
    return _finish(client, execucao, job)


def _sync_logs(client, execucao) -> None:
    for _ in range(MAX_LOG_PAGES):
        answer = client.get_logs(execucao.job_id, after=execucao.ultimo_seq)
        lines = answer.get("logs") or []
        if not lines:
            return
        stored = lifecycle.gravar_logs(execucao, lines)
        publish_logs(execucao, stored)
        if int(answer.get("next") or 0) <= execucao.ultimo_seq and not stored:
            return


def _finish(client, execucao, job) -> str:
    result = job.get("result") or {}
    try:
        if lifecycle.is_download(execucao):
            limit = current_app.config["MAX_CONTENT_LENGTH"]
            files = [(meta, client.download_fatura(execucao.job_id, meta.get("arquivo", ""), max_bytes=limit))
                     for meta in result.get("faturas") or []]
            done = lifecycle.concluir_download(execucao, files)
        else:
            protocolo = result.get("protocolo")
            if not protocolo:
                raise lifecycle.FaturaInvalida("O envio ao SAT concluiu sem protocolo.")
            done = lifecycle.concluir_sat(execucao, protocolo)
    except RpaUnavailable:
        _enqueue(poll_execucao, execucao.id, delay=current_app.config["RPA_POLL_INTERVAL"] * 5)
        return "download das faturas adiado"
    except (lifecycle.FaturaInvalida, RpaError) as exc:
        _fail(execucao, str(exc))
        return "falhou"
    except lifecycle.ProcessoError as exc:
        _fail(execucao, f"O processo mudou durante a execução: {exc.message}")
        return "falhou"
    db.session.refresh(execucao)
    if done:
        publish_status(execucao)
    get_redis().delete(_lease_key(execucao.id))
    return "COMPLETED"


def reconcile() -> dict:
    """Resume following active runs whose follower is gone; fail those past the time limit."""
    limit = timedelta(hours=current_app.config["EXECUCAO_MAX_HORAS"])
    grace = timedelta(seconds=_lease_seconds())
    now = utcnow()
    resumed = failed = 0
    redis = get_redis()
    active = db.session.scalars(db.select(Execucao).where(Execucao.status.in_(StatusExecucao.ACTIVE))).all()
    for execucao in active:
        if now - execucao.created_at > limit:
            _fail(execucao, f"Tempo limite de {current_app.config['EXECUCAO_MAX_HORAS']:g} h excedido; "
                            "use Executar Novamente.")
            failed += 1
        elif not redis.exists(_lease_key(execucao.id)) and now - execucao.updated_at > min(grace, timedelta(seconds=5)):
            func = start_execucao if execucao.status == StatusExecucao.PENDENTE else poll_execucao
            _enqueue(func, execucao.id)
            resumed += 1
    return {"retomadas": resumed, "falhas": failed}
