"""axe-core (from the npm registry, injected into Debian's Chromium) on the pages this work changed, in the
light and the dark theme: no WCAG 2 A/AA violation."""
from pathlib import Path

import pytest

from apps.core.types import db
from apps.operadoras.models import Operadora
from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def violations(page) -> list:
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})")
    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]]


@pytest.fixture
def operadora_id(system_app):
    with system_app.app_context():
        operadora = Operadora(codigo="EMBRATEL", nome="Embratel", possui_rpa=True, rpa_terceirizado=True,
                              url_endpoint_rpa="https://robo.exemplo.com.br/rpa")
        db.session.add(operadora)
        db.session.commit()
        yield str(operadora.id)
        db.session.delete(db.session.get(Operadora, operadora.id))
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_login_and_the_operadora_form_pass_axe(browser, system, operadora_id, theme, viewport):
    assert AXE.is_file(), "axe-core falta: rode `make assets` (npm ci)"
    context = browser.new_context(viewport=viewport, locale="pt-BR", bypass_csp=True)  # CSP forbids the inline axe
    page = context.new_page()
    page.goto(system.base_url + "/login")
    page.evaluate(f"localStorage.setItem('rpa-theme', '{theme}')")
    page.reload()
    assert page.evaluate("document.documentElement.dataset.bsTheme") == theme
    assert violations(page) == []
    page.fill("input[name=login]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{system.base_url}/operadoras/{operadora_id}/editar")
    assert page.locator("input[name=credencial_rpa]").count() == 1
    assert violations(page) == []
    context.close()
