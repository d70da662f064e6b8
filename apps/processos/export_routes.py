"""The month's export: GET /processos/exportar.csv?competencia=AAAA-MM, streamed for Excel."""
from flask import Response, abort, request, stream_with_context

from apps.auth.policy import VIEW, access
from apps.core.clock import current_competencia, is_competencia
from apps.processos import export
from apps.processos.blueprint import bp


@bp.route("/processos/exportar.csv", endpoint="exportar")
@access(VIEW)
def exportar():
    """The competência's processos and faturas as a CSV (the current month when none is given)."""
    competencia = request.args.get("competencia", "").strip() or current_competencia()
    if not is_competencia(competencia):
        abort(400, "Competência inválida: use o formato AAAA-MM, por exemplo 2026-01.")
    response = Response(stream_with_context(export.month_csv(competencia)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="processos-{competencia}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
