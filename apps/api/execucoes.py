"""API v1: the list of robot runs (execucoes), filtered like the pages filter them; cancelling one."""
from flask import g, jsonify, request

from apps.api.blueprint import bp
from apps.api.helpers import list_envelope, uuid_arg
from apps.api.processos import execucao_json
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.records import get_or_404
from apps.processos import queries
from apps.processos.models import Execucao, StatusExecucao, TipoExecucao
from apps.rpa import runs


def _choice_arg(name, allowed):
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise ApiError(400, f"Parâmetro '{name}' desconhecido.", {name: "um de " + ", ".join(allowed)})
    return value


@bp.get("/v1/execucoes")
@requires("processo.ler")
def api_execucoes_list():
    """Robot runs filtered by processo_id, status, tipo and operadora_id, newest first, paginated."""
    query = queries.execucoes_query(processo_id=uuid_arg("processo_id"), status=_choice_arg("status", StatusExecucao.ALL),
                            tipo=_choice_arg("tipo", TipoExecucao.ALL), operadora_id=uuid_arg("operadora_id"))
    return jsonify(list_envelope(query, execucao_json))


@bp.post("/v1/execucoes/<execucao_id>/cancelar")
@requires("processo.executar")
def api_execucao_cancelar(execucao_id):
    """Stop a robot run: it ends FALHOU saying who cancelled it (409 if it already ended, 422 if the
    RPA server cannot cancel: then it goes on)."""
    execucao = get_or_404(Execucao, execucao_id, "Execução")
    runs.cancelar(execucao, by=g.api_user)
    return jsonify(execucao_json(execucao))
