"""The audit trail: who did what to which record, when, with a detail."""
import uuid
from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.types import UTCDateTime, UUIDPk, db, utcnow


class AuditLog(UUIDPk, db.Model):
    """One recorded action."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    entity_type: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))

    user = relationship("User", lazy="joined")


def record(action: str, entity=None, detail: str | None = None, user=None, entity_type=None, entity_id=None):
    """Add an audit entry to the current session (committed with the change it describes)."""
    if user is None and has_request_context() and current_user and current_user.is_authenticated:
        user = current_user._get_current_object()
    if entity is not None:
        entity_type = entity_type or entity.__tablename__
        entity_id = entity_id or str(entity.id)
    entry = AuditLog(
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        detail=detail,
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", None),
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry
