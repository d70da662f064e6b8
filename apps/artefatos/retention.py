"""Retention: the files whose kind's term has passed are deleted from storage; their rows stay, with
`removido_em`, so the history still says they existed.

Never an artefato of a processo that has not reached UPLOAD_REALIZADO: until its invoices are at SAT,
everything about a processo may still be needed. A service run's files (no processo) follow their term.
"""
import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, tuple_

from apps.artefatos import storage
from apps.artefatos.models import Artefato, Kind
from apps.artefatos.services import retention_days
from apps.core import audit
from apps.core.types import db, utcnow
from apps.processos.models import Processo, StatusProcesso

log = logging.getLogger(__name__)
BATCH = 500


def due_query(now):
    """Artefatos still stored whose term passed, and whose processo (if any) reached UPLOAD_REALIZADO.

    The term is Artefato.guardado_ate: the one given at creation (`expira_em`, which the index reads) and
    the kind's term today, counted from the creation, must both have passed."""
    finished = select(Processo.id).where(Processo.status == StatusProcesso.UPLOAD_REALIZADO)
    current_term = or_(*(and_(Artefato.kind == kind, Artefato.created_at <= now - timedelta(days=retention_days(kind)))
                         for kind in Kind.ALL))
    return (select(Artefato)
            .where(Artefato.removido_em.is_(None), Artefato.expira_em <= now, current_term,
                   or_(Artefato.processo_id.is_(None), Artefato.processo_id.in_(finished)))
            .order_by(Artefato.expira_em, Artefato.id))


def _empty() -> dict:
    return {"artefatos": 0, "bytes": 0, "falhas": 0, "por_tipo": {kind: 0 for kind in Kind.ALL}}


def limpar(dry_run: bool = False, now=None) -> dict:
    """Delete what expired (or, with dry_run, only say what would go); returns the counts and bytes.

    Read in keyset batches, each committed on its own: a storage failure on one file leaves that row
    untouched (counted in `falhas`, tried again next time) and does not stop the others."""
    now = now or utcnow()
    result, after = _empty(), None
    while True:
        query = due_query(now)
        if after is not None:
            query = query.where(tuple_(Artefato.expira_em, Artefato.id) > tuple_(*after))
        batch = db.session.scalars(query.limit(BATCH)).all()
        if not batch:
            break
        after = (batch[-1].expira_em, batch[-1].id)
        backend = storage.backend()
        for artefato in batch:
            if not dry_run:
                try:
                    backend.delete(artefato.storage_key)
                except storage.StorageUnavailable:
                    log.warning("retention could not delete artefato %s", artefato.id, exc_info=True)
                    result["falhas"] += 1
                    continue
                artefato.removido_em = now
            result["artefatos"] += 1
            result["bytes"] += artefato.size
            result["por_tipo"][artefato.kind] += 1
        if not dry_run:
            db.session.commit()
    if not dry_run and (result["artefatos"] or result["falhas"]):
        audit.record("artefatos_retencao", entity_type="artefatos", detail=describe(result))
        db.session.commit()
    return result


def describe(result: dict) -> str:
    kinds = ", ".join(f"{Kind.LABELS[k]}: {n}" for k, n in result["por_tipo"].items() if n)
    text = (f"{result['artefatos']} artefato(s) removido(s) pela política de retenção, "
            f"{result['bytes']} bytes liberados" + (f" ({kinds})" if kinds else ""))
    if result["falhas"]:
        text += f"; {result['falhas']} não puderam ser removidos e ficam para a próxima vez"
    return text + "."


def limpar_job() -> dict:
    """The daily job (apps/cron.py): runs inside the worker's app context."""
    return limpar()
