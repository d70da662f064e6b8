"""Reminders and escalation: on the due day the responsavel (PRAZO_HOJE), once overdue the group and the admins
(PRAZO_VENCIDO) at most once a day; reruns tell nobody twice; nothing is ever approved by a timeout."""
from datetime import date

import pytest

from apps.aprovacoes import lembretes, tarefas
from apps.auth.models import Role, User
from apps.core.types import db
from apps.notificacoes import events
from apps.processos.models import StatusProcesso
from tests.factories import OperadoraFactory
from tests.support.aprovacoes import approver, at, group, make_clock, spy_notify, waiting


@pytest.fixture
def clock(monkeypatch):
    return make_clock(monkeypatch)


@pytest.fixture
def told(monkeypatch):
    return spy_notify(monkeypatch)


@pytest.fixture
def setup(clock, told):
    vivo = OperadoraFactory(codigo="VIVO")
    ana, bia = approver("ana"), approver("bia")
    approver("chefe", role=Role.ADMIN)
    group(vivo, ana)
    processo = waiting(vivo, "Padaria Aurora")   # Friday 30 Oct; prazo Wednesday 4 Nov (2 Nov is Finados)
    group(vivo, ana, bia)
    told.clear()
    return processo


def run(clock, *moment):
    clock.set(at(*moment))
    return lembretes.lembrar()


def test_due_day_reminds_the_responsavel_once(setup, clock, told):
    assert run(clock, 2026, 11, 3, 9)["hoje"] == 0          # the day before: nothing
    assert run(clock, 2026, 11, 4, 7, 30)["hoje"] == 0      # due day, before APROVACOES_LEMBRETE_HORA (08:00)
    assert told == []
    assert run(clock, 2026, 11, 4, 8, 5)["hoje"] == 1
    assert told == [(events.PRAZO_HOJE, ["ana"], "Processo de Padaria Aurora (2026-10): a aprovação vence hoje",
                     "/aprovacoes")]
    assert run(clock, 2026, 11, 4, 8, 20) == {"hoje": 0, "vencidas": 0, "abertas": 0, "fechadas": 0,
                                              "tarefas_hoje": 0, "tarefas_vencidas": 0}
    assert len(told) == 1


def test_overdue_tells_the_group_and_the_admins_once_a_day(setup, clock, told):
    run(clock, 2026, 11, 4, 9)
    told.clear()
    assert run(clock, 2026, 11, 5, 9)["tarefas_vencidas"] == 1
    assert sorted(told) == [(events.PRAZO_VENCIDO, [name], "Processo de Padaria Aurora (2026-10): aprovação vencida "
                             "desde 04/11/2026", "/aprovacoes") for name in ("ana", "bia", "chefe")]
    run(clock, 2026, 11, 5, 15)                       # the same day again: nobody told twice
    assert len(told) == 3
    run(clock, 2026, 11, 6, 9)                        # the next day: once more
    assert len(told) == 6
    db.session.refresh(setup)
    assert setup.status == StatusProcesso.AGUARDANDO_APROVACAO  # never approved by a timeout


def test_an_absent_responsavel_is_covered_by_the_group(setup, clock, told):
    ana = db.session.scalar(db.select(User).where(User.username == "ana"))
    tarefas.definir_ausencia(ana, date(2026, 11, 10), by=None)
    db.session.commit()
    run(clock, 2026, 11, 4, 9)
    assert told == [(events.PRAZO_HOJE, ["bia"], "Processo de Padaria Aurora (2026-10): a aprovação vence hoje",
                     "/aprovacoes")]


def test_a_second_run_finds_nothing_left_to_tell(setup, clock, told):
    """Each task is claimed by a conditional UPDATE … RETURNING before anyone is told."""
    clock.set(at(2026, 11, 5, 9))
    first = lembretes.lembrar()
    second = lembretes.lembrar()
    assert first["tarefas_vencidas"] == 1 and second["tarefas_vencidas"] == 0


def test_many_tasks_are_one_message_per_person(clock, told):
    vivo = OperadoraFactory(codigo="VIVO")
    ana = approver("ana")
    group(vivo, ana)
    for nome in ("A", "B", "C"):
        waiting(vivo, nome)
    told.clear()
    run(clock, 2026, 11, 4, 9)
    assert told == [(events.PRAZO_HOJE, ["ana"], "3 aprovações vencem hoje", "/aprovacoes")]
