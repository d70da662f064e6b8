"""Creating the month's processos (service and CLI) and the reconciler command."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.queues import get_queue
from apps.core.types import db, utcnow
from apps.processos.models import Execucao, Processo, StatusExecucao, StatusProcesso
from apps.processos.services import gerar_processos
from apps.processos.state import ProcessoError
from tests.test_state_machine import make_cliente, make_execucao, make_processo


def processos_of(competencia):
    return db.session.scalars(select(Processo).where(Processo.competencia == competencia)).all()


def test_one_processo_per_active_cliente_with_counts(users):
    ativos = [make_cliente() for _ in range(3)]
    inativo = make_cliente(ativo=False)
    db.session.commit()
    result = gerar_processos("2026-07", by=users[Role.OPERADOR])
    assert result == {"competencia": "2026-07", "criados": 3, "existentes": 0}
    created = processos_of("2026-07")
    assert {p.cliente_id for p in created} == {c.id for c in ativos}
    assert inativo.id not in {p.cliente_id for p in created}
    assert {p.status for p in created} == {StatusProcesso.AGUARDANDO_DOWNLOAD}
    assert {p.criado_por_id for p in created} == {users[Role.OPERADOR].id}
    assert len({p.id for p in created}) == 3


def test_second_run_creates_nothing_and_counts_existing():
    for _ in range(2):
        make_cliente()
    db.session.commit()
    assert gerar_processos("2026-07")["criados"] == 2
    again = gerar_processos("2026-07")
    assert (again["criados"], again["existentes"]) == (0, 2)
    assert len(processos_of("2026-07")) == 2


def test_a_new_cliente_gets_its_processo_on_the_next_run_and_others_are_kept():
    first = make_cliente()
    existing = make_processo(cliente=first, competencia="2026-07", status=StatusProcesso.AGUARDANDO_APROVACAO)
    make_cliente()
    db.session.commit()
    result = gerar_processos("2026-07")
    assert (result["criados"], result["existentes"]) == (1, 1)
    db.session.expire_all()
    assert db.session.get(Processo, existing.id).status == StatusProcesso.AGUARDANDO_APROVACAO


def test_other_months_are_independent():
    make_cliente()
    db.session.commit()
    gerar_processos("2026-06")
    assert gerar_processos("2026-07")["criados"] == 1
    assert db.session.scalar(select(func.count()).select_from(Processo)) == 2


def test_generation_is_audited():
    make_cliente()
    db.session.commit()
    gerar_processos("2026-07")
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "processos_gerados"))
    assert entry.entity_id == "2026-07"
    assert "1 criado(s)" in entry.detail


@pytest.mark.parametrize("bad", ["2026-13", "26-07", "2026-7", "julho", "", "2026-07-01"])
def test_bad_competencia_is_refused(bad):
    make_cliente()
    db.session.commit()
    with pytest.raises(ProcessoError) as caught:
        gerar_processos(bad)
    assert caught.value.status == 422
    assert "AAAA-MM" in caught.value.message
    assert db.session.scalar(select(func.count()).select_from(Processo)) == 0


def test_cli_gerar_mensal_prints_counts(runner):
    make_cliente()
    make_cliente()
    db.session.commit()
    result = runner.invoke(args=["processos", "gerar-mensal", "--competencia", "2026-08"])
    assert result.exit_code == 0, result.output
    assert "2026-08" in result.output
    assert "2 processo(s) criado(s), 0 já existente(s)" in result.output
    again = runner.invoke(args=["processos", "gerar-mensal", "--competencia", "2026-08"])
    assert "0 processo(s) criado(s), 2 já existente(s)" in again.output


def test_cli_gerar_mensal_defaults_to_the_current_month(runner, monkeypatch):
    monkeypatch.setattr("apps.core.clock.current_competencia", lambda: "2031-02")
    make_cliente()
    db.session.commit()
    result = runner.invoke(args=["processos", "gerar-mensal"])
    assert result.exit_code == 0, result.output
    assert len(processos_of("2031-02")) == 1


def test_cli_gerar_mensal_bad_competencia_fails_cleanly(runner):
    result = runner.invoke(args=["processos", "gerar-mensal", "--competencia", "2026/08"])
    assert result.exit_code != 0
    assert "AAAA-MM" in result.output


def test_cli_reconciliar_resumes_lost_runs_and_fails_stale_ones(runner):
    lost = make_execucao(make_processo(), status=StatusExecucao.PENDENTE)
    stale = make_execucao(make_processo(), status=StatusExecucao.EXECUTANDO, job_id="job-old")
    with db.engine.begin() as conn:
        table = Execucao.__table__
        conn.execute(table.update().where(table.c.id == lost.id).values(updated_at=utcnow() - timedelta(minutes=5)))
        conn.execute(table.update().where(table.c.id == stale.id).values(created_at=utcnow() - timedelta(days=2)))
    db.session.expire_all()  # the CLI runs in this test's app context and session
    result = runner.invoke(args=["processos", "reconciliar"])
    assert result.exit_code == 0, result.output
    assert "Execuções retomadas: 1; marcadas como falha: 1." in result.output
    db.session.expire_all()
    assert db.session.get(Execucao, stale.id).status == StatusExecucao.FALHOU
    starts = [job_id for job_id in get_queue().job_ids if job_id.startswith("rpa-start-")]
    assert len(starts) == 1  # the lost run's start (the stale run's failure notice is a job of its own)
