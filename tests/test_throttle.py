"""Per-operadora throttling: never more runs than the operadora's limit, the rest wait in order."""
import threading

from sqlalchemy import select

from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos import services
from apps.processos.models import Execucao, Processo, StatusExecucao
from apps.rpa import throttle
from tests.factories import OperadoraFactory


def _processos(op):
    return db.session.scalars(select(Processo).join(Cliente).where(Cliente.operadora_id == op.id)
                              .order_by(Cliente.nome)).all()


def test_each_operadora_is_kept_at_its_limit_and_the_rest_wait_in_order(enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=2, clientes=5)
    oi = OperadoraFactory(codigo="OI", limite_concorrencia=1, clientes=2)
    services.gerar_processos("2026-11")
    order = []
    for processo in _processos(vivo) + _processos(oi):
        order.append(services.executar(processo).id)
    assert throttle.occupied(vivo.id) == 2 and throttle.occupied(oi.id) == 1
    assert enqueued == [order[0], order[1], order[5]]  # oldest first, per operadora
    waiting = db.session.scalars(select(Execucao).where(throttle.waiting_filter())).all()
    assert len(waiting) == 4 and all(e.status == StatusExecucao.PENDENTE for e in waiting)

    # A run ends: the next one in line (and only it) takes the slot.
    from apps.rpa.runs import end_run

    end_run(db.session.get(Execucao, order[0]), error="falhou de teste")
    assert enqueued[-1] == order[2] and throttle.occupied(vivo.id) == 2


def test_concurrent_dispatchers_never_exceed_the_limit(app, enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=3, clientes=12)
    services.gerar_processos("2026-11")
    for processo in _processos(vivo):
        db.session.add(Execucao(processo_id=processo.id, tipo="DOWNLOAD", status=StatusExecucao.PENDENTE))
    db.session.commit()

    vivo_id = vivo.id  # read here: six threads refreshing the test's expired object at once would share its session

    def run():
        with app.app_context():
            throttle.dispatch(vivo_id)
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert throttle.occupied(vivo.id) == 3
    assert len(enqueued) == 3


def test_reconcile_admits_waiting_runs_when_slots_free(enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=1, clientes=3)
    services.gerar_processos("2026-11")
    for processo in _processos(vivo):
        db.session.add(Execucao(processo_id=processo.id, tipo="DOWNLOAD", status=StatusExecucao.PENDENTE))
    db.session.commit()
    from apps.rpa.jobs import reconcile

    assert reconcile()["admitidas"] == 1
    assert reconcile()["admitidas"] == 0  # the slot is taken until that run ends


def test_gerar_mensal_executar_queues_downloads_within_limits(runner, enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=2, clientes=4)
    _ = OperadoraFactory(codigo="SEMROBO", limite_concorrencia=5, clientes=2)
    db.session.get(Operadora, _.id).possui_rpa = False
    db.session.commit()
    result = runner.invoke(args=["processos", "gerar-mensal", "--competencia", "2026-11", "--executar"])
    assert result.exit_code == 0, result.output
    assert "6 processo(s) criado(s)" in result.output
    assert "4 na fila, 2 iniciado(s)" in result.output
    assert throttle.occupied(vivo.id) == 2 and len(enqueued) == 2
    again = runner.invoke(args=["processos", "gerar-mensal", "--competencia", "2026-11", "--executar"])
    assert "0 processo(s) criado(s)" in again.output and "0 na fila" in again.output


def test_reexecutar_falhas_of_a_filter_reruns_only_failed_steps(operador_client, enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=10, clientes=3)
    services.gerar_processos("2026-11")
    a, b, c = _processos(vivo)
    db.session.add_all([
        Execucao(processo_id=a.id, tipo="DOWNLOAD", status=StatusExecucao.FALHOU),
        Execucao(processo_id=b.id, tipo="DOWNLOAD", status=StatusExecucao.FALHOU),
        Execucao(processo_id=b.id, tipo="DOWNLOAD", status=StatusExecucao.EXECUTANDO),
    ])
    db.session.commit()
    html = operador_client.get("/processos/reexecutar-falhas?competencia=2026-11").get_data(as_text=True)
    assert "Reexecutar 1 processo(s)" in html  # b has an active run, c never failed
    response = operador_client.post("/processos/reexecutar-falhas", data={"competencia": "2026-11"})
    assert response.status_code == 200  # the result page of the bulk action
    assert enqueued and db.session.scalar(
        select(Execucao).where(Execucao.processo_id == a.id, Execucao.status == StatusExecucao.PENDENTE)) is not None
    assert operador_client.post("/processos/reexecutar-falhas", data={"competencia": "2025-01"}).status_code == 302
