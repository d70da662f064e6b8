"""Column types and mixins shared by the models."""
import uuid
from datetime import UTC, datetime

from sqlalchemy import ClauseElement, DateTime, TypeDecorator, Uuid
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from apps.extensions import db


def utcnow() -> datetime:
    """The current moment, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class UUIDPk:
    """A UUID primary key generated in Python, so ids are known before the flush."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class Timestamps:
    """created_at / updated_at, set by the database layer on insert and update."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


def parse_uuid(value):
    """A UUID from a string, or None when it is not one (so lookups answer 404, not 500)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def get_by_id(model, raw_id, **options):
    """The `model` row whose id is `raw_id` (a UUID or its text), or None, a malformed id included."""
    uid = parse_uuid(raw_id)
    return db.session.get(model, uid, **options) if uid else None


def committed(obj, values: dict) -> None:
    """After a conditional UPDATE of `obj`'s row that matched: the object holds what was written, as if read
    back (no SELECT). A value that is an SQL expression is left to be read when next used."""
    for key, value in values.items():
        if isinstance(value, ClauseElement):
            db.session.expire(obj, [key])
        else:
            set_committed_value(obj, key, value)


__all__ = ["db", "utcnow", "UTCDateTime", "UUIDPk", "Timestamps", "parse_uuid", "get_by_id", "committed"]
