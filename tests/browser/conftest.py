"""Browser tests: real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, against
the whole system started as processes (gunicorn, RQ worker, RPA simulator, Redis, a database)."""
import os
import uuid
from pathlib import Path

import pytest

from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER, remove_workdir, start_system

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path("/tmp/shots")
COMPETENCIA = "2026-03"


def pytest_collection_modifyitems(config, items):
    """Without Chromium there is no browser to drive: skip, saying why."""
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} não encontrado: instale o pacote 'chromium' (make system-deps)")
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_state():
    """Replaces the suite's per-test cleanup: this system has its own database and Redis."""
    yield


@pytest.fixture(scope="session")
def system():
    database = "postgresql" if os.environ.get("TEST_DATABASE") == "postgresql" else "sqlite"
    running = start_system(database, web_workers=2,
                           sim_knobs={"job_duration": 5, "queue_wait": 0.5, "log_lines": 10, "seed": 11})
    yield running
    running.stop()
    remove_workdir(running)


@pytest.fixture(scope="session")
def system_app(system):
    return system.app()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("o pacote playwright (só o driver; o navegador é o do Debian) falta: "
                    "pip install -r requirements-dev.txt")

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, system):
    """A logged-in page (fresh context: its own cookies) that records every dialog it sees."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="pt-BR")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.dialogs = []

    def on_dialog(dialog):
        page.dialogs.append((dialog.type, dialog.message))
        dialog.accept()

    page.on("dialog", on_dialog)
    page.goto(system.base_url + "/login")
    page.fill("input[name=login]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    yield page
    context.close()


@pytest.fixture
def seed(system_app):
    """seed(nome) -> processo id: a VIVO cliente with this month's processo waiting for download."""
    from apps.clientes.cnpj import check_digits
    from apps.clientes.models import Cliente
    from apps.core.types import db
    from apps.operadoras.models import Operadora
    from apps.processos.models import Processo

    def _seed(nome: str) -> str:
        with system_app.app_context():
            operadora = db.session.scalar(db.select(Operadora).where(Operadora.codigo == "VIVO"))
            if operadora is None:
                operadora = Operadora(codigo="VIVO", nome="Vivo", possui_rpa=True)
            base = str(uuid.uuid4().int)[:8] + "0001"
            cliente = Cliente(nome=nome, cnpj=base + check_digits(base), operadora=operadora)
            processo = Processo(cliente=cliente, competencia=COMPETENCIA)
            db.session.add_all([operadora, cliente, processo])
            db.session.commit()
            processo_id = str(processo.id)
            db.session.remove()
            return processo_id

    return _seed


@pytest.fixture
def start_run(system_app):
    """start_run(processo_id) -> execucao id: what the Executar button does, from the test."""
    from apps.core.types import db
    from apps.processos import services
    from apps.processos.models import Processo

    def _start(processo_id: str) -> str:
        with system_app.app_context():
            execucao = services.executar(db.session.get(Processo, uuid.UUID(processo_id)))
            execucao_id = str(execucao.id)
            db.session.remove()
            return execucao_id

    return _start


@pytest.fixture
def stored_seqs(system_app):
    """stored_seqs(execucao_id) -> the seqs of the stored log lines, in order."""
    from apps.core.types import db
    from apps.processos.models import ExecucaoLog

    def _seqs(execucao_id: str) -> list[int]:
        with system_app.app_context():
            seqs = list(db.session.scalars(db.select(ExecucaoLog.seq).where(
                ExecucaoLog.execucao_id == uuid.UUID(execucao_id)).order_by(ExecucaoLog.seq)))
            db.session.remove()
            return seqs

    return _seqs


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
