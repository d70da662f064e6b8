"""The events people can be told about, and the one door domain code uses to tell them.

Domain code (aprovações, runs, the monthly job, robots) calls `notify(event, users, ...)` and
never imports a channel: which channels each user hears an event on, grouping and delivery
belong to this package.
"""
import logging

from redis import RedisError
from sqlalchemy import inspect, select

from apps.auth.models import Role, User
from apps.core.queues import get_queue
from apps.core.types import db
from apps.notificacoes import grouping, preferences
from apps.notificacoes.kinds import (  # noqa: F401  (the names domain code imports from here)
    ALL,
    APROVACAO_ATRIBUIDA,
    EXECUCAO_FALHOU,
    MES_ABERTO,
    PRAZO_HOJE,
    PRAZO_VENCIDO,
    ROBO_DESCONECTADO,
    TOKEN_EXPIRANDO,
)

log = logging.getLogger(__name__)
NOTIFY_JOB = "apps.notificacoes.jobs.notify"


def notify(event: str, users, *, text: str, link: str | None = None) -> None:
    """Tell `users` that `event` happened: `text` is one item in Portuguese ("Processo de ACME
    aguarda sua aprovação"), `link` a path behind login ("/aprovacoes"). Flushes, never commits.

    Cheap for thousands of calls: one upsert of a counter per (user, channel); the messages are made
    when the grouping window closes (apps/notificacoes/grouping.py) and sent by the delivery job.
    """
    _check(event, link)
    ids = [_id(u) for u in users if u is not None]
    grouping.add(event, preferences.targets(event, ids), text, link)


def notify_later(event: str, users, *, text: str, link: str | None = None, admins: bool = False) -> None:
    """notify() in a job of its own, for code that must stay quick and write nothing more (a run ending:
    its caller cleans up right after, and a notification must never delay or break that). Redis down: the
    notification is lost, and logged. `admins`: the active admins too (looked up by the job)."""
    _check(event, link)
    ids = [str(_id(u)) for u in users if u is not None]
    try:
        get_queue().enqueue(NOTIFY_JOB, event, ids, text=text, link=link, admins=admins, job_timeout=120,
                            result_ttl=60, failure_ttl=7 * 24 * 3600)
    except RedisError as exc:
        log.warning("notification %s not queued (%s)", event, exc.__class__.__name__)


def _check(event: str, link: str | None) -> None:
    if event not in ALL:
        raise ValueError(f"unknown event {event!r}")
    if link is not None and (not link.startswith("/") or link.startswith("//")):
        raise ValueError("link must be a path on this site ('/aprovacoes')")


def _id(user):
    """A user's id, without reloading an expired User (its identity key is kept after a commit)."""
    if isinstance(user, User):
        identity = inspect(user).identity
        return identity[0] if identity else user.id
    return user


def admins(*also) -> list:
    """The active admins' ids, plus the users in `also` (None skipped)."""
    ids = list(db.session.scalars(select(User.id).where(User.role == Role.ADMIN, User.ativo.is_(True))))
    return list(dict.fromkeys([_id(u) for u in also if u is not None] + ids))


def operators() -> list:
    """The active admins' and operadores' ids (who run the month)."""
    return list(db.session.scalars(select(User.id).where(User.role.in_((Role.ADMIN, Role.OPERADOR)),
                                                         User.ativo.is_(True))))
