"""Two people acting at the same moment: one execucao, one robot run, one approval."""
import threading
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from apps.auth.models import Role, User
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.processos import services
from apps.processos.models import Execucao, Fatura, Processo, StatusExecucao, StatusProcesso
from apps.processos.state import ProcessoError
from tests.integration.conftest import wait_for
from tests.integration.helpers import execucoes_of, finished, processo_of


def _together(app, n, action):
    """Run action(i) in n threads, each in its own app context (own DB session), released at once."""
    barrier, results = threading.Barrier(n, timeout=10), [None] * n

    def run(i):
        with app.app_context():
            try:
                results[i] = ("ok", action(i, barrier))
            except Exception as exc:  # noqa: BLE001 - reported to the test
                results[i] = ("erro", exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return results


def test_double_executar_over_http_makes_one_execucao_and_one_robot_run(app, cycle, sim, processo, api_headers):
    cycle.start_workers(1)
    headers = api_headers(Role.OPERADOR)
    url = f"/api/v1/processos/{processo.id}/executar"

    def post(i, barrier):
        http = app.test_client()
        barrier.wait()
        response = http.post(url, headers=headers)
        return response.status_code, response.get_json()

    results = _together(app, 2, post)

    assert sorted(r[1][0] for r in results if r[0] == "ok") == [202, 409], results
    refused = next(r[1][1] for r in results if r[1][0] == 409)
    assert refused["error"] == "Já existe uma execução em andamento para este processo."
    [execucao] = execucoes_of(processo.id)
    done = wait_for(lambda: finished(execucao.id), 15, message="execução terminar")
    assert done.status == StatusExecucao.CONCLUIDO, done.mensagem
    assert sim.stats()["jobs_created"]["download"] == 1
    assert sim.stats()["requests"]["POST /executar/{operadora}"] == 1
    assert db.session.scalar(select(func.count()).select_from(Execucao)) == 1


def _awaiting_approval(processo):
    """The processo with one invoice, waiting for approval (no robot needed)."""
    db.session.add(Fatura(processo_id=processo.id, numero="123456", valor=Decimal("99.90"),
                          vencimento=date(2026, 11, 10), arquivo=f"{processo.id}/x.pdf", sha256="0" * 64, tamanho=10))
    processo.status = StatusProcesso.AGUARDANDO_APROVACAO
    db.session.commit()


def test_two_approvals_racing_exactly_one_wins(app, processo, users):
    _awaiting_approval(processo)
    user_ids = [users[Role.OPERADOR].id, users[Role.ADMIN].id]

    def approve(i, barrier):
        mine = db.session.get(Processo, processo.id)
        assert mine.status == StatusProcesso.AGUARDANDO_APROVACAO and mine.faturas_ativas
        by = db.session.get(User, user_ids[i])
        barrier.wait()  # both read AGUARDANDO_APROVACAO before either writes
        return services.aprovar(mine, by=by, comentario=f"aprovação {i}").status

    results = _together(app, 2, approve)

    assert sorted(r[0] for r in results) == ["erro", "ok"], results
    assert next(r[1] for r in results if r[0] == "ok") == StatusProcesso.AGUARDANDO_ENVIO_SAT
    error = next(r[1] for r in results if r[0] == "erro")
    assert isinstance(error, ProcessoError) and error.status == 409
    assert error.message == ("O processo foi alterado por outra pessoa enquanto você agia: agora está em "
                             "AGUARDANDO_ENVIO_SAT. Recarregue a página para ver a situação atual.")
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_ENVIO_SAT
    approvals = db.session.scalars(select(AuditLog).where(AuditLog.action == "processo_aprovar")).all()
    assert len(approvals) == 1
