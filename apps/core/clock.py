"""The business's local time (America/Sao_Paulo by default): what "this month" means."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app


def local_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def current_competencia() -> str:
    """This month as a competência ('YYYY-MM'), in local time."""
    return datetime.now(local_tz()).strftime("%Y-%m")
