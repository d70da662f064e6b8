"""The approval inbox and review view in Debian's Chromium: the selection's count and total before confirming,
the keyboard shortcuts (J/K through the PDFs and on to the next processo, A approves and moves on, R goes to the
reason), and axe-core on both pages in the light and the dark theme."""
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.browser.system import ADMIN_USER

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def fila(system_app):
    """Three processos of a new operadora waiting for approval, held by the browser's admin: the first with two
    invoices (R$ 100,00 + R$ 50,50), the others with one (R$ 200,00, R$ 300,00). Their ids, in inbox order."""
    from apps.aprovacoes import tarefas
    from apps.auth.models import User
    from apps.clientes.cnpj import check_digits
    from apps.clientes.models import Cliente
    from apps.core.types import db
    from apps.operadoras.models import Operadora
    from apps.processos import storage
    from apps.processos.models import Fatura, Processo, StatusProcesso

    with system_app.app_context():
        codigo = "AP" + uuid.uuid4().hex[:6].upper()
        operadora = Operadora(codigo=codigo, nome=f"Operadora {codigo}")
        db.session.add(operadora)
        db.session.flush()
        admin = db.session.scalar(db.select(User).where(User.username == ADMIN_USER))
        tarefas.definir_aprovadores(operadora, [admin.id], by=None)
        ids = []
        for nome, valores in ((f"Alfa {codigo}", ("100.00", "50.50")), (f"Beta {codigo}", ("200.00",)),
                              (f"Gama {codigo}", ("300.00",))):
            base = str(uuid.uuid4().int)[:8] + "0001"
            cliente = Cliente(nome=nome, cnpj=base + check_digits(base), operadora=operadora)
            processo = Processo(cliente=cliente, competencia="2026-04", status=StatusProcesso.AGUARDANDO_APROVACAO)
            db.session.add_all([cliente, processo])
            db.session.flush()
            for n, valor in enumerate(valores):
                data = PDF + f"% {processo.id} {n}\n".encode()
                db.session.add(Fatura(processo_id=processo.id, numero=f"{nome[:4]}-{n + 1}", valor=Decimal(valor),
                                      vencimento=date(2026, 12, 10),
                                      arquivo=storage.save(processo.id, data), sha256=storage.sha256_hex(data),
                                      tamanho=len(data)))
            db.session.flush()
            tarefas.abrir([processo.id])
            db.session.commit()
            ids.append(str(processo.id))
        db.session.remove()
    return {"ids": ids, "codigo": codigo}


def violations(page) -> list:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
            if v["impact"] in BLOCKING]


def test_inbox_shows_the_selection_count_and_total_before_confirming(page, system, fila):
    page.goto(system.base_url + "/aprovacoes?aba=grupo")
    assert page.locator("#aprovacoes-badge").count() == 1
    alfa, beta = fila["ids"][:2]
    page.check(f"tr[data-processo-id='{alfa}'] input[name=ids]")
    page.check(f"tr[data-processo-id='{beta}'] input[name=ids]")
    assert page.inner_text("#selecao-resumo") == "2 selecionado(s) · total R$ 350,50"
    page.click("#aprovar-selecionados")
    page.wait_for_url("**/aprovacoes/confirmar**")
    assert "total de R$ 350,50" in page.inner_text("#confirmar-resumo")


def test_review_keyboard_shortcuts(page, system, fila):
    alfa, beta, gama = fila["ids"]
    page.goto(system.base_url + f"/aprovacoes/{alfa}/revisar?aba=grupo")
    assert "A aprovar e ir ao próximo" in page.inner_text("#atalhos")
    with page.context.expect_page() as opened:
        page.keyboard.press("j")                      # first PDF, in its own tab
    pdf_tab = opened.value
    assert "/pdf" in pdf_tab.url
    assert page.locator("#revisao-faturas li.active").get_attribute("data-fatura") == "0"
    page.keyboard.press("j")                          # second PDF, in the same tab
    assert page.locator("#revisao-faturas li.active").get_attribute("data-fatura") == "1"
    page.keyboard.press("k")
    assert page.locator("#revisao-faturas li.active").get_attribute("data-fatura") == "0"
    page.keyboard.press("j")
    page.keyboard.press("j")                          # past the last PDF: the next processo
    page.wait_for_url(f"**/aprovacoes/{beta}/revisar**")
    page.keyboard.press("k")                          # before the first PDF: the previous processo
    page.wait_for_url(f"**/aprovacoes/{alfa}/revisar**")
    page.keyboard.press("a")                          # approve (confirmed) and move on
    page.wait_for_url(f"**/aprovacoes/{beta}/revisar**")
    assert any("Aprovar as faturas de Alfa" in message for _, message in page.dialogs)
    assert "aprovado" in page.inner_text(".alert-success")
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "rejeitar-motivo"
    page.keyboard.type("Valor em dobro")              # typing in the field is not a shortcut
    assert page.url.endswith(f"/aprovacoes/{beta}/revisar?aba=grupo")
    page.click("#btn-rejeitar")
    page.wait_for_url(f"**/aprovacoes/{gama}/revisar**")
    pdf_tab.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_inbox_and_review_pass_axe(browser, system, fila, theme):
    from tests.browser.system import ADMIN_PASSWORD

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="pt-BR", bypass_csp=True)
    context.add_init_script(f"try {{ localStorage.setItem('rpa-theme', '{theme}'); }} catch (e) {{}}")
    page = context.new_page()
    page.goto(system.base_url + "/login")
    page.fill("input[name=login]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    found = {}
    for name, path in (("inbox", "/aprovacoes?aba=grupo"), ("vencidas", "/aprovacoes?aba=vencidas"),
                       ("revisar", f"/aprovacoes/{fila['ids'][0]}/revisar?aba=grupo"),
                       ("processo", f"/processos/{fila['ids'][0]}")):
        page.goto(system.base_url + path)
        assert page.evaluate("document.documentElement.dataset.bsTheme") == theme
        found[name] = violations(page)
    context.close()
    assert all(v == [] for v in found.values()), found
