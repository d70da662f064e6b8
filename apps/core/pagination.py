"""Pagination and safe redirects shared by the list pages and the API."""
from urllib.parse import urlsplit

from flask import current_app, request
from sqlalchemy import func, select

from apps.core.types import db

MAX_PAGE = 1_000_000  # beyond any real list; keeps OFFSET inside a 64-bit integer


def page_arg() -> int:
    try:
        return min(MAX_PAGE, max(1, int(request.args.get("page", 1))))
    except ValueError:
        return 1


def paginate(query, per_page=None, total: int | None = None):
    """A Flask-SQLAlchemy pagination of a select(), page taken from the request.

    `total`, when the caller knows it more cheaply than counting the query (the processo list reads it
    from processo_totais), spares the COUNT over the page query's joins."""
    per_page = per_page or current_app.config["ITEMS_PER_PAGE"]
    pagination = db.paginate(query, page=page_arg(), per_page=per_page, error_out=False, max_per_page=200,
                             count=total is None)
    if total is not None:
        pagination.total = total
    return pagination


def count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default  # browsers read "/\\evil" and "/<tab>/evil" as "//evil": another site
    return target
