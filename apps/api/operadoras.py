"""API v1: operadoras (robot settings and the write-only credential writable by an Admin only)."""
from flask import jsonify, request, url_for

from apps.api.blueprint import bp
from apps.api.helpers import bool_arg, get_or_404, json_body, list_envelope, with_location
from apps.api.serializers import OPERADORA_FIELDS, check_payload
from apps.auth.policy import current_identity, requires
from apps.core.types import db
from apps.operadoras import services
from apps.operadoras.models import Operadora

# credencial_rpa: write-only (a string stores it encrypted, null removes it); reads answer only
# credencial_configurada (true/false).
FIELDS = {**OPERADORA_FIELDS, services.CREDENTIAL_FIELD: (str, True)}


@bp.get("/v1/operadoras")
@requires("operadora.ler")
def operadoras_list():
    """Operadoras, filtered by ?q (código or nome) and ?ativo, paginated."""
    query = services.list_query(request.args.get("q"), bool_arg("ativo"))
    return jsonify(list_envelope(query, services.serialize))


@bp.post("/v1/operadoras")
@requires("operadora.gerenciar")
def operadoras_create():
    """Create an operadora: 201 with the new record."""
    data = check_payload(json_body(), FIELDS)
    operadora = services.create_operadora(data, by=current_identity())
    db.session.commit()
    return with_location(services.serialize(operadora), url_for("api.operadoras_get", operadora_id=operadora.id))


@bp.get("/v1/operadoras/<operadora_id>")
@requires("operadora.ler")
def operadoras_get(operadora_id):
    """One operadora."""
    return jsonify(services.serialize(get_or_404(Operadora, operadora_id, "Operadora")))


@bp.patch("/v1/operadoras/<operadora_id>")
@requires("operadora.gerenciar")
def operadoras_update(operadora_id):
    """Change some fields of an operadora."""
    operadora = get_or_404(Operadora, operadora_id, "Operadora")
    data = check_payload(json_body(), FIELDS)
    services.update_operadora(operadora, data, by=current_identity())
    db.session.commit()
    return jsonify(services.serialize(operadora))


@bp.delete("/v1/operadoras/<operadora_id>")
@requires("operadora.gerenciar")
def operadoras_delete(operadora_id):
    """Deactivate an operadora (nothing is deleted): 204."""
    operadora = get_or_404(Operadora, operadora_id, "Operadora")
    services.set_active(operadora, False, by=current_identity())
    db.session.commit()
    return "", 204
