"""The Robôs page updates itself: a heartbeat moves a robot's status and the row changes without a reload
(real Chromium against gunicorn + the simulator); the page passes axe. The robot is removed afterwards, so the
other browser tests keep running on API_EXTERNA_URL as before."""
import pytest
from sqlalchemy import delete

from apps.core.types import db
from apps.robos import heartbeat
from apps.robos.models import Robo, StatusRobo
from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER
from tests.browser.test_accessibility_browser import AXE, BLOCKING, log_in, violations

pytestmark = pytest.mark.timeout(300)
ROW = 'tr[data-robo="robo-navegador"]'


def test_the_robots_page_follows_the_heartbeat_without_reload(page, browser, system, system_app):
    with system_app.app_context():
        db.session.add(Robo(nome="robo-navegador", url=system.sim_url, tags="*", capacidade=2,
                            status=StatusRobo.SEM_RESPOSTA))
        db.session.commit()
        db.session.remove()
    try:
        page.goto(system.base_url + "/robos")
        page.wait_for_selector(f'{ROW}[data-status="SEM_RESPOSTA"]')
        page.evaluate("window.__sem_recarregar = true")
        with system_app.app_context():
            system_app.config["RPA_ALLOW_PRIVATE_TARGETS"] = True  # the simulator is on 127.0.0.1
            assert heartbeat.run()["mudaram"] == ["robo-navegador"]
            db.session.remove()
        page.wait_for_selector(f'{ROW}[data-status="DISPONIVEL"]', timeout=15_000)
        assert page.evaluate("window.__sem_recarregar === true")  # the same document: no reload
        assert "0 / 2" in page.inner_text(f"{ROW} [data-carga]")
        assert AXE.is_file()
        context = browser.new_context(locale="pt-BR", bypass_csp=True)  # axe is injected inline
        axe_page = context.new_page()
        log_in(axe_page, system.base_url, ADMIN_USER, ADMIN_PASSWORD)
        for path in ("/robos", "/robos/novo"):
            axe_page.goto(system.base_url + path)
            axe_page.wait_for_load_state("networkidle")
            assert [v for v in violations(axe_page) if v["impact"] in BLOCKING] == [], path
        context.close()
    finally:
        with system_app.app_context():
            system_app.config["RPA_ALLOW_PRIVATE_TARGETS"] = False
            db.session.execute(delete(Robo))
            db.session.commit()
            db.session.remove()
