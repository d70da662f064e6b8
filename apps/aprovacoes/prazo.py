"""The approval clock: now, today in the office's time zone, and due dates counted in business days.

`agora()` is the one place tests move this clock. Business days are the monthly schedule's (weekends
and Brazilian national holidays); `somar_dias_uteis` is in calendario.py, which imports the schedule
(this module must not: processos.services imports the four-eyes rules, which read the clock).
"""
from datetime import date, datetime

from apps.core.clock import local_tz
from apps.core.types import utcnow


def agora() -> datetime:
    """Now (aware, UTC)."""
    return utcnow()


def hoje(now: datetime | None = None) -> date:
    """The office's date at `now` (default: agora())."""
    return (now or agora()).astimezone(local_tz()).date()


def vencida(prazo: date, today: date) -> bool:
    return prazo < today
