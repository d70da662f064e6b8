"""Pagination and safe redirects shared by the list pages and the API."""
from urllib.parse import urlsplit

from flask import current_app, request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, select

from apps.core.types import db, parse_uuid

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


class SeekPagination(Pagination):
    """A page of a long list located without reading the rows before it: `fetch(start, per_page, ref)`
    returns the page's items (the list module picks how: a seek from the row the link carried, from either
    end, or an OFFSET over a covering index). `ref` is (id, position) from the link's `ref` and `ref_pos`
    arguments, or None. The links (page_url) carry the first or last row of this page and its position."""

    def _query_items(self) -> list:
        args = self._query_args
        return args["fetch"](self._query_offset, self.per_page, args["ref"])

    def _query_count(self) -> int:
        return self._query_args["total"]

    def link_args(self, page: int) -> dict:
        """`ref`/`ref_pos` for a link to `page`: the row of this page next to it, whose position is known."""
        if not self.items or page == 1 or page == self.page:
            return {}
        if page > self.page:
            return {"ref": str(self.items[-1].id), "ref_pos": self._query_offset + len(self.items) - 1}
        return {"ref": str(self.items[0].id), "ref_pos": self._query_offset}


def ref_arg():
    """(uuid, position) from ?ref and ?ref_pos, or None when absent or malformed."""
    ref, pos = parse_uuid(request.args.get("ref", "")), request.args.get("ref_pos", "")
    if ref is None or not pos.isdigit() or len(pos) > 12:
        return None
    return ref, int(pos)


def paginate_seek(fetch, total: int, per_page=None, with_ref=True) -> SeekPagination:
    """A SeekPagination of `total` items, page and (`with_ref`: the pages' links carry it) the link's reference
    row taken from the request."""
    per_page = per_page or current_app.config["ITEMS_PER_PAGE"]
    return SeekPagination(page=page_arg(), per_page=per_page, max_per_page=200, error_out=False, count=True,
                          fetch=fetch, total=total, ref=ref_arg() if with_ref else None)


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
