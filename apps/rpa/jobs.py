"""RQ jobs that drive a robot run on the RPA API. Jobs are thin: load by id, call services.

Following a run does not keep a worker busy: each `poll_execucao` looks once (new log lines,
then the job's status) and, while the robot is still working, schedules itself again after
RPA_POLL_INTERVAL seconds (RQ's scheduler, `enqueue_in`). A Redis lease per execucao says a
follower exists and names it: every enqueue writes a new follower token into the lease, and a
poll goes on only while the lease names it (or has expired). So the reconciler can restart
following any active execucao whose lease expired (its worker died), and a stale or duplicated
job (an RQ retry, a slow worker waking up) stops instead of growing a second chain of polls.
"""
import logging
import math
import uuid
from datetime import timedelta

from flask import current_app
from redis import RedisError
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from apps.core.logs import current_request_id
from apps.core.queues import QueueUnavailable, get_queue, get_redis
from apps.core.types import db, get_by_id, utcnow
from apps.processos import execucoes as lifecycle
from apps.processos.models import Execucao, StatusExecucao
from apps.realtime.events import publish_logs, publish_status
from apps.rpa.client import RpaAuthError, RpaClient, RpaError, RpaRejected, RpaUnavailable

log = logging.getLogger(__name__)
JOB_TIMEOUT = 300
TERMINAL = {"COMPLETED", "FAILED"}
MAX_LOG_PAGES = 50
RECENT = timedelta(seconds=5)  # a row changed this recently is being worked on: leave it alone
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
# Take the lease when it is free or already names this follower; refuse when it names another.
CLAIM_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


def _lease_key(execucao_id) -> str:
    return f"rpa:follow:{execucao_id}"


def _lease_seconds() -> int:
    return int(current_app.config.get("FOLLOW_LEASE_SECONDS", 120))


def _enqueue(func, execucao_id, delay: float = 0, job_id: str | None = None):
    """Enqueue (or schedule) the run's next job; the lease now names that job as its only follower."""
    queue = get_queue()
    follower = uuid.uuid4().hex
    kwargs = dict(job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=7 * 24 * 3600,
                  meta={"execucao_id": str(execucao_id), "request_id": current_request_id()},
                  retry=Retry(max=2, interval=[2, 10]))
    try:
        get_redis().set(_lease_key(execucao_id), follower, ex=math.ceil(delay) + _lease_seconds())
        if delay > 0:
            return queue.enqueue_in(timedelta(seconds=delay), func, str(execucao_id), follower, **kwargs)
        return queue.enqueue(func, str(execucao_id), follower, job_id=job_id, **kwargs)
    except RedisError as exc:
        raise QueueUnavailable() from exc


def _claim(execucao_id, follower: str | None) -> bool:
    """True when this job may follow the run: the lease names it, or nobody (it expired)."""
    token = follower or uuid.uuid4().hex  # a job queued without a token only takes a free lease
    return bool(get_redis().eval(CLAIM_SCRIPT, 1, _lease_key(execucao_id), token, _lease_seconds()))


def enqueue_start(execucao, job_id: str | None = None) -> None:
    """Queue the job that asks the RPA API to start this run."""
    job = _enqueue(start_execucao, execucao.id, job_id=job_id or f"rpa-start-{execucao.id}")
    execucao.rq_job_id = job.id
    db.session.commit()


def enqueue_poll(execucao) -> None:
    """Look at this run now (e.g. the robot reported its end): the new job becomes its only follower."""
    _enqueue(poll_execucao, execucao.id)


def _load(execucao_id):
    """The execucao as the database has it now (one SELECT, even if the session already holds it)."""
    return get_by_id(Execucao, execucao_id, populate_existing=True)


def _fail(execucao, message: str) -> None:
    if lifecycle.falhar(execucao, message):
        publish_status(execucao)
    get_redis().delete(_lease_key(execucao.id))
    _free_slot(execucao)


def _free_slot(execucao) -> None:
    """A run ended: let the operadora's next waiting run start."""
    from apps.rpa.throttle import dispatch

    try:
        dispatch(execucao.processo.cliente.operadora_id)
    except QueueUnavailable:
        log.warning("queue unavailable; waiting runs will be admitted by the reconciler")


def start_execucao(execucao_id: str, follower: str | None = None) -> str:
    """POST the run to the RPA API (idempotent by key), then start following it."""
    execucao = _load(execucao_id)
    if execucao is None or execucao.status != StatusExecucao.PENDENTE:
        return "nada a fazer"
    if execucao.data_inicio is None:
        return "aguardando vaga"  # not admitted by apps.rpa.throttle: the operadora is at its limit
    # Running now: the reconciler must not queue a second start while this one POSTs (and retries).
    get_redis().set(_lease_key(execucao.id), follower or uuid.uuid4().hex, ex=_lease_seconds())
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
    except RpaUnavailable as exc:
        _fail(execucao, str(exc))
        return "falhou"
    except (RpaError, ValueError) as exc:  # a 401 a refresh did not fix, other 4xx, bad URL, no job_id
        _fail(execucao, str(exc))
        return "falhou"
    if not lifecycle.marcar_executando(execucao, answer["job_id"]):
        return "já iniciada por outro job"  # a duplicated start: the one that won follows the run
    publish_status(execucao)
    _enqueue(poll_execucao, execucao.id)
    return str(answer["job_id"])


def poll_execucao(execucao_id: str, follower: str | None = None) -> str:
    """Look at the run once: store new log lines, then finish it or schedule the next look."""
    execucao = _load(execucao_id)
    if execucao is None or execucao.status != StatusExecucao.EXECUTANDO:
        return "nada a fazer"
    if not _claim(execucao.id, follower):
        return "outro seguidor ativo"
    return _poll_once(execucao)


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
        if not stored:
            return  # nothing new (a server ignoring `after`): don't ask again


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
    _free_slot(execucao)
    return "COMPLETED"


def _start_waiting(redis, execucao) -> bool:
    """True while the run's start job is still queued: behind other jobs, not lost."""
    if execucao.status != StatusExecucao.PENDENTE or not execucao.rq_job_id:
        return False
    try:
        return Job.fetch(execucao.rq_job_id, connection=redis).get_status(refresh=False) in WAITING
    except NoSuchJobError:
        return False


def reconcile() -> dict:
    """Resume following active runs whose follower is gone; fail those past the time limit;
    admit waiting runs where their operadora has free slots."""
    from apps.rpa.throttle import admitted_filter, dispatch_all

    limit = timedelta(hours=current_app.config["EXECUCAO_MAX_HORAS"])
    now = utcnow()
    resumed = failed = 0
    redis = get_redis()
    active = db.session.scalars(db.select(Execucao).where(admitted_filter())).all()
    for execucao in active:
        if now - execucao.created_at > limit:
            _fail(execucao, f"Tempo limite de {current_app.config['EXECUCAO_MAX_HORAS']:g} h excedido; "
                            "use Executar Novamente.")
            failed += 1
        elif (now - execucao.updated_at > RECENT and not redis.exists(_lease_key(execucao.id))
              and not _start_waiting(redis, execucao)):
            if execucao.status == StatusExecucao.PENDENTE:
                enqueue_start(execucao, job_id=f"rpa-start-{execucao.id}-{uuid.uuid4().hex[:8]}")
            else:
                _enqueue(poll_execucao, execucao.id)
            resumed += 1
    return {"retomadas": resumed, "falhas": failed, "admitidas": dispatch_all()}
