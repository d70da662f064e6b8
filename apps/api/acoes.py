"""API v1: the processo list's bulk actions (approve or run the chosen ones, run the failed ones again)."""
from flask import g, jsonify

from apps.api.blueprint import bp
from apps.api.helpers import json_body, optional_json_body, uuid_list
from apps.auth.policy import require, requires
from apps.core.clock import current_competencia
from apps.core.errors import ApiError
from apps.core.queues import QueueUnavailable
from apps.core.types import db, parse_uuid
from apps.processos import queries, services
from apps.processos.models import StatusProcesso
from apps.processos.state import ProcessoError

ACOES = ("aprovar", "executar")
NAO_ENCONTRADO = "Processo não encontrado."


def _outcome(acao: str, feitos: list, result: dict) -> dict:
    """{"acao", "feitos": [{"id", ...}], "ignorados": [{"id", "motivo"}]} from a bulk service's result."""
    ignorados = [{"id": str(p.id), "motivo": motivo} for p, motivo in result["erros"]]
    ignorados += [{"id": str(pid), "motivo": NAO_ENCONTRADO} for pid in result["nao_encontrados"]]
    return {"acao": acao, "feitos": feitos, "ignorados": ignorados}


def _aprovar(ids) -> dict:
    result = services.aprovar_varios(ids, by=g.api_user)
    return _outcome("aprovar", [{"id": str(pid)} for pid in result["aprovados"]], result)


def _executar(ids) -> dict:
    try:
        result = services.executar_varios(ids, by=g.api_user)
    except QueueUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    feitos = [{"id": str(pid), "execucao_id": str(eid)} for pid, eid in result["execucoes"].items()]
    return _outcome("executar", feitos, result)


@bp.post("/v1/processos/acoes")
@requires("processo.aprovar", "processo.executar", "processo.enviar_sat")
def api_processos_acoes():
    """{"acao": "aprovar"|"executar", "ids": [...]}: what was done and what was skipped, with each reason."""
    data = json_body()
    acao = data.get("acao")
    if acao not in ACOES:
        raise ApiError(422, "Escolha a ação: aprovar ou executar.", {"acao": "aprovar ou executar"})
    require(*services.BULK_PERMISSIONS[acao])
    ids = uuid_list(data.get("ids"))
    return jsonify(_aprovar(ids) if acao == "aprovar" else _executar(ids))


def _filters(data: dict) -> dict:
    """The list's filters from the body; like the page, no competencia means the current month ("" means all)."""
    wrong = {key: "texto" for key in ("competencia", "status", "operadora_id", "q")
             if data.get(key) is not None and not isinstance(data[key], str)}
    if wrong:
        raise ApiError(400, "Tipos inválidos no corpo JSON.", wrong)
    competencia = data["competencia"].strip() if "competencia" in data and data["competencia"] is not None \
        else current_competencia()
    if competencia:
        try:
            services.parse_competencia(competencia)
        except ProcessoError as exc:
            raise ApiError(422, exc.message, {"competencia": "AAAA-MM"}) from exc
    status = data.get("status") or None
    if status and status not in StatusProcesso.ALL:
        raise ApiError(422, "Status desconhecido.", {"status": "um de " + ", ".join(StatusProcesso.ALL)})
    operadora_id = None
    if data.get("operadora_id"):
        operadora_id = parse_uuid(data["operadora_id"])
        if operadora_id is None:
            raise ApiError(422, "Operadora inválida.", {"operadora_id": "UUID esperado"})
    q = (data.get("q") or "").strip() or None
    return dict(competencia=competencia or None, status=status, operadora_id=operadora_id, q=q)


@bp.post("/v1/processos/reexecutar-falhas")
@requires("processo.executar", "processo.enviar_sat")
def api_processos_reexecutar_falhas():
    """Run again every processo of the filter whose last run for its current step failed."""
    ids = list(db.session.scalars(queries.falhas_query(**_filters(optional_json_body()))))
    if not ids:
        return jsonify(acao="executar", feitos=[], ignorados=[])
    return jsonify(_executar(ids))
