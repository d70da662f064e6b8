"""API v1: the audit trail for admins, with the audit page's filters."""
from flask import jsonify, request

from apps.api.blueprint import bp
from apps.api.helpers import list_envelope
from apps.auditoria.services import filtered_query, parse_filters
from apps.auth.policy import requires
from apps.core.errors import ApiError


def audit_json(entry) -> dict:
    return {"id": str(entry.id), "created_at": entry.created_at.isoformat(),
            "user_id": str(entry.user_id) if entry.user_id else None, "username": entry.username,
            "acao": entry.action, "entity_type": entry.entity_type, "entity_id": entry.entity_id,
            "detalhe": entry.detail, "ip": entry.ip}


def _filters() -> dict:
    """The page's filters; a date the page would silently drop is a 400 here."""
    filters = parse_filters(request.args)
    wrong = {key: "data AAAA-MM-DD" for key in ("de", "ate") if request.args.get(key) and filters[key] is None}
    if wrong:
        raise ApiError(400, "Data inválida: use o formato AAAA-MM-DD.", wrong)
    return filters


@bp.get("/v1/auditoria")
@requires("auditoria.ler")
def api_auditoria_list():
    """The trail, newest first, filtered by usuario, acao, registro, de and ate (AAAA-MM-DD), paginated."""
    return jsonify(list_envelope(filtered_query(_filters()), audit_json))
