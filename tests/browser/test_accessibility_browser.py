"""axe-core (from the npm registry, injected into Debian's Chromium) on every page an admin reaches, on a
desktop and a phone, in the light and the dark theme: no critical or serious violation.

Run with -s to see the counts per page (the lead reports them). The Swagger UI page (/api/docs) keeps
its own markup and is not walked.
"""
import time
import uuid
from pathlib import Path

import pytest

from apps.auth.models import Role
from apps.auth.services import create_user
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, Processo
from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
BLOCKING = ("critical", "serious")
VIEWER_USER, VIEWER_PASSWORD = "visualizador.axe", "Senha-Forte-Do-Visualizador-31"
CSV = "nome;cnpj;codigo;operadora;ativo\nPadaria Aurora;11.222.333/0001-81;C-001;VIVO;sim\nSem CNPJ;;;VIVO;\n"


def violations(page) -> list[dict]:
    """axe's WCAG 2 A/AA violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]]


_WALK_DATA: dict = {}  # seeded once for the module (the conftest's seed fixtures are per test)


@pytest.fixture
def walk_data(system_app, seed, start_run):
    """A processo with faturas and a finished run, an operadora, a viewer (for the 403 page)."""
    if _WALK_DATA:
        return _WALK_DATA
    processo_id = seed("Padaria Acessível Ltda")
    execucao_id = start_run(processo_id)
    deadline = time.monotonic() + 90
    with system_app.app_context():
        while time.monotonic() < deadline:
            if db.session.get(Execucao, uuid.UUID(execucao_id)).status in ("CONCLUIDO", "FALHOU"):
                break
            db.session.remove()
            time.sleep(0.5)
        processo = db.session.get(Processo, uuid.UUID(processo_id))
        _WALK_DATA.update(processo=processo_id, cliente=str(processo.cliente_id), operadora=str(
            db.session.scalar(db.select(Operadora.id).where(Operadora.codigo == "VIVO"))))
        create_user(VIEWER_USER, "visualizador.axe@example.com", VIEWER_PASSWORD, role=Role.VISUALIZADOR)
        db.session.commit()
        db.session.remove()
    return _WALK_DATA


def log_in(page, base_url, user, password):
    page.goto(base_url + "/login")
    page.fill("input[name=login]", user)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def admin_pages(data) -> list[tuple[str, str]]:
    return [
        ("início", "/"),
        ("processos", "/processos"),
        ("processo (faturas, execução terminada)", f"/processos/{data['processo']}"),
        ("reexecutar falhas", "/processos/reexecutar-falhas"),
        ("em execução", "/em-execucao"),
        ("clientes", "/clientes"),
        ("cliente: novo", "/clientes/novo"),
        ("cliente: editar", f"/clientes/{data['cliente']}/editar"),
        ("clientes: importar", "/clientes/importar"),
        ("operadoras", "/operadoras"),
        ("operadora: nova", "/operadoras/nova"),
        ("operadora: editar", f"/operadoras/{data['operadora']}/editar"),
        ("agendamentos", "/agendamentos"),
        ("usuários", "/usuarios"),
        ("usuário: novo", "/usuarios/novo"),
        ("papéis", "/papeis"),
        ("papel: novo", "/papeis/novo"),
        ("token global", "/token-global"),
        ("filas", "/filas"),
        ("auditoria", "/auditoria"),
        ("erro 404", "/pagina-que-nao-existe"),
    ]


def check(page, name, results):
    found = violations(page)
    results.append((name, found))


def report(label, results) -> list:
    """Print one line per page with its counts by impact; return the blocking ones."""
    print(f"\naxe-core, {label}:")
    blocking = []
    for name, found in results:
        counts = {impact: sum(1 for v in found if v["impact"] == impact)
                  for impact in ("critical", "serious", "moderate", "minor")}
        print(f"  {name:<42} " + " ".join(f"{k}={n}" for k, n in counts.items())
              + "".join(f"\n      {v['impact']}: {v['id']} {v['nodes']}" for v in found))
        blocking += [(name, v["id"], v["nodes"]) for v in found if v["impact"] in BLOCKING]
    return blocking


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_page_an_admin_reaches_passes_axe(browser, system, walk_data, theme, viewport):
    assert AXE.is_file(), "axe-core falta: rode `make assets` (npm ci)"
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="pt-BR", bypass_csp=True)  # axe is inline
    context.add_init_script(f"try {{ localStorage.setItem('rpa-theme', '{theme}'); }} catch (e) {{}}")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    results = []
    page.goto(system.base_url + "/login")
    assert page.evaluate("document.documentElement.dataset.bsTheme") == theme
    check(page, "login", results)
    page.fill("input[name=login]", ADMIN_USER)
    page.click("form button[type=submit]")  # no password: the form's error state
    page.wait_for_load_state()
    check(page, "login com erro", results)
    log_in(page, system.base_url, ADMIN_USER, ADMIN_PASSWORD)
    for name, path in admin_pages(walk_data):
        page.goto(system.base_url + path)
        page.wait_for_load_state("networkidle")
        check(page, name, results)
    page.goto(system.base_url + "/clientes/novo")
    page.click("main form button[type=submit]")  # empty form: errors, focus on the first one
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    assert page.evaluate("document.activeElement === document.querySelector('main form [aria-invalid=true]')")
    check(page, "cliente: novo com erros", results)
    page.goto(system.base_url + "/clientes/importar")
    page.set_input_files("input[type=file]", files=[{"name": "clientes.csv", "mimeType": "text/csv",
                                                     "buffer": CSV.encode()}])
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/clientes/importar/" in url)
    page.wait_for_load_state("networkidle")
    check(page, "clientes: prévia da importação", results)
    context.close()

    viewer = browser.new_context(viewport=VIEWPORTS[viewport], locale="pt-BR", bypass_csp=True)
    viewer.add_init_script(f"try {{ localStorage.setItem('rpa-theme', '{theme}'); }} catch (e) {{}}")
    page = viewer.new_page()
    log_in(page, system.base_url, VIEWER_USER, VIEWER_PASSWORD)
    assert page.goto(system.base_url + "/usuarios").status == 403
    check(page, "erro 403", results)
    viewer.close()

    blocking = report(f"{viewport}, tema {theme}", results)
    assert blocking == [], blocking


def test_phone_lists_are_cards_and_the_sidebar_reaches_the_bottom(browser, system, walk_data):
    """At 390 px a table-cards row is a card whose cells say what they are; on a desktop the sidebar's
    background runs down to the end of a long page."""
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale="pt-BR")
    page = context.new_page()
    log_in(page, system.base_url, ADMIN_USER, ADMIN_PASSWORD)
    page.goto(system.base_url + "/usuarios")
    row = page.locator("table.table-cards tbody tr").first
    assert row.evaluate("r => getComputedStyle(r).display") == "block"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    label = page.locator("table.table-cards tbody td[data-label='Perfil']").first
    assert label.evaluate("td => getComputedStyle(td, '::before').content") == '"Perfil"'
    assert page.locator("table.table-cards thead").evaluate("h => h.getBoundingClientRect().width") <= 1
    page.set_viewport_size(VIEWPORTS["desktop"])
    page.goto(system.base_url + "/auditoria")
    heights = page.evaluate("[document.getElementById('sidebar').getBoundingClientRect().height,"
                            " document.getElementById('main').getBoundingClientRect().height]")
    assert heights[0] >= heights[1] - 1, heights
    context.close()
