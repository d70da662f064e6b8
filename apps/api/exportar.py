"""API v1: the month's export, the same CSV the processo list's button downloads."""
from flask import request

from apps.api.blueprint import bp
from apps.auth.policy import VIEW, access
from apps.core.clock import current_competencia, is_competencia
from apps.core.errors import ApiError
from apps.processos import export


@bp.get("/v1/processos/exportar.csv")
@access(VIEW)
def api_processos_exportar():
    """The competência's processos and faturas as CSV for Excel (the current month when none is given)."""
    competencia = request.args.get("competencia", "").strip() or current_competencia()
    if not is_competencia(competencia):
        raise ApiError(400, "Competência inválida: use o formato AAAA-MM, por exemplo 2026-01.",
                       {"competencia": "AAAA-MM"})
    return export.month_response(competencia)
