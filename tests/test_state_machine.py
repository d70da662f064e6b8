"""The processo state machine: every allowed move, every refused one, who may act, and races."""
import pytest
from sqlalchemy import select

from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.processos import services, state
from apps.processos.models import Fatura, Processo, StatusExecucao, TipoExecucao
from apps.processos.models import StatusProcesso as S
from apps.processos.state import ProcessoError
from tests.factories import PDF, ClienteFactory, ExecucaoFactory, FaturaFactory, OperadoraFactory, ProcessoFactory

# The make_* names below stay importable for test modules outside the factories refactor
# (test_security, test_gerar_processos, test_processo_totais); new tests use tests.factories.

def make_operadora(codigo="VIVO", possui_rpa=True):
    return OperadoraFactory(codigo=codigo, possui_rpa=possui_rpa)


def make_cliente(nome=None, operadora=None, ativo=True):
    fields = {k: v for k, v in {"nome": nome, "operadora": operadora}.items() if v is not None}
    return ClienteFactory(ativo=ativo, **fields)


def make_processo(status=S.AGUARDANDO_DOWNLOAD, competencia="2026-05", cliente=None, **cliente_kw):
    cliente = cliente or make_cliente(**cliente_kw)
    return ProcessoFactory(status=status, competencia=competencia, cliente=cliente)


def make_fatura(processo, numero="F-1", valor="123.45", data=PDF, **fields):
    return FaturaFactory(processo=processo, numero=numero, valor=valor, data=data, **fields)


def make_execucao(processo, status=StatusExecucao.FALHOU, tipo=TipoExecucao.DOWNLOAD, job_id=None, **fields):
    return ExecucaoFactory(processo=processo, status=status, tipo=tipo, job_id=job_id, **fields)


def audit_actions(processo) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).where(
        AuditLog.entity_type == "processos", AuditLog.entity_id == str(processo.id))))


PERSON_MOVES = [t for t in state.TRANSITIONS.values() if t.actor != state.SYSTEM]


@pytest.mark.parametrize("transition", state.TRANSITIONS.values(), ids=lambda t: t.action)
def test_every_allowed_move_changes_status_and_is_audited(users, transition):
    processo = ProcessoFactory(status=transition.source)
    by = None if transition.actor == state.SYSTEM else users[Role.OPERADOR]
    state.move(processo, transition.action, by=by, comentario="motivo informado")
    db.session.commit()
    assert db.session.get(Processo, processo.id).status == transition.target
    assert audit_actions(processo) == [f"processo_{transition.action}"]


ILLEGAL = [(t, status) for t in state.TRANSITIONS.values() for status in S.ALL if status != t.source]


@pytest.mark.parametrize("transition,status", ILLEGAL, ids=lambda v: getattr(v, "action", v))
def test_every_illegal_move_is_refused_with_its_message(users, transition, status):
    processo = ProcessoFactory(status=status)
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
    processo = ProcessoFactory(status=transition.source)
    with pytest.raises(ProcessoError) as caught:
        state.move(processo, transition.action, by=users[who] if who else None, comentario="x")
    assert caught.value.status == 403
    assert caught.value.message == "Você não tem permissão para esta ação."
    assert db.session.get(Processo, processo.id).status == transition.source


def test_inactive_operador_is_refused(users):
    operador = users[Role.OPERADOR]
    operador.ativo = False
    db.session.commit()
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    with pytest.raises(ProcessoError) as caught:
        state.move(processo, "aprovar", by=operador)
    assert caught.value.status == 403


@pytest.mark.parametrize("comentario", [None, "", "   \n "])
def test_rejeitar_requires_a_reason(users, comentario):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    with pytest.raises(ProcessoError) as caught:
        state.move(processo, "rejeitar", by=users[Role.OPERADOR], comentario=comentario)
    assert (caught.value.status, caught.value.message) == (422, "Informe o motivo.")
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO


def test_aprovar_does_not_need_a_comment_and_keeps_one_given(users):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    state.move(processo, "aprovar", by=users[Role.OPERADOR])
    other = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
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
    assert state.allowed_actions(ProcessoFactory(status=status), users[role]) == expected


def test_second_session_approving_the_same_processo_is_told_someone_else_did(app, users):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo)
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
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    fatura = FaturaFactory(processo=processo)
    with db.engine.begin() as conn:  # a robot or another worker moved it meanwhile
        conn.execute(Processo.__table__.update().where(Processo.__table__.c.id == processo.id)
                     .values(status=S.AGUARDANDO_ENVIO_SAT))
    with pytest.raises(ProcessoError) as caught:
        services.rejeitar(processo, by=users[Role.OPERADOR], motivo="valor errado")
    assert "alterado por outra pessoa" in caught.value.message
    db.session.expire_all()
    assert db.session.get(Fatura, fatura.id).rejeitada is False


def test_rejeitar_marks_active_faturas_and_keeps_them(users):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    old = FaturaFactory(processo=processo, numero="OLD", rejeitada=True, motivo_rejeicao="antiga", data=PDF + b"1")
    current = FaturaFactory(processo=processo, numero="NEW", data=PDF + b"2")
    services.rejeitar(processo, by=users[Role.OPERADOR], motivo="  valor divergente ")
    db.session.expire_all()
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_DOWNLOAD
    assert db.session.get(Fatura, current.id).motivo_rejeicao == "valor divergente"
    assert db.session.get(Fatura, old.id).motivo_rejeicao == "antiga"
    assert db.session.get(Processo, processo.id).faturas_ativas == []


def test_aprovar_without_faturas_is_refused(users):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    with pytest.raises(ProcessoError) as caught:
        services.aprovar(processo, by=users[Role.OPERADOR])
    assert caught.value.message == "Não há faturas para aprovar neste processo."
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO
