"""Sending one stored message: a conditional claim, the channel adapter, the outcome recorded.

Never twice. Before a send, one UPDATE claims the message (PENDENTE and not claimed → claimed,
attempts + 1) and is committed: a second worker, a duplicated job or an RQ retry finds it claimed
(or no longer PENDENTE) and does nothing. The claim is cleared when the outcome is recorded.

A crash between send and record leaves the message claimed. We cannot tell whether the provider got
it (Telegram and Twilio have no idempotency key), so we choose at most once: the reconciler marks a
message claimed for longer than NOTIFICACOES_ENVIO_PRESO_SEGUNDOS as FALHOU, saying the outcome is
unknown, and never sends it again by itself; a person reads /mensagens and can send anew. (The
webhook channel sends the message's id as `webhook-id`, so a receiver can drop a repeat.)

Retries: a 429, a 5xx or a network failure leaves the message PENDENTE and schedules the next try
(`enqueue_in`, nothing sleeps) after the provider's retry_after (Telegram's `parameters.retry_after`,
Twilio's Retry-After), else an exponential backoff, capped; after NOTIFICACOES_MAX_TENTATIVAS, FALHOU.
"""
import logging
import math
from datetime import timedelta

from flask import current_app
from redis import RedisError
from sqlalchemy import select, update

from apps.core.queues import get_queue
from apps.core.types import db, parse_uuid, utcnow
from apps.notificacoes.channels import registry
from apps.notificacoes.channels.base import ChannelError, Outgoing
from apps.notificacoes.models import Contato, Mensagem, StatusMensagem

log = logging.getLogger(__name__)
DELIVER = "apps.notificacoes.jobs.deliver"
STUCK_SECONDS = 300
LOST_SECONDS = 120
UNKNOWN = ("Envio interrompido (o processo parou durante o envio): o provedor pode ter recebido a mensagem; "
           "não reenviada automaticamente para não duplicar.")


def enqueue(mensagem_ids, delay: float = 0) -> None:
    """Queue the delivery of each message; Redis down is logged (the reconciler queues them later)."""
    try:
        queue = get_queue()
        for mid in mensagem_ids:
            options = dict(args=(str(mid),), job_timeout=120, result_ttl=300, failure_ttl=7 * 24 * 3600)
            if delay > 0:  # RQ's scheduler keeps whole seconds (truncated): +1 s so it never runs early
                queue.enqueue_in(timedelta(seconds=math.ceil(delay) + 1), DELIVER, **options)
            else:
                queue.enqueue(DELIVER, **options)
    except RedisError as exc:
        log.warning("delivery not queued (%s); the reconciler will queue it", exc.__class__.__name__)


def claim(mensagem_id) -> bool:
    """Take the message for one send (committed), or False when it is taken, sent or failed."""
    now = utcnow()
    result = db.session.execute(
        update(Mensagem).where(Mensagem.id == mensagem_id, Mensagem.status == StatusMensagem.PENDENTE,
                               Mensagem.direcao == "SAIDA", Mensagem.enviando_desde.is_(None))
        .values(enviando_desde=now, tentativas=Mensagem.tentativas + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def backoff(config, tentativas: int, retry_after: float | None) -> float:
    cap = float(config["NOTIFICACOES_BACKOFF_CAP"])
    if retry_after is not None:
        return min(cap, max(0.0, float(retry_after)))
    return min(cap, float(config["NOTIFICACOES_BACKOFF_BASE"]) * 2 ** max(0, tentativas - 1))


def deliver(mensagem_id) -> str:
    """Send one message once (see the module's docstring); returns what happened, for the job's result."""
    mid = parse_uuid(mensagem_id)
    if mid is None or not claim(mid):
        return "ignorada"
    mensagem = db.session.get(Mensagem, mid, populate_existing=True)
    config = current_app.config
    channel = registry.CHANNELS.get(mensagem.canal)
    contato = db.session.get(Contato, mensagem.usuario_id) if mensagem.usuario_id else None
    base = config["BASE_URL"]
    out = Outgoing(id=str(mensagem.id), destino=mensagem.destino or "", texto=mensagem.conteudo,
                   link=base + mensagem.link if mensagem.link else None, evento=mensagem.evento,
                   secret=contato.webhook_secret if contato is not None and mensagem.canal == "webhook" else None)
    db.session.rollback()  # no transaction open across the provider's call
    try:
        if channel is None or not channel.enabled(config):
            raise ChannelError(f"Canal {mensagem.canal} desativado: " + (channel.status_text(config) if channel else "?"))
        provider_id = channel.send(out, config)
    except ChannelError as exc:
        return _failed(mid, exc, config)
    except Exception as exc:  # noqa: BLE001 - an adapter's bug must end the claim, not leave it
        log.exception("channel %s raised", mensagem.canal)
        return _failed(mid, ChannelError(f"Erro interno no canal ({exc.__class__.__name__})."), config)
    now = utcnow()
    db.session.execute(update(Mensagem).where(Mensagem.id == mid).values(
        status=StatusMensagem.ENVIADA, provider_id=(provider_id or "")[:200], enviada_em=now, enviando_desde=None,
        ultimo_erro=None, proxima_tentativa_em=None, updated_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    return "enviada"


def _failed(mid, exc: ChannelError, config) -> str:
    tentativas = db.session.scalar(select(Mensagem.tentativas).where(Mensagem.id == mid)) or 0
    now = utcnow()
    values = dict(enviando_desde=None, ultimo_erro=exc.message, updated_at=now)
    again = exc.retryable and tentativas < int(config["NOTIFICACOES_MAX_TENTATIVAS"])
    delay = backoff(config, tentativas, exc.retry_after) if again else 0
    if again:
        values.update(proxima_tentativa_em=now + timedelta(seconds=delay))
    else:
        values.update(status=StatusMensagem.FALHOU, proxima_tentativa_em=None)
    db.session.execute(update(Mensagem).where(Mensagem.id == mid).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    if again:
        enqueue([mid], delay=delay)
        return f"nova tentativa em {delay:g} s"
    return "falhou"


def reconcile(now=None) -> dict:
    """Claims left by a dead worker → FALHOU (outcome unknown); PENDENTE messages whose job was lost → queued."""
    now = now or utcnow()
    stuck = db.session.execute(
        update(Mensagem).where(Mensagem.status == StatusMensagem.PENDENTE,
                               Mensagem.enviando_desde < now - timedelta(seconds=STUCK_SECONDS))
        .values(status=StatusMensagem.FALHOU, enviando_desde=None, ultimo_erro=UNKNOWN, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    lost = list(db.session.scalars(select(Mensagem.id).where(
        Mensagem.status == StatusMensagem.PENDENTE, Mensagem.direcao == "SAIDA", Mensagem.enviando_desde.is_(None),
        Mensagem.proxima_tentativa_em < now - timedelta(seconds=LOST_SECONDS)).limit(1000)))
    if lost:
        db.session.execute(update(Mensagem).where(Mensagem.id.in_(lost)).values(proxima_tentativa_em=now)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    enqueue(lost)
    return {"presas": stuck, "reenfileiradas": len(lost)}
