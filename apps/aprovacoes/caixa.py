"""The inbox's queries: the tabs (Minhas, Do meu grupo, Sem responsável, Vencidas), their counts and the
sidebar badge, the review queue's next and previous. A constant number of statements per page."""
from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import contains_eager, raiseload

from apps.aprovacoes.models import TarefaAprovacao, aprovadores
from apps.aprovacoes.prazo import hoje
from apps.auth.policy import has_permission
from apps.core.types import db

T = TarefaAprovacao
ABAS = {"minhas": "Minhas", "grupo": "Do meu grupo", "sem": "Sem responsável", "vencidas": "Vencidas"}
ORDEM = (T.prazo, T.created_at, T.id)


def _meus_grupos(user):
    return select(aprovadores.c.operadora_id).where(aprovadores.c.user_id == user.id)


def _condicao(user, aba, today):
    """The WHERE of a tab for `user` (admins see every operadora's tasks in the group tabs)."""
    todos = has_permission(user, "aprovacao.atribuir")
    meu_grupo = T.operadora_id.in_(_meus_grupos(user))
    if aba == "minhas":
        return T.responsavel_id == user.id
    if aba == "grupo":
        return true() if todos else meu_grupo
    if aba == "sem":
        return T.responsavel_id.is_(None) if todos else and_(T.responsavel_id.is_(None), meu_grupo)
    if aba == "vencidas":
        vencida = T.prazo < today
        return vencida if todos else and_(vencida, or_(T.responsavel_id == user.id, meu_grupo))
    raise ValueError(aba)


def _filtros(user, aba, operadora_id, responsavel_id, vencidas, today) -> list:
    where = [T.aberta.is_(True)]
    if aba is not None:
        where.append(_condicao(user, aba, today))
    if operadora_id is not None:
        where.append(T.operadora_id == operadora_id)
    if responsavel_id is not None:
        where.append(T.responsavel_id == responsavel_id)
    if vencidas is True:
        where.append(T.prazo < today)
    elif vencidas is False:
        where.append(T.prazo >= today)
    return where


def fila(user=None, aba=None, operadora_id=None, responsavel_id=None, vencidas=None, today=None):
    """Open tasks with their processo, operadora and responsavel loaded in the same SELECT, by prazo."""
    where = _filtros(user, aba, operadora_id, responsavel_id, vencidas, today or hoje())
    return (select(T).join(T.processo).join(T.operadora).outerjoin(T.responsavel).where(*where)
            .options(contains_eager(T.processo).raiseload("*"), contains_eager(T.operadora),
                     contains_eager(T.responsavel).raiseload("*"), raiseload("*"))
            .order_by(*ORDEM))


def total(user=None, aba=None, operadora_id=None, responsavel_id=None, vencidas=None, today=None) -> int:
    """How many tasks `fila` lists, counted on the tasks alone (its joins follow required foreign keys)."""
    where = _filtros(user, aba, operadora_id, responsavel_id, vencidas, today or hoje())
    return db.session.scalar(select(func.count()).select_from(T).where(*where))


def contagens(user, today=None) -> dict:
    """{tab: open tasks} for the tabs, in one statement."""
    today = today or hoje()
    sums = [func.coalesce(func.sum(case((_condicao(user, aba, today), 1), else_=0)), 0).label(aba) for aba in ABAS]
    row = db.session.execute(select(*sums).select_from(T).where(T.aberta.is_(True))).one()
    return {aba: int(row._mapping[aba]) for aba in ABAS}


def badge(user, today=None) -> dict:
    """{"minhas", "vencidas"}: the sidebar's numbers (the user's own open tasks), one indexed statement."""
    today = today or hoje()
    row = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((T.prazo < today, 1), else_=0)), 0))
        .where(T.responsavel_id == user.id, T.aberta.is_(True))).one()
    return {"minhas": int(row[0]), "vencidas": int(row[1])}


def vizinha(user, aba, tarefa, depois=True):
    """The open task right after (or before) `tarefa` in the tab's order (keyset), or None."""
    key = (tarefa.prazo, tarefa.created_at, tarefa.id)
    cols = ORDEM
    if depois:
        cond = or_(cols[0] > key[0], and_(cols[0] == key[0], cols[1] > key[1]),
                   and_(cols[0] == key[0], cols[1] == key[1], cols[2] > key[2]))
        order = [c.asc() for c in cols]
    else:
        cond = or_(cols[0] < key[0], and_(cols[0] == key[0], cols[1] < key[1]),
                   and_(cols[0] == key[0], cols[1] == key[1], cols[2] < key[2]))
        order = [c.desc() for c in cols]
    query = select(T.processo_id).where(T.aberta.is_(True), T.id != tarefa.id, cond, _condicao(user, aba, hoje()))
    return db.session.scalar(query.order_by(*order).limit(1))


def primeira(user, aba):
    return db.session.scalar(select(T.processo_id).where(T.aberta.is_(True), _condicao(user, aba, hoje()))
                             .order_by(*ORDEM).limit(1))


def alerta(tarefa) -> bool:
    """The total changed more than the operadora's variacao_alerta_pct against the previous months."""
    v = tarefa.variacao
    return v is not None and abs(v) >= tarefa.operadora.variacao_alerta_pct


def serialize(tarefa, today=None) -> dict:
    today = today or hoje()
    v = tarefa.variacao
    return {"processo_id": str(tarefa.processo_id), "responsavel_id": str(tarefa.responsavel_id)
            if tarefa.responsavel_id else None, "prazo": tarefa.prazo.isoformat(), "vencida": tarefa.prazo < today,
            "total": f"{tarefa.total:.2f}", "variacao": float(v) if v is not None else None,
            "alerta": alerta(tarefa), "n_faturas": tarefa.n_faturas,
            "media_anterior": f"{tarefa.media_anterior:.2f}" if tarefa.media_anterior is not None else None,
            "operadora_id": str(tarefa.operadora_id), "operadora": tarefa.operadora.codigo,
            "cliente": tarefa.processo.cliente_nome, "competencia": tarefa.processo.competencia,
            "primeira_aprovacao_por_id": str(tarefa.primeira_aprovacao_por_id)
            if tarefa.primeira_aprovacao_por_id else None,
            "atribuida_em": tarefa.atribuida_em.isoformat() if tarefa.atribuida_em else None}
