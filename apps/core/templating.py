"""Jinja filters and globals: money, dates in São Paulo time, CNPJ, masks, status and action words, permissions."""
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app, request, url_for

from apps.auth.policy import can
from apps.auth.roles import role_name
from apps.clientes.cnpj import format_cnpj
from apps.core.audit import ACTION_LABELS
from apps.processos.models import StatusExecucao, StatusProcesso, TipoExecucao

STATUS_LABELS = {**StatusProcesso.LABELS, **StatusExecucao.LABELS}


def brl(value) -> str:
    """Decimal('1234.5') -> 'R$ 1.234,50'."""
    if value is None:
        return "—"
    text = f"{Decimal(value):,.2f}"
    return "R$ " + text.replace(",", "_").replace(".", ",").replace("_", ".")


def local_dt(value, fmt="%d/%m/%Y %H:%M") -> str:
    """A UTC datetime shown in the office's timezone."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt)
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def status_label(code) -> str:
    """A processo or execução status as people say it ('AGUARDANDO_DOWNLOAD' -> 'Aguardando download')."""
    return STATUS_LABELS.get(code, code or "")


def tipo_label(code) -> str:
    """An execução's tipo as people say it ('ENVIO_SAT' -> 'Envio ao SAT')."""
    return TipoExecucao.LABELS.get(code, code or "")


def action_label(code) -> str:
    """An audit action as people say it ('processo_aprovar' -> 'Processo aprovado')."""
    return ACTION_LABELS.get(code, code or "")


def duration(seconds) -> str:
    """A duration in seconds as '1 h 02 min', '3 min 07 s' or '12 s'."""
    if seconds is None:
        return "—"
    total = max(0, round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def mask_secret(value: str | None, keep: int = 6) -> str:
    """Show only the last characters of a secret."""
    if not value:
        return "—"
    return "•" * 8 + value[-keep:] if len(value) > keep * 2 else "•" * 8


def page_url(page: int, pagination=None) -> str:
    """The current URL with another `page` (keeps the filters); a pagination that locates its pages from a
    known row (SeekPagination.link_args) adds that row to the link."""
    args = request.args.to_dict()
    args.update(request.view_args or {})
    for name in ("ref", "ref_pos", "page"):
        args.pop(name, None)
    if hasattr(pagination, "link_args"):
        args.update(pagination.link_args(page))
    args["page"] = page  # last, as the links always ended
    return url_for(request.endpoint, **args)


def has_endpoint(endpoint: str) -> bool:
    """True when the app has this endpoint (the menu shows only what exists)."""
    return endpoint in current_app.view_functions


def init_app(app):
    app.jinja_env.filters.update(segundos=duration, brl=brl, local_dt=local_dt, cnpj=format_cnpj, mask_secret=mask_secret,
                                 status_label=status_label, tipo_label=tipo_label, action_label=action_label)
    app.jinja_env.globals.update(can=can, has_endpoint=has_endpoint, page_url=page_url, role_name=role_name)
