"""RQ jobs of the notifications (thin: each calls a service and commits). Enqueued by dotted name."""
import logging
import math
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import RedisError
from sqlalchemy import delete

from apps.core.queues import get_redis
from apps.core.templating import local_dt
from apps.core.types import db, parse_uuid, utcnow
from apps.notificacoes import delivery, events, grouping
from apps.notificacoes.models import Mensagem
from apps.rpa.token import current_token, token_expiry

log = logging.getLogger(__name__)
TOKEN_DAYS = 15


def notify(event: str, user_ids: list, text: str, link: str | None = None, admins: bool = False) -> int:
    """events.notify_later's job: count the item for its recipients, committed."""
    ids = [uid for uid in (parse_uuid(u) for u in user_ids) if uid is not None]
    if admins:
        ids = events.admins(*ids)
    events.notify(event, ids, text=text, link=link)
    db.session.commit()
    return len(ids)


def deliver(mensagem_id) -> str:
    """Send one message (apps/notificacoes/delivery.py)."""
    return delivery.deliver(mensagem_id)


def tick(now=None) -> dict:
    """Every few seconds: close the grouping windows that passed, queue their messages, reconcile."""
    created = grouping.close_due(now)
    db.session.commit()
    delivery.enqueue(created)
    return {"mensagens": len(created), **delivery.reconcile(now)}


def cleanup(now=None) -> int:
    """Daily: delete messages older than MENSAGENS_RETENCAO_DIAS."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["MENSAGENS_RETENCAO_DIAS"])
    deleted = db.session.execute(delete(Mensagem).where(Mensagem.created_at < cutoff)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    log.info("mensagens: %s older than %s deleted", deleted, cutoff.isoformat())
    return deleted


def check_token(now: datetime | None = None) -> bool:
    """Hourly, acting once a day: tell the admins when the global RPA token expires in 15 days or less."""
    now = now or datetime.now(UTC)
    expires = token_expiry(current_token())
    if expires is None or expires - now > timedelta(days=TOKEN_DAYS):
        return False
    try:
        if not get_redis().set(f"notificacoes:token-expirando:{now.date().isoformat()}", "1", nx=True,
                               ex=26 * 3600):
            return False  # told today already
    except RedisError:
        log.warning("token check skipped: Redis unavailable")
        return False
    days = max(0, math.ceil((expires - now).total_seconds() / 86400))
    if expires <= now:
        text = f"O token global da API RPA expirou em {local_dt(expires)}; cole um novo em Token global."
    else:
        text = f"O token global da API RPA expira em {days} dia(s), em {local_dt(expires)}."
    events.notify(events.TOKEN_EXPIRANDO, events.admins(), text=text, link="/token-global")
    db.session.commit()
    return True
