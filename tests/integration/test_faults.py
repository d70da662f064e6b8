"""The RPA API misbehaving: 5xx/429, an expired token, a failed robot run, a corrupt invoice."""
from sqlalchemy import select

from apps.auth.models import Role, User
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.processos import services
from apps.processos.models import Fatura, StatusExecucao, StatusProcesso
from apps.rpa.client import AUTH_MESSAGE
from tests.integration.conftest import wait_for
from tests.integration.helpers import (
    SimHttp,
    count,
    execucoes_of,
    finished,
    processo_of,
    stored_files,
    stored_logs,
)


def _run(processo, by=None, timeout=15):
    """Executar through the service, then wait for the execucao to end."""
    execucao = services.executar(processo_of(processo.id), by=by)
    return wait_for(lambda: finished(execucao.id), timeout, message="execução terminar")


def test_503_then_429_then_accepted_starts_exactly_one_robot_run(cycle, sim, processo):
    sim.fault("503", 1, path="/executar")
    sim.fault("429", 1, retry_after=1, path="/executar")
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    stats = sim.stats()
    assert stats["faults_served"] == {"503": 1, "429": 1}
    assert stats["requests"]["POST /executar/{operadora}"] == 3
    assert stats["jobs_created"] == {"download": 1, "sat": 0}
    assert stats["idempotent_replays"] == 0
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_APROVACAO


def test_expired_token_is_renewed_once_with_brm_token_password(cycle, sim, processo, users):
    expired = sim.issue_token(ttl_seconds=-60)
    cycle.configure(API_EXTERNA_TOKEN=expired, BRM_TOKEN_PASSWORD=sim.password)
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    stats = sim.stats()
    assert stats["refreshes"] == 1 and stats["auth_failures"] == 1
    assert stats["jobs_created"]["download"] == 1
    admin = db.session.get(User, users[Role.ADMIN].id, populate_existing=True)
    assert admin.api_externa_token and admin.api_externa_token != expired
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "token_global_renovado")).all()
    assert "401" in entry.detail and admin.username in entry.detail
    assert admin.api_externa_token not in entry.detail and expired not in entry.detail


def test_expired_token_without_brm_token_password_fails_telling_an_admin_what_to_do(cycle, sim, processo, users):
    expired = sim.issue_token(ttl_seconds=-60)
    cycle.configure(API_EXTERNA_TOKEN=expired, BRM_TOKEN_PASSWORD="")
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.FALHOU
    assert execucao.mensagem == AUTH_MESSAGE
    assert "administrador" in execucao.mensagem and "BRM_TOKEN_PASSWORD" in execucao.mensagem
    assert expired not in execucao.mensagem and expired[-12:] not in execucao.mensagem
    assert execucao.data_fim is not None and execucao.job_id is None
    stats = sim.stats()
    assert stats["refreshes"] == 0 and stats["jobs_created"]["download"] == 0
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_DOWNLOAD
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "execucao_falhou")).all()
    assert expired not in entry.detail


def test_failed_robot_run_is_recorded_and_a_new_run_succeeds(cycle, sim, processo):
    sim.set_config(failure_rate=1)
    cycle.start_workers(1)

    failed = _run(processo)

    assert failed.status == StatusExecucao.FALHOU
    job = SimHttp(sim).job(failed.job_id)
    assert job["status"] == "FAILED" and failed.mensagem == job["error"]
    assert stored_logs(failed.id) == SimHttp(sim).logs(failed.job_id)
    assert "falhou" in stored_logs(failed.id)[-1][2]
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_DOWNLOAD
    assert count(Fatura) == 0

    sim.set_config(failure_rate=0)
    again = _run(processo)

    assert again.status == StatusExecucao.CONCLUIDO, again.mensagem
    assert again.id != failed.id and again.job_id != failed.job_id
    assert [e.status for e in execucoes_of(processo.id)] == [StatusExecucao.FALHOU, StatusExecucao.CONCLUIDO]
    assert sim.stats()["jobs_created"]["download"] == 2
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_APROVACAO


def test_invoice_with_a_wrong_sha256_fails_the_run_and_keeps_nothing(cycle, sim, processo):
    sim.set_config(corrupt_sha256=1)
    cycle.start_workers(1)
    files_before = stored_files()

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.FALHOU
    first = SimHttp(sim).job(execucao.job_id)["result"]["faturas"][0]
    assert f"Fatura {first['numero']}" in execucao.mensagem and "sha256" in execucao.mensagem
    assert count(Fatura) == 0
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_DOWNLOAD
    assert stored_files() == files_before
