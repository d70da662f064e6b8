"""Figures for the home dashboard."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from apps.core.types import db
from apps.processos.models import Processo, StatusProcesso


def current_competencia() -> str:
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y-%m")


def month_summary(competencia: str | None = None) -> dict:
    """Processos of a competência counted by status."""
    competencia = competencia or current_competencia()
    rows = db.session.execute(
        select(Processo.status, func.count()).where(Processo.competencia == competencia).group_by(Processo.status)
    ).all()
    counts = {status: 0 for status in StatusProcesso.ALL}
    counts.update(dict(rows))
    total = sum(counts.values())
    return {"competencia": competencia, "counts": counts, "total": total,
            "labels": StatusProcesso.LABELS,
            "done_pct": round(100 * counts[StatusProcesso.UPLOAD_REALIZADO] / total) if total else 0}
