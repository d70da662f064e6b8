"""The seed's /api/v2/logs-tempo-real routes (session cookie or Bearer; the SSE stream is in apps.realtime)."""
from flask import jsonify
from redis import RedisError
from sqlalchemy import text, update
from sqlalchemy.exc import SQLAlchemyError

from apps.api import bp
from apps.api.helpers import json_body
from apps.auth.policy import OPERATE, VIEW, access
from apps.core.errors import ApiError
from apps.core.queues import QueueUnavailable, get_redis
from apps.core.types import db, utcnow
from apps.processos import execucoes as lifecycle
from apps.processos import queries
from apps.processos.models import Execucao, StatusExecucao
from apps.realtime.events import publish_status, status_payload

PREFIX = "/v2/logs-tempo-real"
REPORTED = {"COMPLETED": StatusExecucao.CONCLUIDO, "FAILED": StatusExecucao.FALHOU}


def _execucao_or_404(job_id: str):
    execucao = queries.execucao_por_job(job_id)
    if execucao is None:
        raise ApiError(404, "Nenhuma execução com este job_id.")
    return execucao


def _follow_now(execucao) -> None:
    """Ask the worker to look at the job now (QueueUnavailable when Redis is down)."""
    from apps.rpa import jobs

    jobs.enqueue_poll(execucao)


def _mark_end(execucao) -> None:
    """Record when the robot said it finished; the follower overwrites it when it records the result."""
    db.session.execute(
        update(Execucao).where(Execucao.id == execucao.id, Execucao.status == StatusExecucao.EXECUTANDO,
                               Execucao.data_fim.is_(None))
        .values(data_fim=utcnow(), updated_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(execucao)


@bp.post(f"{PREFIX}/atualizar-status/<job_id>")
@access(OPERATE)
def logs_v2_atualizar_status(job_id):
    """A robot (or a person) reports that a job ended: FAILED fails the run, COMPLETED wakes its follower."""
    data = json_body()
    status = data.get("status")
    if status not in REPORTED:
        raise ApiError(422, "Status inválido: use COMPLETED ou FAILED.", {"status": "COMPLETED ou FAILED"})
    mensagem = data.get("mensagem")
    if mensagem is not None and not isinstance(mensagem, str):
        raise ApiError(422, "A mensagem deve ser um texto.", {"mensagem": "texto"})
    execucao = _execucao_or_404(job_id)
    if not execucao.ativa:
        if execucao.status != REPORTED[status]:
            raise ApiError(409, f"A execução já terminou com status {execucao.status}.")
        return jsonify(status_payload(execucao))
    if status == "FAILED":
        if lifecycle.falhar(execucao, mensagem or "O robô informou falha sem mensagem."):
            publish_status(execucao)
        return jsonify(status_payload(execucao))
    # COMPLETED: we do not take faturas from this call. The invoices (and their hashes) come only
    # from GET /jobs/{id} and the file downloads of the RPA API, so the follower job fetches and
    # checks them; a caller here cannot make up invoices or skip those checks.
    try:
        _follow_now(execucao)
    except QueueUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    _mark_end(execucao)
    return jsonify(status_payload(execucao)), 202


@bp.get(f"{PREFIX}/status-job/<job_id>")
@access(VIEW)
def logs_v2_status_job(job_id):
    """Our execucao's status for an RPA job id."""
    return jsonify(status_payload(_execucao_or_404(job_id)))


def _redis_ok() -> bool:
    try:
        return bool(get_redis().ping())
    except RedisError:
        return False


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        db.session.rollback()
        return False


@bp.get(f"{PREFIX}/teste-conexao")
@access(VIEW)
def logs_v2_teste_conexao():
    """Whether Redis and the database answer (the API itself answered: ok)."""
    return jsonify(ok=True, redis=_redis_ok(), database=_database_ok())
