"""The processo state machine: the allowed moves, who may make each, and their audit entry.

Every status change of a processo goes through `move()`, which updates the row only if it is
still in the expected status (a conditional UPDATE): of two people acting at the same moment,
exactly one succeeds and the other is told what happened.
"""
from dataclasses import dataclass

from sqlalchemy import update

from apps.auth.policy import has_permission
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.types import committed, db, utcnow
from apps.processos.models import Processo
from apps.processos.models import StatusProcesso as S

SYSTEM = "system"  # moves made by the robots' jobs, not by a person


class ProcessoError(ServiceError):
    """A move the rules refuse; `status` is the HTTP status the API answers with."""

    status = 409


@dataclass(frozen=True)
class Transition:
    action: str
    source: str
    target: str
    actor: str              # SYSTEM, or the permission a person needs (apps/auth/permissions.py)
    comment_required: bool = False


TRANSITIONS = {
    t.action: t
    for t in (
        Transition("download_concluido", S.AGUARDANDO_DOWNLOAD, S.AGUARDANDO_APROVACAO, SYSTEM),
        Transition("faturas_enviadas", S.AGUARDANDO_DOWNLOAD, S.AGUARDANDO_APROVACAO, "processo.enviar_faturas"),
        Transition("aprovar", S.AGUARDANDO_APROVACAO, S.AGUARDANDO_ENVIO_SAT, "processo.aprovar"),
        Transition("rejeitar", S.AGUARDANDO_APROVACAO, S.AGUARDANDO_DOWNLOAD, "processo.aprovar", comment_required=True),
        Transition("envio_sat_concluido", S.AGUARDANDO_ENVIO_SAT, S.UPLOAD_REALIZADO, SYSTEM),
    )
}

WRONG_STATUS = {
    "aprovar": "Só é possível aprovar um processo em AGUARDANDO_APROVACAO.",
    "rejeitar": "Só é possível rejeitar um processo em AGUARDANDO_APROVACAO.",
    "faturas_enviadas": "Faturas manuais só podem ser enviadas com o processo em AGUARDANDO_DOWNLOAD.",
}


def allowed_actions(processo, user) -> list[str]:
    """The person-made actions `user` may take on `processo` now (for buttons)."""
    return [t.action for t in TRANSITIONS.values()
            if t.actor != SYSTEM and t.source == processo.status and has_permission(user, t.actor)]


def move(processo: Processo, action: str, by=None, comentario: str | None = None, also: dict | None = None) -> Processo:
    """Apply `action` to `processo` (not committed); ProcessoError when the rules refuse it. `also`: other
    columns written by the same UPDATE (the SAT protocol that comes with the upload's end)."""
    t = TRANSITIONS[action]
    if t.actor != SYSTEM and not has_permission(by, t.actor):
        raise ProcessoError("Você não tem permissão para esta ação.", 403)
    if t.comment_required and not (comentario or "").strip():
        raise ProcessoError("Informe o motivo.", 422)
    if processo.status != t.source:
        raise ProcessoError(_wrong_status_message(action, processo.status))
    now = utcnow()
    values = {**(also or {}), "status": t.target, "updated_at": now,
              **({"aprovacao_desde": now} if t.target == S.AGUARDANDO_APROVACAO else {})}
    result = db.session.execute(
        update(Processo)
        .where(Processo.id == processo.id, Processo.status == t.source)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        current = db.session.get(Processo, processo.id)
        db.session.refresh(current)
        raise ProcessoError(
            f"O processo foi alterado por outra pessoa enquanto você agia: agora está em {current.status}. "
            "Recarregue a página para ver a situação atual."
        )
    detail = f"{t.source} → {t.target}" + (f" · {comentario.strip()}" if comentario and comentario.strip() else "")
    audit.record(f"processo_{action}", entity=processo, detail=detail, user=by)
    # What the UPDATE wrote, without reading the row and its runs and invoices again; those collections are read
    # when next used (a move often comes with a new invoice or run).
    committed(processo, values)
    db.session.expire(processo, ["execucoes", "faturas"])
    return processo


def _wrong_status_message(action: str, current: str) -> str:
    base = WRONG_STATUS.get(action, "Esta ação não é permitida no status atual do processo.")
    return f"{base} O processo está em {current}."
