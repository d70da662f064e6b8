"""API v1: the robot registry (everyone with view rights reads; admins change), drain, pinned versions."""
from flask import jsonify, url_for

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, json_body, with_location
from apps.api.serializers import check_payload
from apps.auth.policy import current_identity, requires
from apps.core.types import db
from apps.robos import services
from apps.robos.models import Robo

FIELDS = {"nome": (str, False), "url": (str, False), "tags": (list, False), "capacidade": (int, False),
          "ativo": (bool, False), "drenando": (bool, False)}


@bp.get("/v1/robos")
@requires("robo.ler")
def robos_list():
    """Every robot with its status, load and last 24 h."""
    items = [services.serialize(entry) for entry in services.overview()]
    return jsonify({"items": items, "total": len(items), "page": 1, "pages": 1})


@bp.post("/v1/robos")
@requires("robo.gerenciar")
def robos_create():
    """Register a robot: 201 with the new record."""
    robo = services.create_robo(check_payload(json_body(), FIELDS), by=current_identity())
    db.session.commit()
    return with_location(services.serialize(services.entry_of(robo)), url_for("api.robos_get", robo_id=robo.id))


@bp.get("/v1/robos/<robo_id>")
@requires("robo.ler")
def robos_get(robo_id):
    """One robot."""
    return jsonify(services.serialize(services.entry_of(get_or_404(Robo, robo_id, "Robô"))))


@bp.patch("/v1/robos/<robo_id>")
@requires("robo.gerenciar")
def robos_update(robo_id):
    """Change some fields of a robot."""
    robo = get_or_404(Robo, robo_id, "Robô")
    services.update_robo(robo, check_payload(json_body(), FIELDS), by=current_identity())
    db.session.commit()
    return jsonify(services.serialize(services.entry_of(robo)))


@bp.delete("/v1/robos/<robo_id>")
@requires("robo.gerenciar")
def robos_delete(robo_id):
    """Delete a robot holding no run: 204 (409 while it holds runs)."""
    services.delete_robo(get_or_404(Robo, robo_id, "Robô"), by=current_identity())
    db.session.commit()
    return "", 204


@bp.post("/v1/robos/<robo_id>/drenar")
@requires("robo.gerenciar")
def robos_drain(robo_id):
    """No new runs for this robot; the ones it holds finish."""
    robo = get_or_404(Robo, robo_id, "Robô")
    services.drain(robo, by=current_identity())
    db.session.commit()
    return jsonify(services.serialize(services.entry_of(robo)))


@bp.put("/v1/robos/versao-ativa")
@requires("robo.gerenciar")
def robos_versao_ativa():
    """Pin the version robots must run to get new runs of a tag; "versao": null unpins."""
    data = check_payload(json_body(), {"tag": (str, False), "versao": (str, True)})
    pinned = services.set_pinned_version(data.get("tag"), data.get("versao"), by=current_identity())
    db.session.commit()
    tag = pinned.tag if pinned else services.clean_tags([data.get("tag") or ""], {})
    return jsonify({"tag": tag, "versao": pinned.versao if pinned else None})
