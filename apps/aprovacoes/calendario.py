"""Due dates in business days: the monthly schedule's calendar (weekends and Brazilian national holidays)."""
from datetime import date, timedelta

from apps.processos.schedule import is_business_day


def somar_dias_uteis(inicio: date, dias: int) -> date:
    """The `dias`-th business day after `inicio` (`inicio` itself when dias is 0)."""
    day, left = inicio, max(0, int(dias))
    while left:
        day += timedelta(days=1)
        if is_business_day(day):
            left -= 1
    return day
