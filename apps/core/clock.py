"""The business's local time (America/Sao_Paulo by default) and the competência: the one owner of what
"this month" means, of the competência of a moment, and of what a competência looks like ('YYYY-MM')."""
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app

DEFAULT_TIMEZONE = "America/Sao_Paulo"
COMPETENCIA_FORMAT = "%Y-%m"
_COMPETENCIA = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def as_tz(tz) -> ZoneInfo:
    """A ZoneInfo from a ZoneInfo, a name, or None (the default time zone)."""
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz or DEFAULT_TIMEZONE)


def local_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def competencia_of(moment: datetime, tz=DEFAULT_TIMEZONE) -> str:
    """The competência ('YYYY-MM') of an aware moment, in the time zone `tz`."""
    return moment.astimezone(as_tz(tz)).strftime(COMPETENCIA_FORMAT)


def current_competencia() -> str:
    """This month as a competência, in the office's time zone (TIMEZONE)."""
    return competencia_of(datetime.now(UTC), local_tz())


def is_competencia(value) -> bool:
    """Whether `value` is a competência: 'YYYY-MM' with a real month (year 0000 refused)."""
    return isinstance(value, str) and bool(_COMPETENCIA.match(value)) and value[:4] != "0000"
