"""Audit trail: filtered list and CSV export."""
from flask import Response, render_template, request, stream_with_context

from apps.auditoria.blueprint import bp
from apps.auditoria.services import action_choices, csv_rows, filtered_query, parse_filters, record_links
from apps.auth.policy import requires
from apps.core.audit import ENTITY_LABELS
from apps.core.pagination import paginate


@bp.route("/auditoria", endpoint="list")
@requires("auditoria.ler")
def trail():
    """The trail, newest first, filtered by user, action, record and date."""
    filters = parse_filters(request.args)
    pagination = paginate(filtered_query(filters), per_page=50)
    return render_template("auditoria/list.html", pagination=pagination, filters=filters, actions=action_choices(),
                           links=record_links(pagination.items), entity_labels=ENTITY_LABELS)


@bp.route("/auditoria/exportar.csv")
@requires("auditoria.ler")
def export():
    """The filtered trail as CSV (UTF-8 with BOM, `;`, for Excel), streamed."""
    filters = parse_filters(request.args)
    response = Response(stream_with_context(csv_rows(filtered_query(filters))), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="auditoria.csv"'
    return response
