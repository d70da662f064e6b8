"""The processo state machine: every allowed move, every refused one, who may act, and races.

The small factories at the top are shared by the other processos test modules.
"""
import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from apps.auth.models import Role
from apps.clientes.cnpj import check_digits
from apps.clientes.models import Cliente
from apps.core.audit import AuditLog
from apps.core.types import db, utcnow
from apps.operadoras.models import Operadora
from apps.processos import services, state, storage
from apps.processos.models import Execucao, Fatura, Processo, StatusExecucao, TipoExecucao
from apps.processos.models import StatusProcesso as S
from apps.processos.state import ProcessoError

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
_numbers = itertools.count(1)


def make_operadora(codigo="VIVO", possui_rpa=True):
    operadora = db.session.scalar(select(Operadora).where(Operadora.codigo == codigo))
    if operadora is None:
        operadora = Operadora(codigo=codigo, nome=f"{codigo.title()} S.A.", possui_rpa=possui_rpa)
        db.session.add(operadora)
        db.session.flush()
    return operadora


def make_cliente(nome=None, operadora=None, ativo=True):
    n = next(_numbers)
    base = f"{n:08d}0001"
    cliente = Cliente(nome=nome or f"Cliente {n:04d}", cnpj=base + check_digits(base), ativo=ativo,
                      operadora=operadora or make_operadora())
    db.session.add(cliente)
    db.session.flush()
    return cliente


def make_processo(status=S.AGUARDANDO_DOWNLOAD, competencia="2026-05", cliente=None, **cliente_kw):
    processo = Processo(cliente=cliente or make_cliente(**cliente_kw), competencia=competencia, status=status)
    db.session.add(processo)
    db.session.commit()
    return processo


def make_fatura(processo, numero="F-1", valor="123.45", data=PDF, **fields):
    fatura = Fatura(processo_id=processo.id, numero=numero, valor=Decimal(valor), vencimento=date(2026, 6, 10),
                    emissao=date(2026, 5, 20), arquivo=storage.save(processo.id, data),
                    sha256=storage.sha256_hex(data), tamanho=len(data), **fields)
    db.session.add(fatura)
    db.session.commit()
    return fatura


def make_execucao(processo, status=StatusExecucao.FALHOU, tipo=TipoExecucao.DOWNLOAD, job_id=None, **fields):
    start = utcnow() - timedelta(minutes=3)
    execucao = Execucao(processo_id=processo.id, tipo=tipo, status=status, job_id=job_id, data_inicio=start,
                        data_fim=None if status in StatusExecucao.ACTIVE else start + timedelta(seconds=65),
                        **fields)
    db.session.add(execucao)
    db.session.commit()
    return execucao


def audit_actions(processo) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).where(
        AuditLog.entity_type == "processos", AuditLog.entity_id == str(processo.id))))


PERSON_MOVES = [t for t in state.TRANSITIONS.values() if t.actor != state.SYSTEM]


@pytest.mark.parametrize("transition", state.TRANSITIONS.values(), ids=lambda t: t.action)
def test_every_allowed_move_changes_status_and_is_audited(users, transition):
    processo = make_processo(status=transition.source)
    by = None if transition.actor == state.SYSTEM else users[Role.OPERADOR]
    state.move(processo, transition.action, by=by, comentario="motivo informado")
    db.session.commit()
    assert db.session.get(Processo, processo.id).status == transition.target
    assert audit_actions(processo) == [f"processo_{transition.action}"]


ILLEGAL = [(t, status) for t in state.TRANSITIONS.values() for status in S.ALL if status != t.source]


@pytest.mark.parametrize("transition,status", ILLEGAL, ids=lambda v: getattr(v, "action", v))
def test_every_illegal_move_is_refused_with_its_message(users, transition, status):
    processo = make_processo(status=status)
    by = None if transition.actor == state.SYSTEM else users[Role.ADMIN]
    with pytest.raises(ProcessoError) as caught:
        state.move(processo, transition.action, by=by, comentario="x")
    base = state.WRONG_STATUS.get(transition.action, "Esta ação não é permitida no status atual do processo.")
    assert caught.value.status == 409
    assert caught.value.message == f"{base} O processo está em {status}."
    db.session.rollback()
    assert db.session.get(Processo, processo.id).status == status
    assert audit_actions(processo) == []


@pytest.mark.parametrize("transition", PERSON_MOVES, ids=lambda t: t.action)
@pytest.mark.parametrize("who", [Role.VISUALIZADOR, None])
def test_people_without_operate_are_refused(users, transition, who):
    processo = make_processo(status=transition.source)
    with pytest.raises(ProcessoError) as caught:
        state.move(processo, transition.action, by=users[who] if who else None, comentario="x")
    assert caught.value.status == 403
    assert caught.value.message == "Você não tem permissão para esta ação."
    assert db.session.get(Processo, processo.id).status == transition.source


def test_inactive_operador_is_refused(users):
    operador = users[Role.OPERADOR]
    operador.ativo = False
    db.session.commit()
    processo = make_processo(status=S.AGUARDANDO_APROVACAO)
    with pytest.raises(ProcessoError) as caught:
        state.move(processo, "aprovar", by=operador)
    assert caught.value.status == 403


@pytest.mark.parametrize("comentario", [None, "", "   \n "])
def test_rejeitar_requires_a_reason(users, comentario):
    processo = make_processo(status=S.AGUARDANDO_APROVACAO)
    with pytest.raises(ProcessoError) as caught:
        state.move(processo, "rejeitar", by=users[Role.OPERADOR], comentario=comentario)
    assert (caught.value.status, caught.value.message) == (422, "Informe o motivo.")
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO


def test_aprovar_does_not_need_a_comment_and_keeps_one_given(users):
    processo = make_processo(status=S.AGUARDANDO_APROVACAO)
    state.move(processo, "aprovar", by=users[Role.OPERADOR])
    other = make_processo(status=S.AGUARDANDO_APROVACAO)
    state.move(other, "aprovar", by=users[Role.OPERADOR], comentario="  conferido com o contrato ")
    db.session.commit()
    details = db.session.scalars(select(AuditLog.detail).where(AuditLog.entity_id == str(other.id))).all()
    assert details == ["AGUARDANDO_APROVACAO → AGUARDANDO_ENVIO_SAT · conferido com o contrato"]
    assert processo.status == other.status == S.AGUARDANDO_ENVIO_SAT


@pytest.mark.parametrize("status,role,expected", [
    (S.AGUARDANDO_DOWNLOAD, Role.OPERADOR, ["faturas_enviadas"]),
    (S.AGUARDANDO_APROVACAO, Role.OPERADOR, ["aprovar", "rejeitar"]),
    (S.AGUARDANDO_APROVACAO, Role.ADMIN, ["aprovar", "rejeitar"]),
    (S.AGUARDANDO_APROVACAO, Role.VISUALIZADOR, []),
    (S.AGUARDANDO_ENVIO_SAT, Role.ADMIN, []),
    (S.UPLOAD_REALIZADO, Role.ADMIN, []),
])
def test_allowed_actions_by_status_and_role(users, status, role, expected):
    assert state.allowed_actions(make_processo(status=status), users[role]) == expected


def test_second_session_approving_the_same_processo_is_told_someone_else_did(app, users):
    processo = make_processo(status=S.AGUARDANDO_APROVACAO)
    make_fatura(processo)
    mine = db.session.get(Processo, processo.id)
    assert mine.status == S.AGUARDANDO_APROVACAO  # loaded in this session before the other person acts
    with app.app_context():  # another request: its own database session
        theirs = db.session.get(Processo, processo.id)
        services.aprovar(theirs, by=users[Role.ADMIN], comentario="ok")
    assert mine.status == S.AGUARDANDO_APROVACAO  # stale in memory
    with pytest.raises(ProcessoError) as caught:
        services.aprovar(mine, by=users[Role.OPERADOR])
    assert caught.value.status == 409
    assert "alterado por outra pessoa" in caught.value.message
    assert "AGUARDANDO_ENVIO_SAT" in caught.value.message
    assert audit_actions(processo) == ["processo_aprovar"]


def test_status_changed_behind_the_back_of_a_rejection(users):
    processo = make_processo(status=S.AGUARDANDO_APROVACAO)
    fatura = make_fatura(processo)
    with db.engine.begin() as conn:  # a robot or another worker moved it meanwhile
        conn.execute(Processo.__table__.update().where(Processo.__table__.c.id == processo.id)
                     .values(status=S.AGUARDANDO_ENVIO_SAT))
    with pytest.raises(ProcessoError) as caught:
        services.rejeitar(processo, by=users[Role.OPERADOR], motivo="valor errado")
    assert "alterado por outra pessoa" in caught.value.message
    db.session.expire_all()
    assert db.session.get(Fatura, fatura.id).rejeitada is False


def test_rejeitar_marks_active_faturas_and_keeps_them(users):
    processo = make_processo(status=S.AGUARDANDO_APROVACAO)
    old = make_fatura(processo, numero="OLD", rejeitada=True, motivo_rejeicao="antiga", data=PDF + b"1")
    current = make_fatura(processo, numero="NEW", data=PDF + b"2")
    services.rejeitar(processo, by=users[Role.OPERADOR], motivo="  valor divergente ")
    db.session.expire_all()
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_DOWNLOAD
    assert db.session.get(Fatura, current.id).motivo_rejeicao == "valor divergente"
    assert db.session.get(Fatura, old.id).motivo_rejeicao == "antiga"
    assert db.session.get(Processo, processo.id).faturas_ativas == []


def test_aprovar_without_faturas_is_refused(users):
    processo = make_processo(status=S.AGUARDANDO_APROVACAO)
    with pytest.raises(ProcessoError) as caught:
        services.aprovar(processo, by=users[Role.OPERADOR])
    assert caught.value.message == "Não há faturas para aprovar neste processo."
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO
