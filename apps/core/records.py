"""What every record service and page shares: the refusal a record service raises, the search keys a model
keeps and the LIKE pattern of a search, and the page's lookup by id."""
from flask import abort
from sqlalchemy import String, event, false, inspect, or_
from sqlalchemy.orm import mapped_column

from apps.core.errors import ServiceError
from apps.core.text import search_key
from apps.core.types import get_by_id


class RecordError(ServiceError, ValueError):
    """A change that breaks a rule: `status` 422 (invalid), 409 (duplicate) or 403 (not allowed)."""

    def __init__(self, message: str, fields: dict | None = None, status: int = 422):
        super().__init__(message, status, fields)


# Between the parts of a key made of several fields (a user's username, e-mail and nome): search_key() folds
# it away from what people type, so a search never matches across two fields.
KEY_SEPARATOR = "\x1f"


def search_key_of(*parts, length: int) -> str:
    """The stored key of `parts`: each one's search_key(), joined by KEY_SEPARATOR, cut to the column."""
    return KEY_SEPARATOR.join(search_key(part) for part in parts)[:length]


def search_key_column(*sources: str, length: int):
    """A `*_busca` column: the key of the `sources` columns, filled by every INSERT that does not give it
    (ORM, Core and bulk inserts alike: a context-sensitive default); keep_search_key() keeps it on updates."""

    def fill(context):
        params = context.get_current_parameters()
        return search_key_of(*(params.get(source) for source in sources), length=length)

    return mapped_column(String(length), nullable=False, default=fill, server_default="")


def keep_search_key(model, key: str, *sources: str) -> None:
    """Keep `model.<key>` equal to the key of its `sources` on every ORM insert and update (a statement
    that bypasses the ORM, like an INSERT … SELECT, must copy or compute the key itself)."""
    length = model.__table__.c[key].type.length

    def fill(mapper, connection, target):
        setattr(target, key, search_key_of(*(getattr(target, source) for source in sources), length=length))

    def refill(mapper, connection, target):
        state = inspect(target)
        if any(state.attrs[source].history.has_changes() for source in sources):
            fill(mapper, connection, target)

    event.listen(model, "before_insert", fill)
    event.listen(model, "before_update", refill)


def like_pattern(text: str) -> str:
    """A LIKE pattern that matches `text` literally anywhere (escape char: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where_equal(query, *pairs):
    """`query` narrowed to `column == value` for each (column, value) pair whose value was given: the
    shape of every list's optional filters."""
    for column, value in pairs:
        if value:
            query = query.where(column == value)
    return query


def contains(text: str, *columns, keys=()):
    """Rows where any of `columns` contains `text` literally, case-insensitively, or any of the `keys`
    columns (normalised `*_busca` keys, see apps.core.text) contains `search_key(text)`, whatever its case
    and accents: the one search condition, so '%' and '_' typed by a person match themselves on every list."""
    conditions = [column.ilike(like_pattern(text), escape="\\") for column in columns]
    key = search_key(text)
    if key:
        # The keys are stored casefolded, so a plain LIKE compares them the same way on both databases.
        conditions += [column.like(like_pattern(key), escape="\\") for column in keys]
    return or_(*conditions) if conditions else false()


def get_or_404(model, raw_id, description: str | None = None):
    """The `model` row whose id is `raw_id`, or the 404 page (a malformed id included)."""
    record = get_by_id(model, raw_id)
    if record is None:
        abort(404, description)
    return record
