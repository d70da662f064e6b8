"""The demo seed `make run` runs at each start: only an empty database (or DEMO=1), and never a month
the monthly schedule would not open."""
from datetime import UTC, datetime

from sqlalchemy import func, select

from apps.clientes.models import Cliente
from apps.core.demo import database_is_empty, seed_demo, seed_if_empty, wanted
from apps.core.types import db
from apps.processos.models import Processo
from apps.processos.schedule import due_competencia
from tests.factories import ClienteFactory

# 1 June 2026 is a Monday: the first business day; the default schedule opens the month at 03:00
# in São Paulo, 06:00 UTC.
BEFORE = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
AFTER = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def processos() -> int:
    return db.session.scalar(select(func.count()).select_from(Processo))


def test_before_the_schedules_moment_the_seed_opens_no_month(app):
    created = seed_demo(n_clientes=5, now=BEFORE)
    assert created["clientes"] == 5 and created["processos"] == 0 and processos() == 0
    assert due_competencia(BEFORE) is None  # and nothing was credited to the scheduler


def test_once_the_month_is_due_the_seed_opens_it_like_the_scheduler_and_only_once(app):
    created = seed_demo(n_clientes=5, now=AFTER)
    assert created["processos"] == 5 and processos() == 5
    assert due_competencia(AFTER) is None  # the scheduler will not open it again
    ClienteFactory()  # a cliente created later this month waits for the next month, as with the scheduler
    db.session.commit()
    assert seed_demo(n_clientes=5, now=AFTER)["processos"] == 0 and processos() == 5


def test_a_database_with_data_is_left_alone_unless_demo_is_asked_for(app):
    assert database_is_empty()
    ClienteFactory.create_batch(3)
    db.session.commit()
    assert not database_is_empty()
    assert seed_if_empty(now=AFTER) is None
    assert db.session.scalar(select(func.count()).select_from(Cliente)) == 3 and processos() == 0
    created = seed_if_empty(force=True, now=AFTER)
    assert created["clientes"] == 40 and processos() == 43  # DEMO=1: seeded, and the due month opened


def test_demo_1_is_what_forces_it():
    assert wanted({"DEMO": "1"}) and wanted({"DEMO": " sim "})
    assert not wanted({}) and not wanted({"DEMO": "0"}) and not wanted({"DEMO": ""})


def test_the_demo_approver_is_in_every_demo_operadoras_group(app, tmp_path, monkeypatch):
    from apps.aprovacoes import tarefas
    from apps.operadoras.models import Operadora

    monkeypatch.setitem(app.config, "INSTANCE_DIR", tmp_path)
    monkeypatch.delenv("DEMO_APROVADOR_PASSWORD", raising=False)
    created = seed_demo(n_clientes=4, now=BEFORE)
    username, password = created["aprovador"]
    assert username == "aprovador" and (tmp_path / "aprovador_password").read_text().strip() == password
    assert (tmp_path / "aprovador_password").stat().st_mode & 0o077 == 0
    for operadora in db.session.scalars(select(Operadora)):
        assert [u.username for u in operadora.aprovadores] == ["aprovador"]
    assert tarefas.lands_on_inbox(db.session.scalar(select(Operadora)).aprovadores[0])
    assert seed_demo(n_clientes=4, now=BEFORE)["aprovador"] is None  # a second seed keeps the user and password
