"""The seed's /api/v2/logs-tempo-real routes (session cookie or Bearer; the SSE stream is in apps.realtime).

As in the seed: `teste-conexao` tests the connection to the external RPA API and whether the global
token is accepted (beside Redis and the database), and `status-job` answers the RPA API's own view
of the job (beside our execucao). Neither ever shows a token.
"""
from flask import current_app, jsonify
from redis import RedisError
from sqlalchemy import text, update
from sqlalchemy.exc import SQLAlchemyError

from apps.api.blueprint import bp
from apps.api.helpers import json_body
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.queues import QueueUnavailable, get_redis
from apps.core.types import db, utcnow
from apps.processos import queries
from apps.processos.models import Execucao, StatusExecucao
from apps.realtime.events import status_payload
from apps.rpa import connect, follow
from apps.rpa.answers import clean_text
from apps.rpa.client import RpaError
from apps.rpa.runs import end_run
from apps.rpa.token import test_connection

PREFIX = "/v2/logs-tempo-real"
REPORTED = {"COMPLETED": StatusExecucao.CONCLUIDO, "FAILED": StatusExecucao.FALHOU}


def _execucao_or_404(job_id: str):
    execucao = queries.execucao_por_job(job_id)
    if execucao is None:
        raise ApiError(404, "Nenhuma execução com este job_id.")
    return execucao


def _mark_end(execucao) -> None:
    """Record when the robot said it finished; the follower overwrites it when it records the result."""
    db.session.execute(
        update(Execucao).where(Execucao.id == execucao.id, Execucao.status == StatusExecucao.EXECUTANDO,
                               Execucao.data_fim.is_(None))
        .values(data_fim=utcnow(), updated_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(execucao)


@bp.post(f"{PREFIX}/atualizar-status/<job_id>")
@requires("processo.executar")
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
        end_run(execucao, error=clean_text(mensagem or "O robô informou falha sem mensagem.", 2000))
        return jsonify(status_payload(execucao))
    # COMPLETED: we do not take faturas from this call. The invoices (and their hashes) come only
    # from GET /jobs/{id} and the file downloads of the RPA API, so the follower job fetches and
    # checks them; a caller here cannot make up invoices or skip those checks.
    try:
        follow.enqueue_poll(execucao)
    except QueueUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    _mark_end(execucao)
    return jsonify(status_payload(execucao)), 202


def _rpa_job(execucao) -> dict:
    """{"job": the RPA API's own answer} or {"job_erro": why it could not be read}."""
    if not execucao.job_id:
        return {"job": None, "job_erro": "A execução ainda não tem job na API RPA."}
    try:
        with connect.client_for_execucao(execucao, max_retries=0) as client:
            return {"job": client.get_job_raw(execucao.job_id)}
    except RpaError as exc:
        return {"job": None, "job_erro": exc.message}


@bp.get(f"{PREFIX}/status-job/<job_id>")
@requires("processo.ler")
def logs_v2_status_job(job_id):
    """Our execucao for an RPA job id, plus the RPA API's own answer for that job."""
    execucao = _execucao_or_404(job_id)
    return jsonify({**status_payload(execucao), **_rpa_job(execucao)})


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
@requires("processo.ler")
def logs_v2_teste_conexao():
    """Whether the external RPA API answers and accepts the global token; Redis and the database beside."""
    result = test_connection(record=False, latency=True)
    api = {"url": current_app.config["API_EXTERNA_URL"], "alcancavel": result["api_ok"],
           "token_valido": result["token_ok"], "latencia_ms": result["latencia_ms"], "detalhe": result["message"]}
    redis_ok, database_ok = _redis_ok(), _database_ok()
    return jsonify(ok=bool(result["ok"] and redis_ok and database_ok), api_externa=api, redis=redis_ok,
                   database=database_ok)
