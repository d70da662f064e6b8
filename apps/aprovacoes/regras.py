"""Who may approve, and the four-eyes rules applied to every approval (page, bulk action, API).

`processos.services.aprovar` and `rejeitar` call `antes_de_aprovar` and `fechar` (its hooks), so no
path approves around these rules. Nothing here approves by itself, and nothing is approved by a timeout.
"""
from decimal import Decimal

from sqlalchemy import select, update

from apps.aprovacoes.models import Resultado, TarefaAprovacao
from apps.aprovacoes.prazo import agora, hoje
from apps.auth.policy import has_permission
from apps.core import audit
from apps.core.types import db
from apps.processos.models import StatusProcesso
from apps.processos.state import ProcessoError

PRIMEIRA = "primeira"   # antes_de_aprovar's answer: first of two approvals recorded, the processo keeps waiting
SEGUE = "segue"         # the approval may go on
PRIMEIRA_REGISTRADA = "primeira aprovação registrada: o valor exige a aprovação de um segundo aprovador."


def pode_aprovar(user) -> bool:
    """The one rule of approval rights: a role that grants processo.aprovar (Aprovador, Operador, Admin)."""
    return user is not None and has_permission(user, "processo.aprovar")


def ausente(user, today=None) -> bool:
    """Away (ausente_ate is today or later): no new tasks; colleagues may take the open ones."""
    ate = getattr(user, "ausente_ate", None)
    return ate is not None and ate >= (today or hoje())


def tarefa_aberta(processo_id) -> TarefaAprovacao | None:
    return db.session.scalar(select(TarefaAprovacao).where(TarefaAprovacao.processo_id == processo_id,
                                                           TarefaAprovacao.aberta.is_(True)))


def exige_dupla(operadora, total) -> bool:
    """Above the operadora's valor_dupla_aprovacao (when set) two different approvers are needed."""
    limite = operadora.valor_dupla_aprovacao
    return limite is not None and Decimal(total or 0) > Decimal(limite)


def antes_de_aprovar(processo, by) -> str:
    """Check four eyes before `by` approves `processo`: SEGUE, or PRIMEIRA when this was the first of two
    approvals (recorded and audited; the caller must not move the processo); ProcessoError when refused."""
    if processo.status != StatusProcesso.AGUARDANDO_APROVACAO or not pode_aprovar(by):
        return SEGUE  # the state machine refuses it with its own message
    tarefa = tarefa_aberta(processo.id)
    if tarefa is not None and by is not None and tarefa.enviado_por_id == by.id:
        raise ProcessoError("Você enviou estas faturas manualmente: outra pessoa precisa aprová-las (quatro olhos).",
                            403)
    total = sum((f.valor for f in processo.faturas_ativas), Decimal("0"))
    if not exige_dupla(processo.cliente.operadora, total):
        return SEGUE
    primeira = tarefa.primeira_aprovacao_por_id if tarefa is not None else None
    if primeira is not None and primeira != by.id:
        return SEGUE
    if primeira == by.id:
        raise ProcessoError("Você já registrou a primeira aprovação deste processo: a segunda precisa ser de "
                            "outro aprovador.", 409)
    if tarefa is None:
        raise ProcessoError("Este processo ainda não tem tarefa de aprovação; tente novamente em instantes.", 409)
    claimed = db.session.execute(
        update(TarefaAprovacao).where(TarefaAprovacao.id == tarefa.id, TarefaAprovacao.aberta.is_(True),
                                      TarefaAprovacao.primeira_aprovacao_por_id.is_(None))
        .values(primeira_aprovacao_por_id=by.id, primeira_aprovacao_em=agora())
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:  # someone else gave the first approval at this very moment: this one is the second
        db.session.refresh(tarefa)
        if tarefa.primeira_aprovacao_por_id == by.id:
            raise ProcessoError("Você já registrou a primeira aprovação deste processo.", 409)
        return SEGUE
    audit.record("aprovacao_primeira", entity=processo, user=by,
                 detail=f"primeira de duas aprovações (total acima de {processo.cliente.operadora.valor_dupla_aprovacao})")
    db.session.refresh(tarefa)
    return PRIMEIRA


def fechar(processo, resultado: str) -> None:
    """Close the processo's open task (approved, rejected); flushes."""
    db.session.execute(
        update(TarefaAprovacao).where(TarefaAprovacao.processo_id == processo.id, TarefaAprovacao.aberta.is_(True))
        .values(aberta=False, fechada_em=agora(), resultado=resultado)
        .execution_options(synchronize_session=False))


__all__ = ["pode_aprovar", "ausente", "antes_de_aprovar", "fechar", "Resultado", "PRIMEIRA", "SEGUE"]
