"""No flood: items of one event for one recipient and channel become one message per window.

`add` is one upsert of a counter row per (user, event, channel): notify() for 3,000 processos is
3,000 cheap statements, never 3,000 messages. `close_due` (every few seconds, from rq cron) turns each
row older than NOTIFICACOES_AGRUPAR_SEGUNDOS into one Mensagem ("312 processos aguardam sua
aprovação"): the row is taken by DELETE … RETURNING, so two closers never make two messages of it,
and an item counted meanwhile either makes it into this message or opens the next window.
"""
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from apps.auth.models import User
from apps.core.types import db, utcnow
from apps.notificacoes import kinds, preferences
from apps.notificacoes.models import Contato, Grupo, Mensagem, StatusMensagem

MAX_TEXT = 2000
BATCH = 500


def _insert():
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = Grupo.__table__
    return insert(table).on_conflict_do_update(index_elements=["usuario_id", "evento", "canal"],
                                               set_={"quantidade": table.c.quantidade + 1})


def add(event: str, pairs: list[tuple], text: str, link: str | None) -> None:
    """Count one item for each (user_id, canal) pair (one executemany upsert)."""
    if not pairs:
        return
    now = utcnow()
    rows = [{"id": uuid.uuid4(), "usuario_id": uid, "evento": event, "canal": canal, "quantidade": 1,
             "texto": text[:MAX_TEXT], "link": link, "aberto_em": now} for uid, canal in pairs]
    db.session.execute(_insert(), rows)


def message_text(event: str, quantidade: int, texto: str) -> str:
    return texto if quantidade == 1 else kinds.SUMMARY[event].format(n=quantidade)


def close_due(now=None) -> list:
    """Turn the groups whose window has passed into PENDENTE messages; returns their ids (flushed)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=current_app.config["NOTIFICACOES_AGRUPAR_SEGUNDOS"])
    due = db.session.scalars(select(Grupo.id).where(Grupo.aberto_em <= cutoff)
                             .order_by(Grupo.aberto_em).limit(BATCH)).all()
    created = []
    for grupo_id in due:
        row = db.session.execute(delete(Grupo).where(Grupo.id == grupo_id).returning(
            Grupo.usuario_id, Grupo.evento, Grupo.canal, Grupo.quantidade, Grupo.texto, Grupo.link)).first()
        if row is None:
            continue  # another closer took it
        mensagem = build(row.usuario_id, row.canal, message_text(row.evento, row.quantidade, row.texto),
                         evento=row.evento, quantidade=row.quantidade,
                         link=row.link if row.quantidade == 1 else kinds.LIST_LINK.get(row.evento, row.link))
        if mensagem is not None:
            created.append(mensagem.id)
    db.session.flush()
    return created


def build(user_id, canal: str, conteudo: str, *, evento=None, quantidade=1, link=None) -> Mensagem | None:
    """A PENDENTE message to the user's current address on `canal`; None when they have none there now."""
    user = db.session.get(User, user_id)
    if user is None or not user.ativo:
        return None
    destino = preferences.address(user, db.session.get(Contato, user_id), canal)
    if not destino:
        return None
    mensagem = Mensagem(id=uuid.uuid4(), usuario_id=user_id, canal=canal, direcao="SAIDA", evento=evento, destino=destino,
                        conteudo=conteudo, link=link, quantidade=quantidade, status=StatusMensagem.PENDENTE,
                        tentativas=0, proxima_tentativa_em=utcnow())
    db.session.add(mensagem)
    return mensagem
