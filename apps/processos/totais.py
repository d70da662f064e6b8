"""Processo counts read from processo_totais (kept by database triggers) instead of counting the month."""
from sqlalchemy import delete, func, insert, select

from apps.clientes.models import Cliente
from apps.core.records import where_equal
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos import ancoras
from apps.processos.models import Processo, ProcessoTotal, StatusProcesso


def _where(query, competencia=None, status=None, operadora_id=None):
    return where_equal(query, (ProcessoTotal.competencia, competencia), (ProcessoTotal.status, status),
                       (ProcessoTotal.operadora_id, operadora_id))


def total(competencia=None, status=None, operadora_id=None) -> int:
    """How many processos match; the cost is a few rows whatever the volume."""
    query = _where(select(func.coalesce(func.sum(ProcessoTotal.total), 0)), competencia, status, operadora_id)
    return db.session.scalar(query)


def by_status(competencia: str) -> dict[str, int]:
    """{status: count} of a competência, every status present (zero when none)."""
    counts = dict.fromkeys(StatusProcesso.ALL, 0)
    counts.update(db.session.execute(
        select(ProcessoTotal.status, func.sum(ProcessoTotal.total))
        .where(ProcessoTotal.competencia == competencia).group_by(ProcessoTotal.status)).all())
    return {status: int(n) for status, n in counts.items()}


def competencias() -> list[str]:
    """Every competência that has processos, newest first."""
    return list(db.session.scalars(select(ProcessoTotal.competencia).where(ProcessoTotal.total > 0).distinct()
                                   .order_by(ProcessoTotal.competencia.desc())))


def by_operadora_status(competencia: str) -> list[tuple]:
    """(operadora codigo, operadora nome, status, count) of a competência, counts above zero."""
    return db.session.execute(
        _where(select(Operadora.codigo, Operadora.nome, ProcessoTotal.status, ProcessoTotal.total)
               .join(Operadora, Operadora.id == ProcessoTotal.operadora_id), competencia)
        .where(ProcessoTotal.total > 0)
    ).all()


def actual():
    """The counts as the processos give them now (a GROUP BY over the whole table)."""
    return (select(Processo.competencia, Processo.status, Cliente.operadora_id, func.count())
            .join(Cliente, Cliente.id == Processo.cliente_id)
            .group_by(Processo.competencia, Processo.status, Cliente.operadora_id))


def recount() -> int:
    """Rebuild processo_totais from the processos (after a restore, or a load with triggers off), and drop
    the list's anchors."""
    db.session.execute(delete(ProcessoTotal))
    db.session.execute(insert(ProcessoTotal).from_select(["competencia", "status", "operadora_id", "total"], actual()))
    db.session.commit()
    ancoras.forget()  # a restore may bring back a list version its anchors were read at
    return total()
