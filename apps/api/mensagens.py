"""API v1: the stored messages (admins), and sending one to a user through a channel."""
from flask import g, jsonify, request

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, json_body, list_envelope, uuid_arg
from apps.auth.models import User
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.types import db
from apps.notificacoes import delivery, services
from apps.notificacoes.models import CANAIS, StatusMensagem
from apps.notificacoes.routes import mensagens_query

SEND_FIELDS = {"usuario_id", "canal", "conteudo"}


def mensagem_json(m) -> dict:
    return {"id": str(m.id), "usuario_id": str(m.usuario_id) if m.usuario_id else None, "canal": m.canal,
            "direcao": m.direcao, "evento": m.evento, "destino": m.destino, "conteudo": m.conteudo, "link": m.link,
            "quantidade": m.quantidade, "status": m.status, "tentativas": m.tentativas, "ultimo_erro": m.ultimo_erro,
            "provider_id": m.provider_id, "created_at": m.created_at.isoformat(),
            "enviada_em": m.enviada_em.isoformat() if m.enviada_em else None}


def _choice(name, allowed):
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise ApiError(400, f"Parâmetro '{name}' deve ser um de: {', '.join(allowed)}.", {name: "valor desconhecido"})
    return value


@bp.get("/v1/mensagens")
@requires("mensagem.ler")
def api_mensagens_list():
    """Messages newest first; filters usuario_id, canal, status; paginated."""
    query = mensagens_query(uuid_arg("usuario_id"), _choice("canal", CANAIS), _choice("status", StatusMensagem.ALL))
    return jsonify(list_envelope(query, mensagem_json))


@bp.post("/v1/mensagens")
@requires("mensagem.enviar")
def api_mensagens_send():
    """Send {"usuario_id", "canal", "conteudo"} to that user through that channel: 202 with the message."""
    data = json_body()
    unknown = {k: "campo desconhecido" for k in data if k not in SEND_FIELDS}
    missing = {k: "obrigatório" for k in SEND_FIELDS if not isinstance(data.get(k), str)}
    if unknown or missing:
        raise ApiError(422, "Informe usuario_id, canal e conteudo (textos).", {**missing, **unknown})
    user = get_or_404(User, data["usuario_id"], "Usuário")
    mensagem = services.send_direct(user, data["canal"], data["conteudo"], by=g.api_user)
    db.session.commit()
    delivery.enqueue([mensagem.id])
    response = jsonify(mensagem_json(mensagem))
    response.status_code = 202
    return response
