"""The live log panel in a real browser, against gunicorn + RQ worker + RPA simulator + Redis."""
import time

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.timeout(300)

BADGE = '#live-panel [data-live="badge"]'
LINES = '#live-panel [data-live="lines"] .log-line'


def dom_seqs(page) -> list[int]:
    return page.eval_on_selector_all(LINES, "rows => rows.map(r => parseInt(r.dataset.seq, 10))")


def mark_page(page) -> None:
    """A flag that only survives if the page is never reloaded."""
    page.evaluate("window.__sem_recarregar = true")


def record_badge_states(page) -> None:
    page.evaluate("""() => {
        const badge = document.querySelector('#live-panel [data-live="badge"]');
        window.__estados = [badge.dataset.state];
        new MutationObserver(() => window.__estados.push(badge.dataset.state))
            .observe(badge, {attributes: true, attributeFilter: ['data-state']});
    }""")


def ensure_em_execucao_js(page) -> None:
    """The Em execução page loads its live script itself."""
    assert page.locator('script[src*="em_execucao.js"]').count() == 1


def badge_states(page) -> list[str]:
    return page.evaluate("window.__estados")


def test_download_shows_lines_live_then_status_and_invoices_without_reload(page, system, seed, stored_seqs):
    processo_id = seed("Padaria Aurora Ltda")
    system.sim_config(job_duration=6, queue_wait=0.5, log_lines=12)
    page.goto(f"{system.base_url}/processos/{processo_id}")
    assert page.is_hidden("#live-panel"), "sem execução ativa, o painel fica oculto"
    page.click('[data-action="executar"]')  # confirm() accepted by the fixture
    page.wait_for_selector("#live-panel:not(.d-none)")
    mark_page(page)
    page.wait_for_selector(f'{BADGE}[data-state="conectado"]')
    assert page.text_content(BADGE) == "Conectado"
    page.wait_for_selector(LINES)
    running = page.get_attribute("#execucoes-table tbody tr", "data-status")
    assert running in ("PENDENTE", "EXECUTANDO"), "as linhas chegam enquanto o robô ainda trabalha"
    screenshot(page, "processo_ao_vivo")

    page.wait_for_selector('#execucoes-table tr[data-status="CONCLUIDO"]', timeout=60_000)
    page.wait_for_selector("#faturas-table tr[data-fatura-id]")
    page.wait_for_selector('#processo-status[data-status="AGUARDANDO_APROVACAO"]')
    page.wait_for_selector(f'{BADGE}[data-state="concluido"]')
    assert page.evaluate("window.__sem_recarregar === true"), "a página não pode ter sido recarregada"
    execucao_id = page.get_attribute("#execucoes-table tbody tr", "data-execucao-id")
    stored = stored_seqs(execucao_id)
    assert len(stored) >= 12
    assert dom_seqs(page) == stored
    levels = page.eval_on_selector_all(LINES, "rows => rows.map(r => r.className)")
    assert any("log-WARNING" in c for c in levels) and any("log-DEBUG" in c for c in levels)
    href = page.get_attribute('#live-panel [data-live="download"]', "href")
    assert href.endswith(f"/execucoes/{execucao_id}/log.txt")
    screenshot(page, "processo_concluido")


def test_cliente_name_with_script_tag_is_shown_as_text(page, system, seed, start_run):
    nome = "<script>alert(1)</script>"
    processo_id = seed(nome)
    system.sim_config(job_duration=3, queue_wait=0.2, log_lines=4)
    start_run(processo_id)
    page.goto(f"{system.base_url}/processos/{processo_id}")
    line = page.wait_for_selector(f'{LINES}:has-text("{nome}")')
    assert line.text_content().endswith(f"Acessando portal para o cliente {nome}")
    assert page.locator('#live-panel [data-live="lines"] script').count() == 0
    assert page.text_content("h1") == nome
    page.wait_for_selector('#execucoes-table tr[data-status="CONCLUIDO"]', timeout=60_000)
    assert page.dialogs == [], f"nenhum diálogo pode abrir: {page.dialogs}"
    screenshot(page, "processo_xss")


def wait_for_state(page, state: str, after: str, timeout: float = 120) -> list[str]:
    """Badge states recorded so far, once `state` has been seen after `after` (a brief state is not missed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = badge_states(page)
        if after in states and state in states[states.index(after):]:
            return states
        page.wait_for_timeout(200)
    raise AssertionError(f"o selo não chegou a {state!r} depois de {after!r}: {badge_states(page)}")


def test_web_restart_mid_stream_reconnects_without_losing_or_repeating_lines(page, system, seed, start_run,
                                                                              stored_seqs):
    processo_id = seed("Transportes Horizonte S.A.")
    # Long enough that the robot is still writing after gunicorn is back (its restart takes 5-25 s here).
    system.sim_config(job_duration=40, queue_wait=0.2, log_lines=80)
    execucao_id = start_run(processo_id)
    page.goto(f"{system.base_url}/processos/{processo_id}")
    mark_page(page)
    page.wait_for_selector(f'{BADGE}[data-state="conectado"]')
    page.wait_for_selector(f"{LINES}:nth-child(3)")
    record_badge_states(page)

    system.stop_web()
    page.wait_for_selector(f'{BADGE}[data-state="reconectando"]')
    assert page.text_content(BADGE) == "Reconectando"
    screenshot(page, "processo_reconectando")
    lines_while_down = len(dom_seqs(page))
    system.start_web()
    wait_for_state(page, "conectado", after="reconectando")
    page.wait_for_selector('#execucoes-table tr[data-status="CONCLUIDO"]', timeout=120_000)
    page.wait_for_selector(f'{BADGE}[data-state="concluido"]')

    assert page.evaluate("window.__sem_recarregar === true")
    seqs = dom_seqs(page)
    assert len(seqs) > lines_while_down, "linhas gravadas durante e depois do reinício chegam"
    assert seqs == stored_seqs(execucao_id), "nenhuma linha perdida nem repetida"
    assert len(set(seqs)) == len(seqs)


def test_ver_logs_on_a_finished_run_shows_its_stored_log(page, system, seed, start_run, stored_seqs):
    processo_id = seed("Clínica Boa Vista Ltda")
    system.sim_config(job_duration=1, queue_wait=0.1, log_lines=5)
    execucao_id = start_run(processo_id)
    page.goto(f"{system.base_url}/processos/{processo_id}")
    page.wait_for_selector('#execucoes-table tr[data-status="CONCLUIDO"]', timeout=60_000)
    if page.is_visible("#live-panel"):  # opened by itself if the page loaded while the run was active
        page.click('[data-live="close"]')
    assert page.is_hidden("#live-panel")
    page.click(f'#execucoes-table [data-action="ver-logs"][data-execucao-id="{execucao_id}"]')
    page.wait_for_selector(f'{BADGE}[data-state="concluido"]')
    assert dom_seqs(page) == stored_seqs(execucao_id)


def test_em_execucao_page_updates_without_reload(page, system, seed, start_run):
    processo_id = seed("Escola Primavera S.A.")
    system.sim_config(job_duration=4, queue_wait=0.5, log_lines=4)
    page.goto(f"{system.base_url}/em-execucao")
    ensure_em_execucao_js(page)
    mark_page(page)
    page.wait_for_timeout(500)  # the stream is open
    execucao_id = start_run(processo_id)
    row = f'#em-execucao-table tr[data-execucao-id="{execucao_id}"]'
    page.wait_for_selector(row, timeout=30_000)
    screenshot(page, "em_execucao")
    page.wait_for_selector(row, state="detached", timeout=60_000)
    assert page.evaluate("window.__sem_recarregar === true")


def test_ver_logs_on_em_execucao_opens_the_run_and_parar_stops_then_resumes(page, system, seed, start_run,
                                                                           stored_seqs):
    processo_id = seed("Hotel Atlântico Ltda")
    system.sim_config(job_duration=12, queue_wait=0.2, log_lines=36)
    execucao_id = start_run(processo_id)
    page.goto(f"{system.base_url}/em-execucao")
    ensure_em_execucao_js(page)
    page.click(f'#em-execucao-table tr[data-execucao-id="{execucao_id}"] [data-action="ver-logs"]')
    page.wait_for_url(f"**/processos/{processo_id}?logs={execucao_id}")
    page.wait_for_selector(f'{BADGE}[data-state="conectado"]')
    page.wait_for_selector(f"{LINES}:nth-child(3)")

    page.click('#live-panel [data-live="stop"]')
    assert page.text_content(BADGE) == "Parado"
    stopped_at = len(dom_seqs(page))
    page.wait_for_timeout(2500)  # the robot keeps writing; nothing reaches a stopped panel
    assert len(dom_seqs(page)) == stopped_at
    page.click('#live-panel [data-live="stop"]')  # now "Retomar"
    page.wait_for_selector(f'{BADGE}[data-state="concluido"]', timeout=90_000)
    assert dom_seqs(page) == stored_seqs(execucao_id), "retomar continua da última linha mostrada"


def test_long_log_is_capped_in_the_page_and_complete_in_the_download(page, system, seed, start_run, stored_seqs):
    processo_id = seed("Logística Pampa S.A.")
    system.sim_config(job_duration=3, queue_wait=0.1, log_lines=2300)
    execucao_id = start_run(processo_id)
    page.goto(f"{system.base_url}/processos/{processo_id}")
    page.wait_for_selector(f'{BADGE}[data-state="concluido"]', timeout=120_000)
    stored = stored_seqs(execucao_id)
    assert len(stored) > 2000
    assert dom_seqs(page) == stored[-2000:], "a página guarda as 2.000 linhas mais recentes"
    note = page.text_content('#live-panel [data-live="hidden-count"]')
    assert f"{len(stored) - 2000} linha(s) mais antiga(s) ocultas" in note

    box = '#live-panel [data-live="lines"]'
    page.eval_on_selector(box, "el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    assert page.is_visible('#live-panel [data-live="paused"]')
    page.eval_on_selector(box, "el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }")
    assert page.is_hidden('#live-panel [data-live="paused"]')

    href = page.get_attribute('#live-panel [data-live="download"]', "href")
    response = page.request.get(system.base_url + href)
    assert response.ok and "attachment" in response.headers["content-disposition"]
    body = response.text().splitlines()
    assert len(body) == len(stored) + 1  # a header line, then every stored line
    screenshot(page, "processo_log_longo")
