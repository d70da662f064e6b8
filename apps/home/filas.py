"""What the RQ queues hold (depth per registry, workers, failed jobs) and the admin's actions on failures.

Every read goes to Redis; a RedisError propagates to the caller, which shows the page with a
message instead of the figures (`overview()` does it itself). Actions are audited.
"""
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app
from redis import RedisError
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import JOB_ID_PATTERN, Job
from rq.results import Result

from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.queues import get_redis
from apps.core.types import db

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAILED_SHOWN = 50  # the newest failures listed on the page; the count shows the rest exist
REGISTRIES = ("queued", "scheduled", "started", "deferred", "failed")
WORKER_STATES = {"idle": "Ocioso", "busy": "Ocupado", "started": "Iniciando", "suspended": "Suspenso"}


class FilaError(ServiceError):
    """An action on a job that cannot be done (unknown job, not among the failures)."""

    status = 409


@dataclass
class FailedJob:
    id: str
    fila: str
    descricao: str
    falhou_em: datetime | None
    erro: str
    trace: str


@dataclass
class Overview:
    available: bool = True
    filas: list[dict] = field(default_factory=list)
    workers: list[dict] = field(default_factory=list)
    falhas: list[FailedJob] = field(default_factory=list)
    total_falhas: int = 0


def _queues(connection) -> list[Queue]:
    """Every queue Redis knows, plus the configured one even when it was never used."""
    names = {q.name for q in Queue.all(connection=connection)} | {current_app.config["RQ_QUEUE"]}
    return [Queue(name, connection=connection) for name in sorted(names)]


def queue_depths(connection=None) -> list[dict]:
    """One dict per queue: name and the job count in each registry (REGISTRIES)."""
    connection = connection or get_redis()
    return [{"nome": q.name, "queued": q.count, "scheduled": q.scheduled_job_registry.count,
             "started": q.started_job_registry.count, "deferred": q.deferred_job_registry.count,
             "failed": q.failed_job_registry.count} for q in _queues(connection)]


def _worker_row(worker) -> dict:
    state = worker.get_state()
    return {"nome": worker.name, "estado": state, "estado_label": WORKER_STATES.get(state, state),
            "filas": ", ".join(worker.queue_names()), "job_atual": worker.get_current_job_id(),
            "ultimo_sinal": worker.last_heartbeat, "desde": worker.birth_date}


def workers(connection=None) -> list[dict]:
    """The registered workers with their state, current job and last heartbeat."""
    connection = connection or get_redis()
    return sorted((_worker_row(w) for w in Worker.all(connection=connection)), key=lambda w: w["nome"])


def _last_line(trace: str) -> str:
    lines = [line for line in (trace or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "Falha sem mensagem registrada."


def _failed_job(job: Job) -> FailedJob:
    result = Result.fetch_latest(job)
    trace = result.exc_string if result is not None and result.type == Result.Type.FAILED else ""
    return FailedJob(id=job.id, fila=job.origin, descricao=job.description or job.id,
                     falhou_em=job.ended_at, erro=_last_line(trace or ""), trace=trace or "")


def failed_jobs(connection=None, limit: int = FAILED_SHOWN) -> tuple[list[FailedJob], int]:
    """The newest failed jobs of every queue (at most `limit`) and how many failures exist."""
    connection = connection or get_redis()
    ids, total = [], 0
    for queue in _queues(connection):
        registry = queue.failed_job_registry
        total += registry.count
        ids.extend(registry.get_job_ids(0, limit - 1, desc=True))
    jobs = [job for job in Job.fetch_many(ids, connection=connection) if job is not None]
    jobs.sort(key=lambda j: j.ended_at or EPOCH, reverse=True)
    return [_failed_job(job) for job in jobs[:limit]], total


def overview() -> Overview:
    """Everything the Filas page shows; `available=False` when Redis does not answer."""
    try:
        connection = get_redis()
        falhas, total = failed_jobs(connection)
        return Overview(filas=queue_depths(connection), workers=workers(connection), falhas=falhas,
                        total_falhas=total)
    except RedisError as exc:
        current_app.logger.warning("Redis unavailable for the queues page: %s", exc.__class__.__name__)
        return Overview(available=False)


def _fetch_failed(job_id: str, connection) -> Job:
    if not job_id or len(job_id) > 200 or not JOB_ID_PATTERN.fullmatch(job_id):
        raise FilaError("Identificador de tarefa inválido.")
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError as exc:
        raise FilaError("A tarefa não existe mais (já foi removida ou expirou).") from exc
    if job_id not in Queue(job.origin, connection=connection).failed_job_registry:
        raise FilaError("A tarefa não está entre as falhas (talvez já tenha sido reenfileirada).")
    return job


def _audit(action: str, job_id: str, detail: str, by) -> None:
    audit.record(action, entity_type="rq_job", entity_id=job_id[:64], detail=detail, user=by)
    db.session.commit()


def requeue(job_id: str, by) -> Job:
    """Put one failed job back on its queue."""
    connection = get_redis()
    job = _fetch_failed(job_id, connection)
    try:
        job = job.failed_job_registry.requeue(job)
    except InvalidJobOperation as exc:
        raise FilaError("A tarefa não está entre as falhas (talvez já tenha sido reenfileirada).") from exc
    _audit("fila_job_reenfileirado", job.id, f"fila {job.origin}: {job.description or job.id}"[:1000], by)
    return job


def requeue_all(by) -> int:
    """Put every failed job of every queue back on its queue; returns how many."""
    connection = get_redis()
    count = 0
    for queue in _queues(connection):
        registry = queue.failed_job_registry
        for job_id in registry.get_job_ids():
            try:
                registry.requeue(job_id)
                count += 1
            except (InvalidJobOperation, NoSuchJobError):
                continue  # requeued by someone else meanwhile, or expired
    if count:
        _audit("fila_jobs_reenfileirados", "todas", f"{count} tarefa(s) com falha reenfileirada(s)", by)
    return count


def delete(job_id: str, by) -> str:
    """Delete one failed job (and its results) for good."""
    connection = get_redis()
    job = _fetch_failed(job_id, connection)
    description = job.description or job.id
    job.delete()
    _audit("fila_job_excluido", job_id, f"fila {job.origin}: {description}"[:1000], by)
    return description
