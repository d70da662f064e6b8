"""Lotes in a real Chromium against the whole system: upload, preview, confirm, and the progress moving on the
lote's page without a reload while the worker drives the runs through the simulator; axe on each lote page."""
import uuid

from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Processo
from tests.browser.conftest import COMPETENCIA
from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER
from tests.browser.test_accessibility_browser import BLOCKING, log_in, violations


def _cnpj_and_limit(system_app, processo_ids, limit):
    """The seeded processos' CNPJs; VIVO's limit set to `limit` (the previous one returned)."""
    with system_app.app_context():
        cnpjs = [db.session.get(Processo, uuid.UUID(pid)).cliente.cnpj for pid in processo_ids]
        vivo = db.session.scalar(db.select(Operadora).where(Operadora.codigo == "VIVO"))
        previous, vivo.limite_concorrencia = vivo.limite_concorrencia, limit
        db.session.commit()
        db.session.remove()
    return cnpjs, previous


def _blocking(page):
    return [(v["id"], v["nodes"]) for v in violations(page) if v["impact"] in BLOCKING]


def test_a_lote_runs_and_its_page_moves_without_reloading(browser, system, system_app, seed):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="pt-BR", bypass_csp=True)
    page = context.new_page()  # bypass_csp: axe is injected inline; the pages' own scripts are files
    page.set_default_timeout(30_000)
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, system.base_url, ADMIN_USER, ADMIN_PASSWORD)
    system.sim_config(job_duration=3, queue_wait=0.2, log_lines=4)  # an earlier module may have left 90 s runs
    processos = [seed(f"Lote Navegador {n} Ltda") for n in range(2)]
    cnpjs, previous = _cnpj_and_limit(system_app, processos, 1)  # one at a time: the page sees 1 of 2 done
    try:
        page.goto(system.base_url + "/lotes/novo")
        assert _blocking(page) == []
        csv = "CNPJ;Competencia;Acao\r\n" + "".join(f"{c};{COMPETENCIA};DOWNLOAD\r\n" for c in cnpjs)
        page.set_input_files("input[type=file]", files=[{"name": "lote.csv", "mimeType": "text/csv",
                                                         "buffer": csv.encode("cp1252")}])
        page.click("main form button[type=submit]")
        page.wait_for_url(lambda url: "/lotes/previa/" in url)
        assert "Confirmar e executar 2 linha(s)" in page.content()
        assert _blocking(page) == []
        page.click("main form button[type=submit]")
        page.wait_for_url(lambda url: "/previa/" not in url)
        assert page.locator("[data-count=aguardando]").inner_text() == "2"
        page.evaluate("window.__sem_recarregar = true")
        page.wait_for_function("document.querySelector('[data-count=concluidas]').textContent === '1'",
                               timeout=60_000)
        assert page.evaluate("window.__sem_recarregar === true")  # updated by polling, not a reload
        assert page.locator("[data-count=aguardando]").inner_text() == "1"
        assert int(page.locator(".progress").get_attribute("aria-valuenow")) == 50
        assert _blocking(page) == []
        page.wait_for_selector("[data-lote-status=CONCLUIDO]", timeout=60_000)  # the end reloads the page once
        assert page.locator("[data-count=concluidas]").inner_text() == "2"
        with page.expect_download() as download:
            page.click("text=Baixar relatório CSV")
        report = open(download.value.path(), encoding="utf-8-sig").read().splitlines()
        assert len(report) == 3 and all(line.split(";")[5] == "Concluída" for line in report[1:])
        page.goto(system.base_url + "/lotes")
        assert "Concluído" in page.content() and _blocking(page) == []
    finally:
        _cnpj_and_limit(system_app, [], previous)
        context.close()
