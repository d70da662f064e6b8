"""API v1: the month's export, the same CSV the processo list's button downloads (with the same filters)."""
from flask import request

from apps.api.blueprint import bp
from apps.api.helpers import uuid_arg
from apps.auth.policy import requires
from apps.core.clock import current_competencia, is_competencia
from apps.core.errors import ApiError
from apps.processos import export
from apps.processos.models import StatusProcesso


@bp.get("/v1/processos/exportar.csv")
@requires("processo.ler")
def api_processos_exportar():
    """The competência's processos and faturas as CSV for Excel (the current month when none is given),
    narrowed by status, operadora_id and q (cliente nome or CNPJ) like the list."""
    competencia = request.args.get("competencia", "").strip() or current_competencia()
    if not is_competencia(competencia):
        raise ApiError(400, "Competência inválida: use o formato AAAA-MM, por exemplo 2026-01.",
                       {"competencia": "AAAA-MM"})
    status = request.args.get("status") or None
    if status and status not in StatusProcesso.ALL:
        raise ApiError(400, "Status desconhecido.", {"status": "um de " + ", ".join(StatusProcesso.ALL)})
    q = request.args.get("q", "").strip() or None
    return export.month_response(competencia, status=status, operadora_id=uuid_arg("operadora_id"), q=q)
