"""Who hears which event on which channel: each user's addresses, their choices, and the defaults."""
import base64
import hashlib
import re
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from apps.auth.models import User
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.types import db, utcnow
from apps.notificacoes import kinds as events
from apps.notificacoes.channels import registry
from apps.notificacoes.channels.webhook import check_url
from apps.notificacoes.models import CANAIS, Contato, Preferencia, webhook_secret_of

EVENT_LABELS = {
    events.APROVACAO_ATRIBUIDA: "Aprovação atribuída a mim",
    events.PRAZO_HOJE: "Prazo de aprovação vence hoje",
    events.PRAZO_VENCIDO: "Prazo vencido (escalonamento)",
    events.EXECUCAO_FALHOU: "Uma execução falhou",
    events.MES_ABERTO: "O mês foi aberto",
    events.TOKEN_EXPIRANDO: "O token da API RPA expira em 15 dias ou menos",
    events.ROBO_DESCONECTADO: "Um robô se desconectou",
}
# The ones worth an e-mail by default, once SMTP is set.
IMPORTANT = {events.APROVACAO_ATRIBUIDA, events.PRAZO_VENCIDO, events.EXECUCAO_FALHOU, events.TOKEN_EXPIRANDO,
             events.ROBO_DESCONECTADO}
WHATSAPP = re.compile(r"^\+[1-9][0-9]{7,14}$")
CODE_MINUTES = 15


class PreferenciaError(ServiceError):
    """Contacts or choices we refuse to store."""


def default_channels(event: str, config=None) -> list[str]:
    """Mock where it is on (development), plus e-mail for the important events when SMTP is set."""
    config = config or current_app.config
    chosen = []
    if registry.get("mock").enabled(config):
        chosen.append("mock")
    if event in IMPORTANT and registry.get("email").enabled(config):
        chosen.append("email")
    return chosen


def contato_of(user_id, create=False) -> Contato | None:
    contato = db.session.get(Contato, user_id)
    if contato is None and create:
        contato = Contato(usuario_id=user_id, preferencias_definidas=False)
        db.session.add(contato)
    return contato


def address(user, contato, canal: str) -> str | None:
    """Where a message on `canal` goes for this user, None when they have no address there."""
    if canal == "email":
        return user.email
    if canal == "mock":
        return user.username
    if contato is None:
        return None
    return {"telegram": contato.telegram_chat_id, "whatsapp": contato.whatsapp,
            "webhook": contato.webhook_url if contato.webhook_secret else None}.get(canal)


def choices(user_ids) -> dict:
    """{user_id: {event: [canal, ...]}} for the users (their saved choices, else the defaults)."""
    user_ids = list(user_ids)
    defined = set(db.session.scalars(select(Contato.usuario_id).where(
        Contato.usuario_id.in_(user_ids), Contato.preferencias_definidas.is_(True))))
    result = {uid: {e: ([] if uid in defined else default_channels(e)) for e in events.ALL} for uid in user_ids}
    rows = db.session.execute(select(Preferencia.usuario_id, Preferencia.evento, Preferencia.canal).where(
        Preferencia.usuario_id.in_(defined))) if defined else []
    for uid, evento, canal in rows:
        if evento in result[uid] and canal in CANAIS:
            result[uid][evento].append(canal)
    return result


CACHE_KEY = "notificacoes.targets"


def _cache() -> dict:
    """Targets already resolved in this transaction: notify() for 3,000 items of one approver reads the
    choices once. Dropped when the transaction changes or a choice or address is saved."""
    session = db.session()
    transaction = session.get_transaction()
    cached = session.info.get(CACHE_KEY)
    if transaction is None or cached is None or cached[0] is not transaction:
        cached = session.info[CACHE_KEY] = (transaction, {})
    return cached[1]


def forget_targets() -> None:
    db.session().info.pop(CACHE_KEY, None)


def targets(event: str, user_ids) -> list[tuple]:
    """(user_id, canal) pairs to tell about `event`: active users, channels on, an address there."""
    user_ids = tuple(dict.fromkeys(user_ids))
    if not user_ids:
        return []
    cache = _cache()
    key = (event, user_ids)
    if key not in cache:
        cache[key] = _resolve(event, user_ids)
    return cache[key]


def _resolve(event: str, user_ids) -> list[tuple]:
    config = current_app.config
    on = set(registry.enabled_names(config))
    rows = db.session.execute(
        select(User.id, User.email, User.username, Contato.telegram_chat_id, Contato.whatsapp, Contato.webhook_url,
               Contato.webhook_secret_cifrado, Contato.preferencias_definidas)
        .outerjoin(Contato, Contato.usuario_id == User.id)
        .where(User.id.in_(user_ids), User.ativo.is_(True))).all()
    defined = [r.id for r in rows if r.preferencias_definidas]
    chosen = {}
    if defined:
        for uid, canal in db.session.execute(select(Preferencia.usuario_id, Preferencia.canal).where(
                Preferencia.usuario_id.in_(defined), Preferencia.evento == event)):
            chosen.setdefault(uid, []).append(canal)
    defaults = default_channels(event, config)
    pairs = []
    for row in rows:
        addresses = {"email": row.email, "mock": row.username, "telegram": row.telegram_chat_id,
                     "whatsapp": row.whatsapp, "webhook": row.webhook_url}
        for canal in (chosen.get(row.id, []) if row.preferencias_definidas else defaults):
            if canal in on and addresses.get(canal):
                if canal == "webhook" and not webhook_secret_of(row.webhook_secret_cifrado, row.id):
                    continue  # no secret to sign with (none, or it no longer decrypts): the channel is off
                pairs.append((row.id, canal))
    return pairs


def set_choices(user, chosen: dict, by=None) -> None:
    """Replace the user's choices with `chosen` ({event: [canal]}); unknown names refused (422)."""
    bad = {e: "evento desconhecido" for e in chosen if e not in events.ALL}
    bad.update({e: "canais: " + ", ".join(CANAIS) for e, c in chosen.items()
                if e in events.ALL and (not isinstance(c, list) or any(x not in CANAIS for x in c))})
    if bad:
        raise PreferenciaError("Preferências de notificação inválidas.", fields=bad)
    forget_targets()
    contato = contato_of(user.id, create=True)
    contato.preferencias_definidas = True
    db.session.execute(delete(Preferencia).where(Preferencia.usuario_id == user.id))
    for evento, canais in chosen.items():
        for canal in dict.fromkeys(canais):
            db.session.add(Preferencia(usuario_id=user.id, evento=evento, canal=canal))
    db.session.flush()
    audit.record("notificacoes_preferencias", entity=user, user=by or user,
                 detail="; ".join(f"{e}: {','.join(c) or '—'}" for e, c in sorted(chosen.items())))


def normalise_whatsapp(value: str | None) -> str | None:
    """'+55 (11) 98765-4321' → '+5511987654321'; None for empty; PreferenciaError when not E.164."""
    if value is None or not value.strip():
        return None
    digits = re.sub(r"[\s().-]", "", value.strip())
    if not WHATSAPP.match(digits):
        raise PreferenciaError("Número de WhatsApp inválido: use o formato internacional, ex.: +55 11 98765-4321.",
                               fields={"whatsapp": "formato +5511987654321"})
    return digits


def _taken(column, value, user_id) -> bool:
    return value is not None and db.session.scalar(
        select(Contato.usuario_id).where(column == value, Contato.usuario_id != user_id)) is not None


def set_contacts(user, *, whatsapp=..., telegram_chat_id=..., webhook_url=..., by=None) -> Contato:
    """Change the given addresses (`...`: unchanged; None or '': removed)."""
    forget_targets()
    contato = contato_of(user.id, create=True)
    changed = []
    if whatsapp is not ...:
        number = normalise_whatsapp(whatsapp)
        if _taken(Contato.whatsapp, number, user.id):
            raise PreferenciaError("Este número de WhatsApp já está ligado a outro usuário.",
                                   fields={"whatsapp": "já em uso"})
        contato.whatsapp = number
        changed.append("whatsapp")
    if telegram_chat_id is not ...:
        chat = (telegram_chat_id or "").strip() or None
        if chat is not None and not re.fullmatch(r"-?[0-9]{1,20}", chat):
            raise PreferenciaError("Chat do Telegram inválido (um número).", fields={"telegram_chat_id": "número"})
        if _taken(Contato.telegram_chat_id, chat, user.id):
            raise PreferenciaError("Este chat do Telegram já está ligado a outro usuário.",
                                   fields={"telegram_chat_id": "já em uso"})
        contato.telegram_chat_id = chat
        changed.append("telegram")
    if webhook_url is not ...:
        url = (webhook_url or "").strip() or None
        if url is not None:
            try:
                url = check_url(url, current_app.config)
            except ValueError as exc:
                raise PreferenciaError(str(exc), fields={"webhook_url": str(exc)}) from None
            if not contato.webhook_secret:
                contato.webhook_secret = new_webhook_secret()
        contato.webhook_url = url
        changed.append("webhook")
    db.session.flush()
    if changed:
        audit.record("notificacoes_contatos", entity=user, user=by or user, detail=", ".join(changed))
    return contato


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def rotate_webhook_secret(user) -> str:
    forget_targets()
    contato = contato_of(user.id, create=True)
    contato.webhook_secret = new_webhook_secret()
    db.session.flush()
    audit.record("notificacoes_contatos", entity=user, user=user, detail="novo segredo do webhook")
    return contato.webhook_secret


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_link_code(user) -> str:
    """A one-time code (valid CODE_MINUTES) the user sends to the bot as `/start <code>`; only its hash is kept."""
    code = secrets.token_hex(4).upper()
    contato = contato_of(user.id, create=True)
    contato.codigo_hash, contato.codigo_expira_em = _digest(code), utcnow() + timedelta(minutes=CODE_MINUTES)
    db.session.flush()
    return code


def link_telegram(code: str, chat_id: str) -> User | None:
    """Link `chat_id` to the user whose valid code this is (the code is spent); None when no code matches."""
    if not code or len(code) > 32:
        return None
    contato = db.session.scalar(select(Contato).where(Contato.codigo_hash == _digest(code)))
    if contato is None or contato.codigo_expira_em is None or contato.codigo_expira_em < utcnow():
        return None
    other = db.session.scalar(select(Contato).where(Contato.telegram_chat_id == chat_id,
                                                    Contato.usuario_id != contato.usuario_id))
    if other is not None:
        other.telegram_chat_id = None  # one chat, one user: the newest link wins
        db.session.flush()
    contato.telegram_chat_id, contato.codigo_hash, contato.codigo_expira_em = chat_id, None, None
    forget_targets()
    db.session.flush()
    audit.record("notificacoes_telegram_ligado", entity=contato.usuario, user=contato.usuario,
                 detail=f"chat {chat_id}")
    return contato.usuario


def user_fields(user) -> dict:
    """The notification fields of a user's JSON: telegram_chat_id, whatsapp, notificacoes."""
    contato = contato_of(user.id)
    return {"telegram_chat_id": contato.telegram_chat_id if contato else None,
            "whatsapp": contato.whatsapp if contato else None,
            "notificacoes": choices([user.id])[user.id]}


def apply_user_fields(user, data: dict, by=None) -> None:
    """Write the notification fields present in a user's JSON (the API's PATCH)."""
    contacts = {k: data[k] for k in ("telegram_chat_id", "whatsapp") if k in data}
    if contacts:
        set_contacts(user, by=by, **contacts)
    if "notificacoes" in data:
        current = choices([user.id])[user.id]
        set_choices(user, {**current, **data["notificacoes"]}, by=by)
