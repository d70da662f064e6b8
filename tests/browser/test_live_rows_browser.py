"""The processo page keeps its run row, history and banner up to date with the log, and stops a robot
(real Chromium against gunicorn + RQ worker + RPA simulator + Redis)."""
import uuid

import pytest

from apps.clientes.cnpj import check_digits
from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Processo
from tests.browser.conftest import COMPETENCIA, screenshot
from tests.browser.system import ADMIN_USER

pytestmark = pytest.mark.timeout(300)

BADGE = '#live-panel [data-live="badge"]'
ROW = "#execucoes-table tbody tr[data-execucao-id]"
BANNER = '.alert:has-text("Execução iniciada")'
CANCEL = '#live-panel [data-live="cancel"]'
STOP = '#live-panel [data-live="stop"]'


def seed_one_slot_operadora(system_app, nomes) -> list[str]:
    """EMBRATEL with one robot at a time and a processo per name: the second run waits for the first."""
    with system_app.app_context():
        operadora = db.session.scalar(db.select(Operadora).where(Operadora.codigo == "EMBRATEL"))
        if operadora is None:
            operadora = Operadora(codigo="EMBRATEL", nome="Embratel", possui_rpa=True)
        operadora.limite_concorrencia = 1
        processos = []
        for nome in nomes:
            base = str(uuid.uuid4().int)[:8] + "0001"
            cliente = Cliente(nome=nome, cnpj=base + check_digits(base), operadora=operadora)
            processos.append(Processo(cliente=cliente, competencia=COMPETENCIA))
        db.session.add_all([operadora, *processos])
        db.session.commit()
        ids = [str(p.id) for p in processos]
        db.session.remove()
        return ids


def record_rows(page) -> None:
    """Sample the run row every 50 ms (it is replaced, not edited): status, job id, the badge's words."""
    page.evaluate("""() => {
        window.__linhas = [];
        setInterval(() => {
            const row = document.querySelector('#execucoes-table tbody tr[data-execucao-id]');
            if (!row) return;
            const seen = [row.dataset.status, row.dataset.jobId, row.querySelector('td[data-label="Status"]').innerText.trim(),
                          row.querySelector('td[data-label="Job"]').innerText.trim()];
            const last = window.__linhas[window.__linhas.length - 1];
            if (!last || last.join('|') !== seen.join('|')) window.__linhas.push(seen);
        }, 50);
    }""")


def test_row_history_and_banner_follow_the_run_without_reload(page, system, system_app, start_run):
    blocker, processo_id = seed_one_slot_operadora(system_app, ["Gráfica Bandeirante Ltda", "Mercado Ipê S.A."])
    system.sim_config(job_duration=4, queue_wait=0.3, log_lines=10)
    start_run(blocker)  # holds EMBRATEL's only slot for a few seconds
    page.goto(f"{system.base_url}/processos/{processo_id}")
    page.click('[data-action="executar"]')  # confirm() accepted by the fixture
    page.wait_for_selector(BANNER)
    page.evaluate("window.__sem_recarregar = true")
    record_rows(page)
    assert page.get_attribute(ROW, "data-status") == "PENDENTE", "a execução espera a vaga da operadora"
    page.wait_for_selector(f'{BADGE}[data-state="conectado"]')

    page.wait_for_selector(f'{ROW}[data-status="EXECUTANDO"]', timeout=60_000)
    job_id = page.get_attribute(ROW, "data-job-id")
    assert job_id, "a linha mostra o job assim que o robô começa"
    screenshot(page, "linha_em_execucao")
    page.wait_for_selector(f'{ROW}[data-status="CONCLUIDO"]', timeout=60_000)
    page.wait_for_selector('#processo-historico [data-historico="processo_download_concluido"]')
    assert "Download concluído" in page.text_content("#processo-historico")
    page.wait_for_selector(BANNER, state="detached")
    page.wait_for_selector(f'{BADGE}[data-state="concluido"]')
    assert page.evaluate("window.__sem_recarregar === true"), "a página não pode ter sido recarregada"

    rows = page.evaluate("window.__linhas")
    statuses = [status for status, *_ in rows]
    assert statuses[0] == "PENDENTE" and rows[0][1] == ""
    assert statuses.index("PENDENTE") < statuses.index("EXECUTANDO") < statuses.index("CONCLUIDO"), rows
    running = next(row for row in rows if row[0] == "EXECUTANDO")
    assert running[1] == job_id and running[3] == job_id and "Em execução" in running[2], rows
    assert "Concluída" in rows[-1][2] and rows[-1][1] == job_id
    assert page.is_hidden('#live-panel [data-live="cancel-form"]'), "terminada, não há o que cancelar"
    assert [kind for kind, _ in page.dialogs] == ["confirm"], "só a confirmação do Executar"
    screenshot(page, "linha_concluida")


def test_pausar_acompanhamento_then_cancelar_execucao_ends_the_run(page, system, seed, start_run):
    processo_id = seed("Farmácia Serra Azul Ltda")
    system.sim_config(job_duration=90, queue_wait=0.2, log_lines=90)
    execucao_id = start_run(processo_id)
    page.goto(f"{system.base_url}/processos/{processo_id}")
    page.wait_for_selector(f'{ROW}[data-status="EXECUTANDO"]', timeout=60_000)
    page.wait_for_selector(f'{BADGE}[data-state="conectado"]')

    # "Pausar acompanhamento" only stops showing lines; the robot goes on and can still be cancelled.
    assert page.text_content(STOP).strip() == "Pausar acompanhamento"
    page.click(STOP)
    assert page.text_content(STOP).strip() == "Retomar acompanhamento"
    assert page.get_attribute(BADGE, "data-state") == "parado"
    assert page.is_visible(CANCEL)
    page.click(STOP)
    page.wait_for_selector(f'{BADGE}[data-state="conectado"]')
    assert page.text_content(STOP).strip() == "Pausar acompanhamento"

    page.click(CANCEL)  # confirmed in a dialog (accepted by the fixture)
    page.wait_for_url(f"**/processos/{processo_id}?logs={execucao_id}")
    assert page.dialogs[-1][0] == "confirm" and "Cancelar esta execução?" in page.dialogs[-1][1]
    assert page.is_visible('.alert:has-text("Execução cancelada (Download).")')
    row = f'#execucoes-table tr[data-execucao-id="{execucao_id}"]'
    page.wait_for_selector(f'{row}[data-status="FALHOU"]')
    assert f"Execução cancelada por {ADMIN_USER}." in page.text_content(row)
    page.wait_for_selector(f'{BADGE}[data-state="falhou"]')
    assert page.is_hidden(CANCEL)
    assert "Execução cancelada" in page.text_content('#processo-historico [data-historico="execucao_cancelada"]')
    assert system.sim_stats()["cancel_requests"] >= 1
    screenshot(page, "execucao_cancelada")
