"""Approval tasks: assignment by workload, the business-day prazo, four eyes and double approval, reassigning,
"Assumir" and absences, comments, and the hooks where processos reach and leave approval."""
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from apps.aprovacoes import comentarios, tarefas
from apps.aprovacoes.calendario import somar_dias_uteis
from apps.aprovacoes.models import TarefaAprovacao
from apps.auth.models import Role, User
from apps.core.types import db
from apps.notificacoes import events
from apps.processos import execucoes, manual, services, storage
from apps.processos.models import StatusExecucao, StatusProcesso
from apps.processos.state import ProcessoError
from tests.conftest import actions
from tests.factories import PDF, ExecucaoFactory, OperadoraFactory, ProcessoFactory
from tests.support.aprovacoes import approver, at, group, make_clock, spy_notify, waiting


@pytest.fixture
def clock(monkeypatch):
    return make_clock(monkeypatch)


@pytest.fixture
def told(monkeypatch):
    return spy_notify(monkeypatch)


def task(processo) -> TarefaAprovacao:
    return db.session.scalars(select(TarefaAprovacao).where(TarefaAprovacao.processo_id == processo.id)
                              .order_by(TarefaAprovacao.aberta.desc(), TarefaAprovacao.created_at.desc())).first()


def owner(processo) -> str | None:
    t = task(processo)
    return db.session.get(User, t.responsavel_id).username if t.responsavel_id else None


def test_prazo_counts_business_days_across_the_finados_holiday():
    # Friday 30 Oct 2026 + 2 business days: Sat, Sun, Mon 2 Nov (Finados) skipped -> Tue 3, Wed 4.
    assert somar_dias_uteis(date(2026, 10, 30), 2) == date(2026, 11, 4)
    assert somar_dias_uteis(date(2026, 10, 28), 2) == date(2026, 10, 30)
    assert somar_dias_uteis(date(2026, 10, 30), 0) == date(2026, 10, 30)


def test_task_gets_the_prazo_of_its_operadora_in_business_days(clock):
    vivo = OperadoraFactory(codigo="VIVO", prazo_aprovacao_dias_uteis=2)
    oi = OperadoraFactory(codigo="OI", prazo_aprovacao_dias_uteis=5)
    assert task(waiting(vivo)).prazo == date(2026, 11, 4)
    assert task(waiting(oi)).prazo == date(2026, 11, 9)  # 3, 4, 5, 6, 9 (weekend skipped)


def test_assignment_goes_to_the_fewest_open_tasks_then_the_longest_since_last_assignment(clock, told):
    vivo = OperadoraFactory(codigo="VIVO")
    ana, bia, caio = approver("ana"), approver("bia"), approver("caio")
    group(vivo, ana)
    waiting(vivo, "Antigo 1")
    waiting(vivo, "Antigo 2")           # ana: 2 open
    group(vivo, bia)
    clock.set(at(2026, 10, 30, 11))
    waiting(vivo, "Bia 1")              # bia: 1 open, at 11:00
    group(vivo, caio)
    clock.set(at(2026, 10, 30, 9))      # caio's one task was assigned earlier in the day than bia's
    waiting(vivo, "Caio 1")
    told.clear()
    clock.set(at(2026, 10, 30, 12))
    novos = [waiting(vivo, f"Novo {i}", open_task=False) for i in range(4)]
    group(vivo, ana, bia, caio)

    assert tarefas.abrir([p.id for p in novos]) == 4
    db.session.commit()
    donos = [owner(p) for p in novos]
    # caio and bia tie on 1 open: caio was assigned longest ago; then bia; then all three have 2 (ana's
    # last assignment is the oldest); then caio again (assigned earliest in this batch).
    assert donos == ["caio", "bia", "ana", "caio"]
    # One notify per user for the batch, with the link to the inbox.
    assert sorted(told) == sorted([
        (events.APROVACAO_ATRIBUIDA, ["ana"], "Processo de Novo 2 (2026-10) aguarda sua aprovação", "/aprovacoes"),
        (events.APROVACAO_ATRIBUIDA, ["bia"], "Processo de Novo 1 (2026-10) aguarda sua aprovação", "/aprovacoes"),
        (events.APROVACAO_ATRIBUIDA, ["caio"], "2 processos aguardam sua aprovação", "/aprovacoes"),
    ])
    assert len(actions("aprovacao_atribuida")) == 8
    assert tarefas.abrir([p.id for p in novos]) == 0  # a second call opens nothing


def test_without_group_the_task_waits_without_responsavel_and_nobody_is_told(clock, told):
    embratel = OperadoraFactory(codigo="EMBRATEL")
    processo = waiting(embratel)
    assert task(processo).responsavel_id is None and task(processo).aberta
    assert told == []
    assert "sem responsável" in actions("aprovacao_atribuida")[0].detail


def test_absent_inactive_and_approval_rights(clock):
    vivo = OperadoraFactory(codigo="VIVO")
    ana, bia = approver("ana", ausente_ate=date(2026, 11, 2)), approver("bia")
    group(vivo, ana, bia)
    assert owner(waiting(vivo)) == "bia"
    leitor = approver("leitor", role=Role.VISUALIZADOR)
    with pytest.raises(tarefas.AprovacaoError) as refused:
        tarefas.definir_aprovadores(vivo, [bia.id, leitor.id], by=None)
    assert refused.value.status == 422 and "permissão de aprovar" in refused.value.fields["aprovadores"]


def test_bulk_opening_of_3000_processos_is_a_constant_number_of_statements(clock, told):
    from tests.conftest import count_queries
    from tests.support.bulk import waiting_many

    vivo = OperadoraFactory(codigo="VIVO")
    group(vivo, approver("ana"), approver("bia"), approver("caio"))
    few, many = waiting_many(vivo, 20, "A"), waiting_many(vivo, 3000, "B")
    with count_queries() as small:
        assert tarefas.abrir(few) == 20
    with count_queries() as big:
        assert tarefas.abrir(many) == 3000
    db.session.commit()
    assert len(big) <= 2 * len(small) + 2, (len(small), len(big))  # two chunks of 2,000 at most
    abertas = db.session.execute(select(TarefaAprovacao.responsavel_id, db.func.count()).where(
        TarefaAprovacao.aberta.is_(True)).group_by(TarefaAprovacao.responsavel_id)).all()
    assert sorted(n for _, n in abertas) == [1006, 1007, 1007]
    assert len(told) == 3 + 3  # one call per user and batch, whatever the chunks


def test_manual_uploader_cannot_approve_and_someone_else_can(clock):
    digitalnet = OperadoraFactory(codigo="DIGITALNET", possui_rpa=False)
    op, colega = approver("op"), approver("colega")
    group(digitalnet, op, colega)
    processo = ProcessoFactory(cliente__operadora=digitalnet, competencia="2026-10")
    manual.enviar_faturas(processo, [manual.FaturaManual(data=PDF, nome_original="f.pdf", numero="1",
                                                         valor=Decimal("10.00"), vencimento=date(2026, 11, 10))], by=op)
    t = task(processo)
    assert t.enviado_por_id == op.id and t.aberta
    with pytest.raises(ProcessoError) as refused:
        services.aprovar(processo, by=op)
    assert refused.value.status == 403 and "quatro olhos" in refused.value.message
    assert processo.status == StatusProcesso.AGUARDANDO_APROVACAO
    services.aprovar(processo, by=colega)
    assert processo.status == StatusProcesso.AGUARDANDO_ENVIO_SAT
    db.session.refresh(t)
    assert not t.aberta and t.resultado == "APROVADO"


def test_above_the_limit_two_different_approvers_are_needed(clock):
    vivo = OperadoraFactory(codigo="VIVO", valor_dupla_aprovacao=Decimal("1000.00"))
    ana, bia = approver("ana"), approver("bia")
    group(vivo, ana, bia)
    grande, pequeno = waiting(vivo, "Grande", total="1500.00"), waiting(vivo, "Pequeno", total="1000.00")

    services.aprovar(grande, by=ana)
    assert grande.status == StatusProcesso.AGUARDANDO_APROVACAO
    assert task(grande).primeira_aprovacao_por_id == ana.id and len(actions("aprovacao_primeira")) == 1
    with pytest.raises(ProcessoError) as again:
        services.aprovar(grande, by=ana)  # a double click, or the same person twice
    assert again.value.status == 409 and "outro aprovador" in again.value.message
    services.aprovar(grande, by=bia)
    assert grande.status == StatusProcesso.AGUARDANDO_ENVIO_SAT and not task(grande).aberta

    services.aprovar(pequeno, by=ana)  # not above the limit: one approval is enough
    assert pequeno.status == StatusProcesso.AGUARDANDO_ENVIO_SAT


def test_bulk_approval_reports_a_first_of_two_approvals(clock):
    vivo = OperadoraFactory(codigo="VIVO", valor_dupla_aprovacao=Decimal("1000.00"))
    ana = approver("ana")
    group(vivo, ana)
    grande, pequeno = waiting(vivo, "Grande", total="1500.00"), waiting(vivo, "Pequeno", total="10.00")
    result = services.aprovar_varios([grande.id, pequeno.id], by=ana)
    assert result["aprovados"] == [pequeno.id]
    assert [(p.id, msg) for p, msg in result["erros"]] == [(grande.id, "primeira aprovação registrada: o valor exige "
                                                           "a aprovação de um segundo aprovador.")]


def test_rejection_closes_the_task_and_the_next_arrival_opens_a_new_one(clock):
    vivo = OperadoraFactory(codigo="VIVO")
    ana = approver("ana")
    group(vivo, ana)
    processo = waiting(vivo)
    primeira = task(processo)
    services.rejeitar(processo, by=ana, motivo="valor errado")
    db.session.refresh(primeira)
    assert not primeira.aberta and primeira.resultado == "REJEITADO"
    # the robot downloads again: the hook in concluir_download opens a new task
    execucao = ExecucaoFactory(processo=processo, status=StatusExecucao.EXECUTANDO)
    path = storage.root() / "download.part"
    path.write_bytes(PDF)
    download = SimpleNamespace(path=path, sha256=storage.sha256_hex(PDF), size=len(PDF))
    meta = {"numero": "N-2", "arquivo": "n2.pdf", "sha256": None, "tamanho": None, "valor": Decimal("99.90"),
            "vencimento": date(2026, 11, 20), "emissao": None}
    assert execucoes.concluir_download(execucao, [(meta, download)])
    nova = task(processo)
    assert nova.id != primeira.id and nova.aberta and nova.total == Decimal("99.90") and nova.n_faturas == 1


def test_variation_against_the_previous_three_months(clock):
    from tests.support.aprovacoes import history

    vivo = OperadoraFactory(codigo="VIVO")
    processo = waiting(vivo, open_task=False, total="138.00")
    for competencia, total in (("2026-09", "90.00"), ("2026-08", "110.00"), ("2026-07", "100.00"),
                               ("2026-06", "9999.00")):  # four months back: outside the mean
        history(processo.cliente, competencia, total)
    tarefas.abrir([processo.id])
    t = task(processo)
    assert t.media_anterior == Decimal("100.00") and t.variacao == Decimal("38.0")


def test_admin_reassigns_and_others_may_not(clock, told, users):
    vivo = OperadoraFactory(codigo="VIVO")
    ana, bia = approver("ana"), approver("bia")
    group(vivo, ana)
    processo = waiting(vivo)
    told.clear()
    with pytest.raises(tarefas.AprovacaoError) as refused:
        tarefas.atribuir(processo, bia, by=ana)
    assert refused.value.status == 403
    tarefas.atribuir(processo, bia, by=users[Role.ADMIN])
    db.session.commit()
    assert task(processo).responsavel_id == bia.id
    assert actions("aprovacao_reatribuida")[0].detail == "ana → bia"
    assert told == [(events.APROVACAO_ATRIBUIDA, ["bia"], f"Processo de {processo.cliente_nome} (2026-10) aguarda "
                     "sua aprovação", "/aprovacoes")]
    tarefas.atribuir(processo, bia, by=users[Role.ADMIN])  # again: nothing changes, nobody told twice
    assert len(told) == 1 and len(actions("aprovacao_reatribuida")) == 1


def test_assumir_an_unowned_task_or_an_absent_colleagues(clock):
    vivo = OperadoraFactory(codigo="VIVO")
    ana, bia, fora = approver("ana"), approver("bia"), approver("fora")
    sem_dono = waiting(vivo)            # no group yet
    group(vivo, ana, bia)
    tarefas.assumir(sem_dono, by=bia)
    assert task(sem_dono).responsavel_id == bia.id
    with pytest.raises(tarefas.AprovacaoError) as outside:
        tarefas.assumir(sem_dono, by=fora)
    assert outside.value.status == 403

    da_ana = waiting(vivo)
    if task(da_ana).responsavel_id != ana.id:
        tarefas.atribuir(da_ana, ana, by=approver("chefe", role=Role.ADMIN))
    with pytest.raises(tarefas.AprovacaoError) as present:
        tarefas.assumir(da_ana, by=bia)
    assert present.value.status == 409 and "não está ausente" in present.value.message
    tarefas.definir_ausencia(ana, date(2026, 11, 6), by=None)
    assert task(da_ana).responsavel_id is None  # away: her open tasks went to the group
    tarefas.assumir(da_ana, by=bia)
    assert task(da_ana).responsavel_id == bia.id
    assert actions("aprovacao_assumida")[-1].detail == "assumida (estava sem responsável)"
    assert "1 aprovação(ões) aberta(s)" in actions("usuario_ausencia")[0].detail
    with pytest.raises(tarefas.AprovacaoError):
        tarefas.definir_ausencia(ana, date(2026, 10, 1), by=None)  # in the past


def test_comments_are_checked_and_show_in_the_history(clock):
    processo = waiting(OperadoraFactory(codigo="VIVO"))
    ana = approver("ana")
    with pytest.raises(Exception) as empty:
        comentarios.comentar(processo, by=ana, texto="   ")
    assert empty.value.fields == {"texto": "Escreva o comentário."}
    with pytest.raises(Exception) as long:
        comentarios.comentar(processo, by=ana, texto="x" * 2001)
    assert "2000" in long.value.message
    comentarios.comentar(processo, by=ana, texto="  Conferir a linha 3  ")
    db.session.commit()
    assert [c.texto for c in comentarios.do_processo(processo.id)] == ["Conferir a linha 3"]
    assert actions("comentario_adicionado")[0].detail == "Conferir a linha 3"


def test_catch_up_opens_missing_tasks_and_closes_stale_ones(clock):
    vivo = OperadoraFactory(codigo="VIVO")
    sem_tarefa = waiting(vivo, open_task=False)
    saiu = waiting(vivo)
    saiu.status = StatusProcesso.AGUARDANDO_DOWNLOAD  # moved by something that bypassed the hooks
    db.session.commit()
    assert tarefas.abrir_pendentes() == {"abertas": 1, "fechadas": 1}
    assert task(sem_tarefa).aberta and not task(saiu).aberta
    assert tarefas.abrir_pendentes() == {"abertas": 0, "fechadas": 0}
