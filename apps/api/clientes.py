"""API v1: clientes."""
from flask import jsonify, request, url_for

from apps.api.blueprint import bp
from apps.api.helpers import bool_arg, get_or_404, json_body, list_envelope, uuid_arg, with_location
from apps.api.serializers import CLIENTE_FIELDS, check_payload
from apps.auth.policy import current_identity, requires
from apps.clientes import services
from apps.clientes.models import Cliente
from apps.core.types import db


@bp.get("/v1/clientes")
@requires("cliente.ler")
def clientes_list():
    """Clientes, filtered by ?q (nome, código, CNPJ), ?operadora_id and ?ativo, paginated."""
    query = services.list_query(request.args.get("q"), uuid_arg("operadora_id"), bool_arg("ativo"))
    return jsonify(list_envelope(query, services.serialize))


@bp.post("/v1/clientes")
@requires("cliente.gerenciar")
def clientes_create():
    """Create a cliente: 201 with the new record."""
    data = check_payload(json_body(), CLIENTE_FIELDS)
    cliente = services.create_cliente(data, by=current_identity())
    db.session.commit()
    return with_location(services.serialize(cliente), url_for("api.clientes_get", cliente_id=cliente.id))


@bp.get("/v1/clientes/<cliente_id>")
@requires("cliente.ler")
def clientes_get(cliente_id):
    """One cliente."""
    return jsonify(services.serialize(get_or_404(Cliente, cliente_id, "Cliente")))


@bp.patch("/v1/clientes/<cliente_id>")
@requires("cliente.gerenciar")
def clientes_update(cliente_id):
    """Change some fields of a cliente."""
    cliente = get_or_404(Cliente, cliente_id, "Cliente")
    data = check_payload(json_body(), CLIENTE_FIELDS)
    services.update_cliente(cliente, data, by=current_identity())
    db.session.commit()
    return jsonify(services.serialize(cliente))


@bp.delete("/v1/clientes/<cliente_id>")
@requires("cliente.gerenciar")
def clientes_delete(cliente_id):
    """Deactivate a cliente (nothing is deleted): 204."""
    cliente = get_or_404(Cliente, cliente_id, "Cliente")
    services.set_active(cliente, False, by=current_identity())
    db.session.commit()
    return "", 204
