"""API v1: approval tasks (list, atribuir) and a processo's comments, through the pages' services."""
from flask import g, jsonify, request

from apps.api.blueprint import bp
from apps.api.helpers import bool_arg, get_or_404, json_body, list_envelope, uuid_arg, with_location
from apps.aprovacoes import caixa, comentarios, tarefas
from apps.aprovacoes.prazo import hoje
from apps.auth.models import User
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.types import db, parse_uuid
from apps.processos.models import Processo


def _responsavel_arg():
    value = (request.args.get("responsavel") or "").strip()
    if not value:
        return None
    if value == "me":
        return g.api_user.id
    uid = parse_uuid(value)
    if uid is None:
        raise ApiError(400, "Parâmetro 'responsavel' deve ser 'me' ou o id de um usuário.",
                       {"responsavel": "'me' ou UUID"})
    return uid


@bp.get("/v1/aprovacoes")
@requires("processo.aprovar")
def api_aprovacoes_list():
    """Open approval tasks by prazo; ?responsavel=me|<id>, ?vencidas, ?operadora_id; paginated."""
    today = hoje()
    filtros = {"operadora_id": uuid_arg("operadora_id"), "responsavel_id": _responsavel_arg(),
               "vencidas": bool_arg("vencidas"), "today": today}
    return jsonify(list_envelope(caixa.fila(**filtros), lambda t: caixa.serialize(t, today), total=caixa.total(**filtros)))


@bp.post("/v1/aprovacoes/<processo_id>/atribuir")
@requires("processo.aprovar")
def api_aprovacao_atribuir(processo_id):
    """Give the task to {"usuario_id"} (Admin), or take it yourself (your own id: as "Assumir")."""
    processo = get_or_404(Processo, processo_id, "Processo")
    data = json_body()
    unknown = {k: "campo desconhecido" for k in data if k != "usuario_id"}
    if unknown:
        raise ApiError(422, "Campos não aceitos: " + ", ".join(sorted(unknown)) + ".", unknown)
    raw = data.get("usuario_id")
    uid = parse_uuid(raw) if isinstance(raw, str) else None
    if uid is None:
        raise ApiError(422, "Informe usuario_id.", {"usuario_id": "UUID de um usuário"})
    usuario = db.session.get(User, uid)
    if usuario is None:
        raise ApiError(422, "Usuário não encontrado.", {"usuario_id": "usuário inexistente"})
    tarefa = tarefas.atribuir(processo, usuario, by=g.api_user)
    db.session.commit()
    return jsonify(caixa.serialize(db.session.scalar(caixa.fila().where(caixa.T.id == tarefa.id))))


@bp.get("/v1/processos/<processo_id>/comentarios")
@requires("processo.ler")
def api_comentarios_list(processo_id):
    """The processo's comments, oldest first."""
    processo = get_or_404(Processo, processo_id, "Processo")
    return jsonify({"items": [comentarios.serialize(c) for c in comentarios.do_processo(processo.id)]})


@bp.post("/v1/processos/<processo_id>/comentarios")
@requires("processo.aprovar")
def api_comentarios_create(processo_id):
    """Add {"texto"} to the processo's thread: 201."""
    processo = get_or_404(Processo, processo_id, "Processo")
    data = json_body()
    unknown = {k: "campo desconhecido" for k in data if k != "texto"}
    if unknown:
        raise ApiError(422, "Campos não aceitos: " + ", ".join(sorted(unknown)) + ".", unknown)
    comentario = comentarios.comentar(processo, by=g.api_user, texto=data.get("texto"))
    db.session.commit()
    return with_location(comentarios.serialize(comentario), request.path)
