"""The portal in a real Chromium: axe-core (light and dark) on the portal with a form of every field type,
on its server-side errors (focus on the first), on a serviço's run page with its live log, on Minhas
solicitações and on the admin's serviço pages; no critical or serious violation."""
import copy
import uuid

import pytest

from apps.auth.models import Role
from apps.core.types import db
from apps.portal import catalogo
from apps.portal.models import Dominio, Servico
from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER
from tests.browser.test_accessibility_browser import AXE, VIEWPORTS, log_in, report, violations
from tests.portal_support import EVERY_TYPE, EVERY_TYPE_RUN


@pytest.fixture
def portal_data(system_app, seed):
    """A domínio with the segunda via serviço and one with every field type (any role may run them)."""
    seed("Padaria do Portal Ltda")  # a VIVO cliente for the cliente fields
    with system_app.app_context():
        dominio = db.session.scalar(db.select(Dominio).where(Dominio.slug == "axe"))
        if dominio is None:
            dominio = Dominio(slug="axe", nome="Serviços de teste", ordem=0)
            db.session.add(dominio)
            db.session.flush()
            db.session.add(Servico(id=uuid.uuid4(), dominio_id=dominio.id, ativo=True, nome="Todos os tipos",
                                   descricao="Um campo de cada tipo.", papeis=list(Role.ALL),
                                   form_schema_json=EVERY_TYPE, run_template_json=EVERY_TYPE_RUN))
            db.session.add(Servico(id=uuid.uuid4(), dominio_id=dominio.id, ativo=True,
                                   **copy.deepcopy(catalogo.SEGUNDA_VIA)))
            db.session.commit()
        ids = {s.nome: str(s.id) for s in db.session.scalars(db.select(Servico).where(Servico.dominio_id == dominio.id))}
        db.session.remove()
    return ids


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_portal_pages_pass_axe(browser, system, portal_data, theme):
    assert AXE.is_file(), "axe-core falta: rode `make assets` (npm ci)"
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="pt-BR", bypass_csp=True)
    context.add_init_script(f"try {{ localStorage.setItem('rpa-theme', '{theme}'); }} catch (e) {{}}")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, system.base_url, ADMIN_USER, ADMIN_PASSWORD)
    assert page.evaluate("document.documentElement.dataset.bsTheme") == theme
    results = []
    page.goto(system.base_url + "/portal")
    page.wait_for_load_state("networkidle")
    card = page.locator(f"article[data-servico-id='{portal_data['Todos os tipos']}']")
    for kind in ("number", "date", "month", "checkbox"):
        assert card.locator(f"input[type={kind}]").count() == 1, kind
    assert card.locator("select").count() == 3  # select, cliente, operadora
    results.append(("portal", violations(page)))

    card.locator("button[type=submit]").click()  # empty: the server's messages next to each required field
    page.wait_for_load_state("networkidle")
    first = page.locator("main form [aria-invalid=true]").first
    assert "Campo obrigatório." in page.content()
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    assert first.get_attribute("id").endswith("-titulo")
    results.append(("portal com erros", violations(page)))

    segunda = page.locator(f"article[data-servico-id='{portal_data[catalogo.SEGUNDA_VIA['nome']]}']")
    segunda.locator("select").select_option(index=1)
    segunda.locator("input[type=month]").fill("2026-02")
    segunda.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/portal/execucoes/" in url)
    page.wait_for_selector("#live-panel:not(.d-none)")
    page.wait_for_function("document.querySelector('[data-live=lines]').childElementCount > 0", timeout=30_000)
    results.append(("portal: execução com log ao vivo", violations(page)))

    for name, path in (("minhas solicitações", "/portal/solicitacoes"), ("serviços", "/portal/servicos"),
                       ("serviço: novo", "/portal/servicos/novo"), ("domínios", "/portal/dominios"),
                       ("serviço: editar", f"/portal/servicos/{portal_data['Todos os tipos']}/editar")):
        page.goto(system.base_url + path)
        page.wait_for_load_state("networkidle")
        results.append((name, violations(page)))
    context.close()
    blocking = report(f"portal, tema {theme}", results)
    assert blocking == [], blocking
