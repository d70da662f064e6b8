"""API v1: the list of robot runs (execucoes), filtered like the pages filter them."""
from flask import jsonify, request
from sqlalchemy import select

from apps.api.blueprint import bp
from apps.api.helpers import list_envelope, uuid_arg
from apps.api.processos import execucao_json
from apps.auth.policy import VIEW, access
from apps.clientes.models import Cliente
from apps.core.errors import ApiError
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao


def _choice_arg(name, allowed):
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise ApiError(400, f"Parâmetro '{name}' desconhecido.", {name: "um de " + ", ".join(allowed)})
    return value


def execucoes_query(processo_id=None, status=None, tipo=None, operadora_id=None):
    """Execucoes, newest first, filtered by processo, status, tipo and the cliente's operadora."""
    query = select(Execucao).order_by(Execucao.created_at.desc(), Execucao.id)
    if processo_id:
        query = query.where(Execucao.processo_id == processo_id)
    if status:
        query = query.where(Execucao.status == status)
    if tipo:
        query = query.where(Execucao.tipo == tipo)
    if operadora_id:
        query = (query.join(Processo, Processo.id == Execucao.processo_id)
                 .join(Cliente, Cliente.id == Processo.cliente_id).where(Cliente.operadora_id == operadora_id))
    return query


@bp.get("/v1/execucoes")
@access(VIEW)
def api_execucoes_list():
    """Robot runs filtered by processo_id, status, tipo and operadora_id, newest first, paginated."""
    query = execucoes_query(processo_id=uuid_arg("processo_id"), status=_choice_arg("status", StatusExecucao.ALL),
                            tipo=_choice_arg("tipo", TipoExecucao.ALL), operadora_id=uuid_arg("operadora_id"))
    return jsonify(list_envelope(query, execucao_json))
