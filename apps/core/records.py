"""What every record service and page shares: the refusal a record service raises, the LIKE pattern of a
search, and the page's lookup by id."""
from flask import abort
from sqlalchemy import or_

from apps.core.errors import ServiceError
from apps.core.types import get_by_id


class RecordError(ServiceError, ValueError):
    """A change that breaks a rule: `status` 422 (invalid), 409 (duplicate) or 403 (not allowed)."""

    def __init__(self, message: str, fields: dict | None = None, status: int = 422):
        super().__init__(message, status, fields)


def like_pattern(text: str) -> str:
    """A LIKE pattern that matches `text` literally anywhere (escape char: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(text: str, *columns):
    """Rows where any of `columns` contains `text` literally, case-insensitively: the one search condition,
    so '%' and '_' typed by a person match themselves on every list."""
    pattern = like_pattern(text)
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def get_or_404(model, raw_id, description: str | None = None):
    """The `model` row whose id is `raw_id`, or the 404 page (a malformed id included)."""
    record = get_by_id(model, raw_id)
    if record is None:
        abort(404, description)
    return record
