"""Relay-style connections over SELECTs: keyset pagination, `first` capped, one extra row for hasNextPage."""
from typing import Generic, TypeVar

import strawberry
from flask import current_app
from sqlalchemy import tuple_
from sqlalchemy.orm import raiseload
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from apps.core.types import db
from apps.graphql_api import batch
from apps.graphql_api.errors import Refused

T = TypeVar("T")


@strawberry.type(description="Onde a página termina e se há outra depois dela.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def page_size(first: int | None) -> int:
    """`first` within 1..GRAPHQL_MAX_FIRST (default GRAPHQL_DEFAULT_FIRST)."""
    config = current_app.config
    if first is None:
        return int(config["GRAPHQL_DEFAULT_FIRST"])
    if first < 1 or first > int(config["GRAPHQL_MAX_FIRST"]):
        raise Refused(f"`first` deve estar entre 1 e {config['GRAPHQL_MAX_FIRST']}.")
    return first


class Keyset:
    """How a list is ordered and its cursor read: columns (ascending) and how to parse each value."""

    def __init__(self, *columns, kinds):
        self.columns, self.kinds = columns, kinds

    def values(self, row) -> tuple:
        return tuple(getattr(row, column.key) for column in self.columns)

    def after(self, cursor: str | None):
        try:
            return batch.decode_cursor(cursor, *self.kinds)
        except ValueError as exc:
            raise Refused(str(exc)) from None

    def cursor(self, row) -> str:
        return batch.encode_cursor(*self.values(row))


def connection(rows: list, size: int, keyset: Keyset, info=None, batches=None) -> Connection:
    """A Connection of the first `size` of `rows` (which holds up to size + 1); remembers the nodes' level."""
    nodes = rows[:size]
    if batches is not None and info is not None:
        for key in node_levels(info):
            batches.remember(key, nodes)
    edges = [Edge(node=row, cursor=keyset.cursor(row)) for row in nodes]
    return Connection(edges=edges, page_info=PageInfo(has_next_page=len(rows) > size,
                                                      end_cursor=edges[-1].cursor if edges else None))


def top_level(query, keyset: Keyset, first, after, info, batches) -> Connection:
    """A root list: `query` (a select of the model) paged by `keyset`."""
    size = page_size(first)
    start = keyset.after(after)
    if start is not None:
        query = query.where(tuple_(*keyset.columns) > tuple_(*start))
    rows = list(db.session.scalars(query.order_by(*keyset.columns).limit(size + 1).options(raiseload("*"))))
    return connection(rows, size, keyset, info, batches)


def node_levels(info) -> list[tuple]:
    """The response paths of this connection's nodes (`…processos.edges.node`), aliases included."""
    base = batch.level_key(info.path)
    keys = []
    for field in info.selected_fields:
        for edges in _fields(field.selections, "edges"):
            for node in _fields(edges.selections, "node"):
                keys.append((*base, edges.alias or edges.name, node.alias or node.name))
    return keys


def _fields(selections, name):
    """The selected fields called `name`, through fragments."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name:
                yield selection
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _fields(selection.selections, name)
