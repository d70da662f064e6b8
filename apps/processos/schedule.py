"""When the month's processos are created: the rule, the date arithmetic and the RQ job.

`rq cron` computes its next run from the moment it starts, so it never catches up a run
missed while it was down, and two `rq cron` processes both enqueue (FACTS.md). So cron only
asks often ("is it due?") and `monthly_job` decides: due when this month's scheduled moment
has passed and this competência has not been generated since. A lock and that check make
the job safe to run twice; `gerar_processos` is idempotent anyway.
"""
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from flask import current_app
from sqlalchemy import func, select

from apps.core.audit import AuditLog
from apps.core.clock import DEFAULT_TIMEZONE, as_tz, competencia_of  # noqa: F401 (competencia_of: the schedule speaks of it)
from apps.core.queues import get_redis
from apps.core.types import db
from apps.notificacoes import events
from apps.processos.services import gerar_processos

log = logging.getLogger(__name__)

FIRST_BUSINESS_DAY = "first_business_day"
DEFAULT_TZ = DEFAULT_TIMEZONE
ACTION = "processos_gerados"
LOCK_SECONDS = 600
WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")


@dataclass(frozen=True)
class Rule:
    """The monthly schedule: a day rule, a local time and the office's timezone."""

    day: str | int
    at: time
    tz: ZoneInfo


def parse_day(value) -> str | int:
    """'first_business_day' or a day of the month 1..31 (ValueError otherwise)."""
    text = str(value if value not in (None, "") else FIRST_BUSINESS_DAY).strip().lower()
    if text == FIRST_BUSINESS_DAY:
        return FIRST_BUSINESS_DAY
    if text.isdigit() and 1 <= int(text) <= 31:
        return int(text)
    raise ValueError(f"MONTHLY_SCHEDULE_DAY inválido: {value!r} (use first_business_day ou um dia de 1 a 31).")


def parse_time(value) -> time:
    """'HH:MM' (24 h) as a time (ValueError otherwise)."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value or "03:00").strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"MONTHLY_SCHEDULE_TIME inválido: {value!r} (use HH:MM, ex.: 03:00).")
    return time(int(match[1]), int(match[2]))


@lru_cache(maxsize=32)
def _holidays(year: int):
    return holidays.country_holidays("BR", years=year)


def is_business_day(day: date) -> bool:
    """Monday to Friday and not a Brazilian national holiday."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def _last_day(year: int, month: int) -> int:
    following = date(year + (month == 12), month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def scheduled_date(year: int, month: int, day_rule) -> date:
    """The day of `month` the rule picks.

    first_business_day: the first weekday that is not a national holiday. A day number N:
    day N (the month's last day if shorter), moved to the next business day, or to the last
    business day before it when none is left in the month.
    """
    last = _last_day(year, month)
    start = 1 if day_rule == FIRST_BUSINESS_DAY else min(int(day_rule), last)
    for day in range(start, last + 1):
        if is_business_day(date(year, month, day)):
            return date(year, month, day)
    for day in range(start - 1, 0, -1):
        if is_business_day(date(year, month, day)):
            return date(year, month, day)
    return date(year, month, start)  # a month without business days does not exist


def scheduled_at(year: int, month: int, day_rule, at: time, tz: ZoneInfo) -> datetime:
    """The scheduled moment of `month`, timezone-aware in `tz`."""
    return datetime.combine(scheduled_date(year, month, day_rule), at, tzinfo=tz)


def next_run(after: datetime, day_rule=FIRST_BUSINESS_DAY, at: time = time(3, 0), tz=DEFAULT_TZ) -> datetime:
    """The first scheduled moment strictly after `after` (an aware datetime)."""
    tz = as_tz(tz)
    local = after.astimezone(tz)
    candidate = scheduled_at(local.year, local.month, day_rule, at, tz)
    if candidate > after:
        return candidate
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return scheduled_at(year, month, day_rule, at, tz)


def is_due(now: datetime, last_run: datetime | None, day_rule=FIRST_BUSINESS_DAY,
           at: time = time(3, 0), tz=DEFAULT_TZ) -> bool:
    """This month's moment has passed and `last_run` (of this competência) is older than it."""
    tz = as_tz(tz)
    local = now.astimezone(tz)
    moment = scheduled_at(local.year, local.month, day_rule, at, tz)
    return now >= moment and (last_run is None or last_run < moment)


def describe(rule: Rule) -> str:
    """The rule in words, for the page."""
    hora = rule.at.strftime("%H:%M")
    if rule.day == FIRST_BUSINESS_DAY:
        return (f"No primeiro dia útil de cada mês, às {hora} ({rule.tz.key}): sábados, domingos e "
                "feriados nacionais são pulados.")
    return (f"No dia {rule.day} de cada mês, às {hora} ({rule.tz.key}); se não for dia útil, no próximo "
            "dia útil do mês (ou no último dia útil antes dele, se o mês acabar).")


def weekday_name(moment: datetime) -> str:
    return WEEKDAYS[moment.weekday()]


def _setting(name: str, default):
    value = current_app.config.get(name)
    return value if value not in (None, "") else os.environ.get(name, default)


def current_rule() -> Rule:
    """The rule from MONTHLY_SCHEDULE_DAY, MONTHLY_SCHEDULE_TIME and TIMEZONE."""
    return Rule(day=parse_day(_setting("MONTHLY_SCHEDULE_DAY", FIRST_BUSINESS_DAY)),
                at=parse_time(_setting("MONTHLY_SCHEDULE_TIME", "03:00")),
                tz=as_tz(current_app.config.get("TIMEZONE")))


def check_interval() -> int:
    """Seconds between the scheduler's "is it due?" checks (MONTHLY_CHECK_INTERVAL)."""
    value = _setting("MONTHLY_CHECK_INTERVAL", 300)
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        raise ValueError(f"MONTHLY_CHECK_INTERVAL inválido: {value!r} (use um número de segundos).") from None


def last_run(competencia: str) -> datetime | None:
    """When this competência's processos were last generated (the audit trail is the history)."""
    return db.session.scalar(select(func.max(AuditLog.created_at)).where(
        AuditLog.action == ACTION, AuditLog.entity_id == competencia))


def recent_runs(limit: int = 20) -> list[AuditLog]:
    """The latest generations of processos, newest first."""
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == ACTION)
                                   .order_by(AuditLog.created_at.desc()).limit(limit)))


def due_competencia(now: datetime | None = None) -> str | None:
    """The competência to generate now, or None when nothing is due."""
    rule = current_rule()
    now = now or datetime.now(UTC)
    competencia = competencia_of(now, rule.tz)
    if is_due(now, last_run(competencia), rule.day, rule.at, rule.tz):
        return competencia
    return None


def monthly_job(now: datetime | None = None) -> dict:
    """RQ job (every few minutes): generate this month's processos once the schedule says so."""
    now = now or datetime.now(UTC)
    competencia = competencia_of(now, current_rule().tz)
    redis, key = get_redis(), f"schedule:monthly:{competencia}"
    if not redis.set(key, "1", nx=True, ex=LOCK_SECONDS):
        return {"executado": False, "motivo": "outra execução em andamento"}
    try:
        if due_competencia(now) is None:
            return {"executado": False, "competencia": competencia}
        result = gerar_processos(competencia)
        if result["criados"]:
            events.notify(events.MES_ABERTO, events.operators(), link="/processos",
                          text=f"Competência {competencia} aberta: {result['criados']} processo(s) criado(s).")
            db.session.commit()
        log.info("monthly processos %s: %s created, %s existing", competencia, result["criados"], result["existentes"])
        return {"executado": True, **result}
    finally:
        redis.delete(key)
