"""Inbound webhooks: Telegram updates and Twilio's WhatsApp messages.

Exempt from CSRF (a provider posts them), each checks its own proof instead: Telegram's secret in the
path and in X-Telegram-Bot-Api-Secret-Token (TELEGRAM_WEBHOOK_SECRET, given to setWebhook), Twilio's
X-Twilio-Signature (the twilio package's RequestValidator, over the public URL from BASE_URL). A
linked contact's message is stored and answered (/pendentes, /status); `/start <código>` links a
Telegram chat; anyone else gets nothing, only a line in the audit trail. Both are rate limited per
address in Redis (NOTIFICACOES_INBOUND_LIMIT). Nothing is ever done from a chat: answers only tell.
"""
import hmac

from flask import Response, abort, current_app, jsonify, request
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from apps.auth.policy import PUBLIC, requires
from apps.core import audit
from apps.core.types import db
from apps.extensions import limiter
from apps.notificacoes import delivery, grouping, preferences, services
from apps.notificacoes.blueprint import bp
from apps.notificacoes.channels import registry
from apps.notificacoes.models import Contato, Mensagem, StatusMensagem

MAX_TEXT = 2000
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def csrf_exempt(view):
    """Marks a view that proves its caller by a provider's secret or signature (apps/core/security.py)."""
    view.csrf_exempt = True
    return view


def secret_in_path(view):
    """Marks a view whose URL carries a secret: the request log shows its rule, not its path (apps/core/logs.py)."""
    view.secret_in_path = True
    return view


def _limit_key() -> str:
    return "inbound:" + (request.remote_addr or "?")


inbound_limit = limiter.limit(lambda: current_app.config["NOTIFICACOES_INBOUND_LIMIT"], key_func=_limit_key,
                              error_message="Muitas requisições. Aguarde um pouco.")


def _store_and_answer(user, canal: str, sender: str, text: str) -> None:
    """Keep the incoming message, and queue the answer to the user on the same channel."""
    db.session.add(Mensagem(usuario_id=user.id, canal=canal, direcao="ENTRADA", destino=sender,
                            conteudo=text[:MAX_TEXT] or "(vazio)", status=StatusMensagem.RECEBIDA, tentativas=0))
    reply = grouping.build(user.id, canal, services.answer(user, text))
    db.session.commit()
    if reply is not None:
        delivery.enqueue([reply.id])


def _unknown(canal: str, sender: str, text: str) -> None:
    audit.record("notificacao_remetente_desconhecido", entity_type="mensagens", entity_id=canal,
                 detail=f"{canal} de {sender[:60]}: {text[:80]!r}")
    db.session.commit()


@bp.route("/webhooks/telegram/<secret>", methods=["POST"])
@requires(PUBLIC)
@secret_in_path
@csrf_exempt
@inbound_limit
def telegram_webhook(secret):
    """A Telegram update (setWebhook with secret_token=TELEGRAM_WEBHOOK_SECRET)."""
    config = current_app.config
    expected = config.get("TELEGRAM_WEBHOOK_SECRET") or ""
    if not expected or not registry.get("telegram").enabled(config):
        abort(404)
    header = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not (hmac.compare_digest(secret.encode(), expected.encode())
            and hmac.compare_digest(header.encode(), expected.encode())):
        abort(403)
    update = request.get_json(silent=True)
    message = update.get("message") if isinstance(update, dict) else None
    chat = message.get("chat") if isinstance(message, dict) else None
    text = message.get("text") if isinstance(message, dict) else None
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int) or not isinstance(text, str):
        return jsonify(ok=True)  # an update we do not handle (an edit, a photo): acknowledged, ignored
    chat_id = str(chat["id"])
    parts = text.split()
    if len(parts) == 2 and parts[0] == "/start":
        user = preferences.link_telegram(parts[1], chat_id)
        if user is None:
            _unknown("telegram", chat_id, text)
            return jsonify(ok=True)
        db.session.flush()
        _store_and_answer(user, "telegram", chat_id, "/start")
        return jsonify(ok=True)
    contato = db.session.scalar(select(Contato).where(Contato.telegram_chat_id == chat_id))
    if contato is None or not contato.usuario.ativo:
        _unknown("telegram", chat_id, text)
        return jsonify(ok=True)
    _store_and_answer(contato.usuario, "telegram", chat_id, text)
    return jsonify(ok=True)


def public_url() -> str:
    """The URL Twilio signed: BASE_URL (what Twilio was told) plus this path and query."""
    query = request.query_string.decode()
    return current_app.config["BASE_URL"] + request.path + (f"?{query}" if query else "")


@bp.route("/webhooks/whatsapp", methods=["POST"])
@requires(PUBLIC)
@csrf_exempt
@inbound_limit
def whatsapp_webhook():
    """A WhatsApp message through Twilio (form-encoded, signed with the account's auth token)."""
    config = current_app.config
    if not registry.get("whatsapp").enabled(config):
        abort(404)
    validator = RequestValidator(config["WHATSAPP_AUTH_TOKEN"])
    form = request.form.to_dict()
    if not validator.validate(public_url(), form, request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    sender = (form.get("From") or "").removeprefix("whatsapp:").strip()
    text = form.get("Body") or ""
    contato = db.session.scalar(select(Contato).where(Contato.whatsapp == sender)) if sender else None
    if contato is None or not contato.usuario.ativo:
        _unknown("whatsapp", sender or "?", text)
    else:
        _store_and_answer(contato.usuario, "whatsapp", sender, text)
    return Response(TWIML_EMPTY, mimetype="text/xml")
