"""API v1: the portal's domínios and serviços (Admin keeps them), running a serviço, and its runs."""
from flask import g, jsonify, url_for

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, json_body, list_envelope, with_location
from apps.api.processos import execucao_json
from apps.auth.policy import has_permission, requires
from apps.core.errors import ApiError
from apps.core.types import db
from apps.portal import services
from apps.portal.models import Dominio, Servico
from apps.processos.models import Execucao


def solicitacao_json(e) -> dict:
    """A serviço's run: the execucao's fields plus its serviço, what was sent and the result's dados."""
    return {**execucao_json(e), "servico_id": str(e.servico_id) if e.servico_id else None,
            "operadora_id": str(e.operadora_id) if e.operadora_id else None,
            "parametros": e.parametros, "resultado": e.resultado}


def _visible_servico(servico_id) -> Servico:
    """The serviço, for an Admin any; for anyone else only one they may run (else 404, nothing leaks)."""
    servico = get_or_404(Servico, servico_id, "Serviço")
    if not has_permission(g.api_user, "servico.gerenciar") and not services.may_run(servico, g.api_user):
        raise ApiError(404, "Serviço não encontrado.")
    return servico


@bp.get("/v1/dominios")
@requires("servico.executar")
def api_dominios_list():
    """The portal's domínios, in their order."""
    return jsonify(list_envelope(db.select(Dominio).order_by(Dominio.ordem, Dominio.nome, Dominio.id),
                                 services.serialize_dominio))


@bp.post("/v1/dominios")
@requires("servico.gerenciar")
def api_dominios_create():
    """Create a domínio: 201."""
    dominio = services.create_dominio(json_body(), by=g.api_user)
    db.session.commit()
    return with_location(services.serialize_dominio(dominio), url_for("api.api_dominios_list"))


@bp.get("/v1/servicos")
@requires("servico.executar")
def api_servicos_list():
    """Serviços: every one for an Admin; the active ones the caller's role may run for anyone else."""
    query = db.select(Servico).join(Dominio).order_by(Dominio.ordem, Dominio.nome, Servico.nome, Servico.id)
    if not has_permission(g.api_user, "servico.gerenciar"):
        query = query.where(Servico.ativo.is_(True))
        runnable = {s.id for s in services.servicos() if services.may_run(s, g.api_user)}
        query = query.where(Servico.id.in_(runnable))
    return jsonify(list_envelope(query, services.serialize_servico))


@bp.post("/v1/servicos")
@requires("servico.gerenciar")
def api_servicos_create():
    """Create a serviço: 201; a form schema or run template that does not validate is a 422 with fields."""
    servico = services.create_servico(json_body(), by=g.api_user)
    db.session.commit()
    return with_location(services.serialize_servico(servico), url_for("api.api_servicos_get", servico_id=servico.id))


@bp.get("/v1/servicos/<servico_id>")
@requires("servico.executar")
def api_servicos_get(servico_id):
    """One serviço."""
    return jsonify(services.serialize_servico(_visible_servico(servico_id)))


@bp.patch("/v1/servicos/<servico_id>")
@requires("servico.gerenciar")
def api_servicos_update(servico_id):
    """Change some fields of a serviço (checked as a whole, as on creation)."""
    servico = get_or_404(Servico, servico_id, "Serviço")
    services.update_servico(servico, json_body(), by=g.api_user)
    db.session.commit()
    return jsonify(services.serialize_servico(servico))


@bp.post("/v1/servicos/<servico_id>/executar")
@requires("servico.executar")
def api_servicos_executar(servico_id):
    """Run a serviço with {"valores": {...}}: 202 {"execucao_id"}; 422 with fields for a refused answer."""
    servico = _visible_servico(servico_id)
    body = json_body()
    unknown = {key: "campo desconhecido" for key in body if key != "valores"}
    if unknown:
        raise ApiError(422, "Campos não aceitos: " + ", ".join(sorted(unknown)) + ".", unknown)
    execucao = services.executar(servico, body.get("valores", {}), by=g.api_user)
    return with_location({"execucao_id": str(execucao.id)}, url_for("api.api_execucao_get", execucao_id=execucao.id),
                         status=202)


@bp.get("/v1/servicos/<servico_id>/execucoes")
@requires("servico.executar")
def api_servicos_execucoes(servico_id):
    """The serviço's runs, newest first: every one for an Admin, the caller's own for anyone else."""
    servico = _visible_servico(servico_id)
    query = services.execucoes_query(servico)
    if not has_permission(g.api_user, "servico.gerenciar"):
        query = query.where(Execucao.criado_por_id == g.api_user.id)
    return jsonify(list_envelope(query, solicitacao_json))
