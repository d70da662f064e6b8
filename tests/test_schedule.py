"""The monthly schedule: business days and holidays, next run, catch-up, the job and the page."""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.processos import schedule
from apps.processos.models import Processo
from tests.conftest import repo_root
from tests.factories import ClienteFactory

SP = ZoneInfo("America/Sao_Paulo")
FBD = schedule.FIRST_BUSINESS_DAY
AT = time(3, 0)


def sp(*args) -> datetime:
    return datetime(*args, tzinfo=SP)


@pytest.mark.parametrize("year, month, expected", [
    (2026, 8, date(2026, 8, 3)),    # Saturday the 1st -> Monday
    (2027, 1, date(2027, 1, 4)),    # Friday 1st is a holiday, then a weekend -> Monday
    (2026, 11, date(2026, 11, 3)),  # Sunday the 1st, Monday 2nd is Finados -> Tuesday
    (2026, 5, date(2026, 5, 4)),    # Friday 1st is Labour Day -> Monday
    (2026, 9, date(2026, 9, 1)),    # an ordinary Tuesday
])
def test_first_business_day_skips_weekends_and_national_holidays(year, month, expected):
    assert schedule.scheduled_date(year, month, FBD) == expected


@pytest.mark.parametrize("day, year, month, expected", [
    (7, 2026, 9, date(2026, 9, 8)),     # 7 de setembro is a holiday -> the 8th
    (7, 2026, 11, date(2026, 11, 9)),   # a Saturday -> Monday
    (15, 2026, 7, date(2026, 7, 15)),   # an ordinary Wednesday
    (31, 2026, 2, date(2026, 2, 27)),   # clamped to the 28th (a Saturday) -> the last business day before
    (31, 2026, 5, date(2026, 5, 29)),   # Sunday the 31st: nothing left in May -> Friday 29th
])
def test_a_day_number_moves_to_a_business_day_inside_the_month(day, year, month, expected):
    assert schedule.scheduled_date(year, month, day) == expected


def test_next_run_is_this_months_moment_until_it_passes_then_next_months():
    assert schedule.next_run(sp(2026, 7, 20, 12, 0), FBD, AT) == sp(2026, 8, 3, 3, 0)
    assert schedule.next_run(sp(2026, 8, 1, 0, 0), FBD, AT) == sp(2026, 8, 3, 3, 0)
    assert schedule.next_run(sp(2026, 8, 3, 2, 59), FBD, AT) == sp(2026, 8, 3, 3, 0)
    assert schedule.next_run(sp(2026, 8, 3, 3, 0), FBD, AT) == sp(2026, 9, 1, 3, 0)
    assert schedule.next_run(sp(2026, 12, 10, 8, 0), FBD, AT) == sp(2027, 1, 4, 3, 0)


def test_next_run_compares_in_sao_paulo_time_not_utc():
    # 2026-08-03 05:30 UTC is 02:30 in São Paulo: the run of that morning is still ahead.
    after = datetime(2026, 8, 3, 5, 30, tzinfo=UTC)
    run = schedule.next_run(after, FBD, AT, "America/Sao_Paulo")
    assert run == datetime(2026, 8, 3, 6, 0, tzinfo=UTC)
    # 2026-09-01 01:00 UTC is still 31 August in São Paulo.
    assert schedule.competencia_of(datetime(2026, 9, 1, 1, 0, tzinfo=UTC)) == "2026-08"


def test_is_due_only_after_the_moment_and_until_the_competencia_is_generated():
    moment = sp(2026, 8, 3, 3, 0)
    assert not schedule.is_due(sp(2026, 8, 1, 10, 0), None, FBD, AT)        # Saturday: not yet
    assert not schedule.is_due(moment - timedelta(minutes=1), None, FBD, AT)
    assert schedule.is_due(moment, None, FBD, AT)
    assert not schedule.is_due(moment + timedelta(hours=1), moment + timedelta(minutes=2), FBD, AT)


def test_a_run_before_the_moment_does_not_count_for_this_month():
    # e.g. the demo seed generated the month on the 1st: the scheduled run still happens once.
    early = sp(2026, 8, 1, 9, 0)
    assert schedule.is_due(sp(2026, 8, 3, 3, 5), early, FBD, AT)


def test_catch_up_after_the_system_was_down_on_the_scheduled_day():
    # Down from 2 to 10 August: at start on the 10th the August run is still owed.
    assert schedule.is_due(sp(2026, 8, 10, 14, 0), None, FBD, AT)
    assert schedule.is_due(sp(2026, 8, 31, 23, 59), sp(2026, 7, 1, 3, 0), FBD, AT)


@pytest.mark.parametrize("value", ["0", "32", "primeiro", "-1", "1.5"])
def test_bad_day_settings_are_refused(value):
    with pytest.raises(ValueError, match="MONTHLY_SCHEDULE_DAY"):
        schedule.parse_day(value)


@pytest.mark.parametrize("value", ["3", "24:00", "03:60", "3h", "03-00"])
def test_bad_time_settings_are_refused(value):
    with pytest.raises(ValueError, match="MONTHLY_SCHEDULE_TIME"):
        schedule.parse_time(value)


def test_settings_are_parsed():
    assert schedule.parse_day(None) == FBD
    assert schedule.parse_day(" 5 ") == 5
    assert schedule.parse_time("7:30") == time(7, 30)


def _count(competencia):
    return db.session.scalar(select(func.count()).select_from(Processo).where(Processo.competencia == competencia))


def _audit_count():
    return db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == schedule.ACTION))


def test_monthly_job_creates_the_month_once(app):
    ClienteFactory.create_batch(3)
    ClienteFactory(ativo=False)
    # A past month, so the audit entry (stamped with the real clock) is after its moment.
    moment = sp(2024, 11, 1, 3, 0)  # Friday 1 November 2024 was a business day
    assert schedule.monthly_job(now=moment - timedelta(minutes=5)) == {"executado": False, "competencia": "2024-11"}
    assert _count("2024-11") == 0

    first = schedule.monthly_job(now=moment + timedelta(minutes=5))
    assert first == {"executado": True, "competencia": "2024-11", "criados": 3, "existentes": 0}
    second = schedule.monthly_job(now=moment + timedelta(minutes=10))
    assert second["executado"] is False
    assert _count("2024-11") == 3
    assert _audit_count() == 1
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == schedule.ACTION))
    assert entry.user_id is None and entry.entity_id == "2024-11"


def test_monthly_job_catches_up_a_missed_month(app):
    ClienteFactory.create_batch(2)
    result = schedule.monthly_job(now=sp(2024, 11, 20, 16, 0))  # long after the 1st
    assert result["executado"] is True and result["criados"] == 2


def test_monthly_job_does_nothing_while_another_run_holds_the_lock(app):
    from apps.core.queues import get_redis

    ClienteFactory.create_batch(3)
    ClienteFactory(ativo=False)
    get_redis().set("schedule:monthly:2024-11", "1", ex=60)
    assert schedule.monthly_job(now=sp(2024, 11, 5, 12, 0))["executado"] is False
    assert _count("2024-11") == 0


def test_day_rule_comes_from_the_config(app, monkeypatch):
    monkeypatch.setitem(app.config, "MONTHLY_SCHEDULE_DAY", "15")
    monkeypatch.setitem(app.config, "MONTHLY_SCHEDULE_TIME", "06:30")
    rule = schedule.current_rule()
    assert (rule.day, rule.at, rule.tz.key) == (15, time(6, 30), "America/Sao_Paulo")
    assert "dia 15" in schedule.describe(rule)


def test_cron_config_registers_the_reconcilers_and_the_monthly_check(app):
    from rq.cron import CronScheduler

    from apps.core.queues import get_redis

    scheduler = CronScheduler(connection=get_redis())
    scheduler.load_config_from_file(str(repo_root() / "apps" / "cron.py"))
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    assert set(jobs) >= {"apps.rpa.jobs.reconcile_periodic", "apps.clientes.importacao.reconcile",
                         "apps.processos.schedule.monthly_job", "apps.artefatos.retention.limpar_job"}
    assert jobs["apps.artefatos.retention.limpar_job"].interval == app.config["RETENCAO_INTERVAL"] == 24 * 3600
    assert {job.queue_name for job in jobs.values()} == {app.config["RQ_QUEUE"]}
    assert jobs["apps.rpa.jobs.reconcile_periodic"].interval == app.config["RECONCILE_INTERVAL"]
    assert jobs["apps.clientes.importacao.reconcile"].interval == app.config["RECONCILE_INTERVAL"]
    assert jobs["apps.aprovacoes.lembretes.lembretes_job"].interval == app.config["APROVACOES_CHECK_INTERVAL"]
    assert all(job.interval and not job.cron for job in jobs.values())  # interval jobs run at start: catch-up


def test_page_shows_rule_next_run_and_history(client, users, login):
    ClienteFactory.create_batch(3)
    ClienteFactory(ativo=False)
    login(users[Role.ADMIN])
    assert client.post("/agendamentos/executar", data={"competencia": "2026-03"}).status_code == 302
    body = client.get("/agendamentos").get_data(as_text=True)
    assert "primeiro dia útil" in body
    assert "(horário de São Paulo)" in body
    next_run = schedule.next_run(datetime.now(UTC), FBD, AT, SP)
    assert next_run.strftime("%d/%m/%Y às 03:00") in body
    assert "processos gerar-mensal" in body
    row = body.split('id="execucoes-agendadas"')[1]
    assert "admin" in row and "2026-03" in row and '<td class="text-end" data-label="Criados">3</td>' in row


def test_executar_agora_is_idempotent_and_says_what_it_did(admin_client):
    ClienteFactory.create_batch(3)
    ClienteFactory(ativo=False)
    first = admin_client.post("/agendamentos/executar", data={"competencia": "2026-12"}, follow_redirects=True)
    assert "Competência 2026-12: 3 processo(s) criado(s), 0 já existia(m)." in first.get_data(as_text=True)
    second = admin_client.post("/agendamentos/executar", data={"competencia": "2026-12"}, follow_redirects=True)
    assert "0 processo(s) criado(s), 3 já existia(m)." in second.get_data(as_text=True)
    assert _count("2026-12") == 3


def test_executar_agora_rejects_a_bad_competencia_next_to_the_field(admin_client):
    ClienteFactory.create_batch(3)
    ClienteFactory(ativo=False)
    response = admin_client.post("/agendamentos/executar", data={"competencia": "2026-13"})
    assert response.status_code == 422
    assert "Competência inválida" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Processo)) == 0


def test_only_admins_may_run_it_and_viewers_see_no_button(client, users, login):
    login(users[Role.OPERADOR])
    assert client.post("/agendamentos/executar", data={"competencia": "2026-12"}).status_code == 403
    body = client.get("/agendamentos").get_data(as_text=True)
    assert "Somente administradores" in body and "agendamentos/executar" not in body
    assert _count("2026-12") == 0


def test_the_crontab_line_says_se_devido_only_when_the_cli_takes_it(app, admin_client, monkeypatch):
    import click

    command = app.cli.commands["processos"].commands["gerar-mensal"]
    without = [p for p in command.params if p.name != "se_devido"]
    monkeypatch.setattr(command, "params", without)
    body = admin_client.get("/agendamentos").get_data(as_text=True)
    assert "0 3 1 * * cd " in body and "gerar-mensal --se-devido" not in body
    monkeypatch.setattr(command, "params", [*without, click.Option(["--se-devido", "se_devido"], is_flag=True)])
    body = admin_client.get("/agendamentos").get_data(as_text=True)
    assert "0 * * * * cd " in body and "processos gerar-mensal --se-devido &gt;&gt; instance/cron.log" in body


def test_a_bad_schedule_setting_is_explained_on_the_page_not_a_crash(app, client, users, login, monkeypatch):
    login(users[Role.VISUALIZADOR])
    monkeypatch.setitem(app.config, "MONTHLY_SCHEDULE_DAY", "segunda")
    response = client.get("/agendamentos")
    assert response.status_code == 200
    assert "MONTHLY_SCHEDULE_DAY inválido" in response.get_data(as_text=True)


def test_two_schedulers_reconcile_once_per_interval(app, monkeypatch):
    """rq cron has no leader: both schedulers enqueue the pass; the second in the same interval does nothing."""
    from apps.rpa import jobs

    passes = []
    monkeypatch.setattr(jobs, "reconcile", lambda: passes.append(1) or {"retomadas": 0})
    first, second = jobs.reconcile_periodic(), jobs.reconcile_periodic()
    assert first == {"retomadas": 0} and "ignorado" in second and passes == [1]
