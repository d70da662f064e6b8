"""Anchors of the processo list: the id of every STEP-th row of a competência's list, read once and kept
in Redis with the list's version (processo_listas, raised by triggers whenever a row enters, leaves or moves
in the order), so a page typed deep in the list seeks from the anchor before it and skips fewer than STEP
rows instead of every row before it.

An anchor is used only in the statement that checks the version it was read at: once a processo is added,
removed or renamed in that month, the check fails, the page is found without anchors and they are read
again. Without Redis the list works as before (from the nearer end)."""
import uuid
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import select

from apps.core.queues import get_redis
from apps.processos.models import ProcessoLista

KEY = "processos:ancoras:{scope}"
TTL_SECONDS = 24 * 3600  # a month nobody pages through any more leaves Redis within a day


def step() -> int:
    return int(current_app.config.get("PROCESSOS_ANCORA_PASSO", 1000))


def version(competencia: str):
    """The competência's list version, as a scalar subquery."""
    return select(ProcessoLista.versao).where(ProcessoLista.competencia == competencia).scalar_subquery()


@dataclass
class Anchors:
    versao: int
    ids: list  # ids[k]: the row at position (k + 1) * step - 1

    def covers(self, start: int) -> bool:
        return 0 <= self.index(start) < len(self.ids)

    def index(self, start: int) -> int:
        return start // step() - 1

    def before(self, start: int) -> tuple[uuid.UUID, int]:
        """(the anchor's id, rows to skip after it) for the page starting at row `start`."""
        return self.ids[self.index(start)], start % step()


def _key(competencia: str) -> str:
    return KEY.format(scope=competencia)


class Unavailable(Exception):
    """Redis cannot be reached: the page is found without anchors (and none are read to be lost)."""


def cached(competencia) -> Anchors | None:
    """The anchors kept for the list (None when none are, or they cannot be read); Unavailable without Redis."""
    try:
        value = get_redis().get(_key(competencia))
    except redis.RedisError as exc:
        raise Unavailable() from exc
    if not value:
        return None
    try:
        versao, _, ids = value.decode().partition(":")
        return Anchors(int(versao), [uuid.UUID(hex=i) for i in ids.split(",") if i])
    except ValueError:
        return None


def keep(competencia, anchors: Anchors) -> None:
    try:
        get_redis().set(_key(competencia), f"{anchors.versao}:{','.join(i.hex for i in anchors.ids)}", ex=TTL_SECONDS)
    except redis.RedisError:
        pass


def forget() -> None:
    """Drop every list's anchors (after the processos were restored or recounted: versions may repeat)."""
    try:
        connection = get_redis()
        for key in connection.scan_iter(match=KEY.format(scope="*"), count=500):
            connection.delete(key)
    except redis.RedisError:
        pass
