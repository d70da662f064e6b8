"""Loading by level, not by row: what keeps a GraphQL query's statement count fixed.

A list resolver remembers the objects it returned under the response path of their level
(`processos.edges.node`). When a field below it is resolved for the first of those objects, it
is loaded for all of them in one query, and the other objects find their answer in the cache.
So `processos(first: 100) { edges { node { cliente { operadora { nome } } } } }` costs one query
per level, not one per processo. The path is the response path (aliases included) without list
indices, so two aliased selections of one field are two batches, each with its own arguments.
"""
import base64
import binascii
from collections import defaultdict

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import raiseload

from apps.core.types import db


def level_key(path) -> tuple:
    """A strawberry/graphql-core response path, from the root, without list indices."""
    keys = []
    while path is not None:
        if isinstance(path.key, str):
            keys.append(path.key)
        path = path.prev
    return tuple(reversed(keys))


class Batches:
    """One per request: the objects each level returned, and what was loaded for them."""

    def __init__(self):
        self.levels: dict[tuple, list] = {}
        self.loaded: dict[tuple, dict] = {}

    def remember(self, key: tuple, objects: list) -> None:
        self.levels.setdefault(key, []).extend(objects)

    def siblings(self, info, root) -> list:
        """The objects of `root`'s level (itself alone when its level was not remembered)."""
        return self.levels.get(level_key(info.path.prev), [root])

    def load(self, info, root, loader, args=(), single=True):
        """`loader(objects)` → {object id: value}, run once per level and arguments; `root`'s value.

        Every sibling gets an answer (None when the loader had nothing for it), so none is asked again;
        a `single` value (a cliente, a run) is remembered as its own level, for the fields below it."""
        key = (level_key(info.path), args)
        cache = self.loaded.get(key)
        if cache is None or root.id not in cache:
            objects = self.siblings(info, root) if cache is None else [root]
            found = loader(objects)
            cache = self.loaded.setdefault(key, {})
            for obj in objects:
                cache[obj.id] = found.get(obj.id)
            if single:
                self.remember(level_key(info.path), list({id(v): v for v in found.values() if v is not None}.values()))
        return cache[root.id]


def by_id(model, ids) -> dict:
    """{id: row} of `model` for these ids, one SELECT."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = select(model).where(model.id.in_(wanted)).options(raiseload("*"))
    return {row.id: row for row in db.session.scalars(query)}


def children(model, parent_column, parent_ids, order, first: int, after=None, where=()) -> dict:
    """{parent id: the first `first` + 1 children in `order` (after the cursor key)}, one SELECT for all parents.

    A window function numbers each parent's children; `order` is a list of columns, `after` a tuple
    of their values (keyset pagination: the same cursor for every parent of the level)."""
    ids = list({i for i in parent_ids if i is not None})
    if not ids:
        return {}
    conditions = [parent_column.in_(ids), *where]
    if after is not None:
        conditions.append(_after(order, after))
    rank = func.row_number().over(partition_by=parent_column, order_by=order).label("rank")
    inner = select(model.id.label("child_id"), rank).where(*conditions).subquery()
    rows = db.session.scalars(select(model).join(inner, inner.c.child_id == model.id)
                              .where(inner.c.rank <= first + 1).order_by(*order).options(raiseload("*")))
    grouped = defaultdict(list)
    for row in rows:
        grouped[getattr(row, parent_column.key)].append(row)
    return grouped


def _after(order, values):
    """Rows strictly after `values` in `order` (ascending columns)."""
    return tuple_(*order) > tuple_(*values)


# -- cursors -------------------------------------------------------------------------------------------
def encode_cursor(*values) -> str:
    text = "|".join(str(v) for v in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *kinds):
    """The cursor's values converted by `kinds` (uuid.UUID, int, str); ValueError for a bad cursor."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = text.split("|")
        if len(parts) != len(kinds):
            raise ValueError
        return tuple(kind(part) for kind, part in zip(kinds, parts, strict=True))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("Cursor inválido: use o endCursor de uma página anterior.") from None

