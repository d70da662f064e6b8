"""The month's export: GET /processos/exportar.csv?competencia=AAAA-MM plus the list's filters, streamed for Excel."""
from flask import abort, request

from apps.auth.policy import requires
from apps.core.clock import current_competencia, is_competencia
from apps.processos import export
from apps.processos.blueprint import bp
from apps.processos.routes import _list_filters, _query_args


@bp.route("/processos/exportar.csv", endpoint="exportar")
@requires("processo.ler")
def exportar():
    """What the processo list shows for these filters, as a CSV of the competência (the current month when none is given)."""
    filters = _list_filters(request.args)  # the list's own parsing: the file holds what the filter shows
    filters["competencia"] = filters["competencia"] or current_competencia()
    if not is_competencia(filters["competencia"]):
        abort(400, "Competência inválida: use o formato AAAA-MM, por exemplo 2026-01.")
    args = _query_args(filters)
    return export.month_response(args.pop("competencia"), **args)
