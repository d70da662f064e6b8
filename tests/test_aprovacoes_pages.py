"""The inbox (tabs, counts, badge, overdue and flagged rows, constant statements), the review view (PDFs,
shortcuts, Aprovar / Rejeitar e próximo), bulk approval with its confirmation, comments, Assumir and
reassigning, the operadora's approval settings, the user's ausente_ate, the approver's landing page."""
import re
from datetime import date
from decimal import Decimal

import pytest
from flask import g
from sqlalchemy import select

from apps.aprovacoes.models import TarefaAprovacao
from apps.auth.models import Role
from apps.core.types import db
from apps.processos.models import StatusProcesso
from tests.conftest import count_queries, make_user
from tests.factories import OperadoraFactory, ProcessoFactory
from tests.support.aprovacoes import approver, at, group, history, make_clock, spy_notify, waiting


@pytest.fixture
def clock(monkeypatch):
    return make_clock(monkeypatch)


@pytest.fixture(autouse=True)
def told(monkeypatch):
    return spy_notify(monkeypatch)


@pytest.fixture
def cena(clock):
    """VIVO with ana and bia; ana holds Alfa (overdue) and Beta (+38%, flagged); bia holds Gama; Delta (OI) has
    nobody."""
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    ana, bia = approver("ana"), approver("bia")
    group(vivo, ana)
    clock.set(at(2026, 10, 26))
    alfa = waiting(vivo, "Alfa")                       # prazo 28 Oct: overdue on the 30th
    clock.set(at(2026, 10, 30))
    beta = waiting(vivo, "Beta", total="138.00", open_task=False)
    for competencia, total in (("2026-09", "90.00"), ("2026-08", "110.00"), ("2026-07", "100.00")):
        history(beta.cliente, competencia, total)
    from apps.aprovacoes import tarefas

    tarefas.abrir([beta.id])
    db.session.commit()
    group(vivo, ana, bia)
    clock.set(at(2026, 10, 30, 11))
    gama = waiting(vivo, "Gama")                        # bia has none: she gets it
    clock.set(at(2026, 10, 30, 12))
    delta = waiting(oi, "Delta")
    return {"ana": ana, "bia": bia, "alfa": alfa, "beta": beta, "gama": gama, "delta": delta, "vivo": vivo}


def rows(html) -> list[str]:
    return re.findall(r'name="ids" value="[^"]+" data-total="[^"]+" aria-label="Selecionar ([^"]+)"', html)


def test_inbox_tabs_counts_and_badge(cena, client, login):
    login(cena["ana"])
    page = client.get("/aprovacoes").get_data(as_text=True)
    assert rows(page) == ["Alfa", "Beta"]                             # by prazo
    assert re.search(r'data-contagem="minhas">2<', page) and re.search(r'data-contagem="grupo">3<', page)
    assert re.search(r'data-contagem="sem">0<', page) and re.search(r'data-contagem="vencidas">1<', page)
    assert 'id="aprovacoes-badge" data-minhas="2" data-vencidas="1"' in page
    alfa_row = page[page.index(f'data-processo-id="{cena["alfa"].id}"'):][:600]
    assert 'data-vencida="1"' in alfa_row
    assert "+38% vs média de 3 meses" in page and 'data-alerta="1"' in page
    assert "sem histórico" in page
    assert rows(client.get("/aprovacoes?aba=grupo").get_data(as_text=True)) == ["Alfa", "Beta", "Gama"]
    assert rows(client.get("/aprovacoes?aba=vencidas").get_data(as_text=True)) == ["Alfa"]
    assert rows(client.get("/aprovacoes?aba=sem").get_data(as_text=True)) == []


def test_admins_see_every_operadora(cena, admin_client):
    assert rows(admin_client.get("/aprovacoes?aba=grupo").get_data(as_text=True)) == ["Alfa", "Beta", "Gama", "Delta"]
    assert rows(admin_client.get("/aprovacoes?aba=sem").get_data(as_text=True)) == ["Delta"]


def test_viewers_have_no_inbox(cena, client, login, users):
    login(users[Role.VISUALIZADOR])
    assert client.get("/aprovacoes").status_code == 403
    assert "aprovacoes-badge" not in client.get("/processos").get_data(as_text=True)


def test_inbox_statements_do_not_grow_with_rows(clock, client, login):
    from apps.aprovacoes import tarefas
    from tests.support.bulk import waiting_many

    vivo = OperadoraFactory(codigo="VIVO")
    ana = approver("ana")
    group(vivo, ana)
    tarefas.abrir(waiting_many(vivo, 3, "P"))
    db.session.commit()
    login(ana)
    client.get("/aprovacoes")  # warm: the session user is loaded once per test session state
    with count_queries() as few:
        assert client.get("/aprovacoes").status_code == 200
    tarefas.abrir(waiting_many(vivo, 60, "Q"))
    db.session.commit()
    client.get("/aprovacoes")
    with count_queries() as more:
        page = client.get("/aprovacoes").get_data(as_text=True)
    assert len(rows(page)) == 25 and "63 registro(s)" in page
    assert len(more) == len(few), "\n".join(s[:150] for s in few + ["----"] + more)


def test_login_lands_approvers_on_their_inbox(cena, client, users):
    response = client.post("/login", data={"login": "ana", "password": "Senha-de-Teste-9"})
    assert response.headers["Location"].endswith("/aprovacoes")
    g.pop("_login_user", None)
    other = client.application.test_client()
    response = other.post("/login", data={"login": users[Role.VISUALIZADOR].username, "password": "Senha-de-Teste-9"})
    assert response.headers["Location"] == "/"


def test_review_view_shows_the_pdfs_and_the_shortcuts_and_goes_to_the_next(cena, client, login):
    login(cena["ana"])
    page = client.get(f"/aprovacoes/{cena['alfa'].id}/revisar").get_data(as_text=True)
    fatura = cena["alfa"].faturas[0]
    assert f'href="/faturas/{fatura.id}/pdf" target="fatura-pdf"' in page
    for key in ("A", "R", "J", "K"):
        assert f"<kbd>{key}</kbd>" in page
    assert 'aria-keyshortcuts="A"' in page and "js/aprovacoes.js" in page
    assert f'data-proximo="/aprovacoes/{cena["beta"].id}/revisar?aba=minhas"' in page
    response = client.post(f"/aprovacoes/{cena['alfa'].id}/aprovar?aba=minhas", data={"comentario": ""})
    assert response.headers["Location"].endswith(f"/aprovacoes/{cena['beta'].id}/revisar?aba=minhas")
    db.session.refresh(cena["alfa"])
    assert cena["alfa"].status == StatusProcesso.AGUARDANDO_ENVIO_SAT
    # double click: the second post finds nothing to approve, says so and changes nothing
    again = client.post(f"/aprovacoes/{cena['alfa'].id}/aprovar?aba=minhas", data={"comentario": ""},
                        follow_redirects=True).get_data(as_text=True)
    assert "Só é possível aprovar um processo em AGUARDANDO_APROVACAO" in again


def test_reject_needs_a_reason_and_keeps_nothing_half_done(cena, client, login):
    login(cena["ana"])
    empty = client.post(f"/aprovacoes/{cena['beta'].id}/rejeitar", data={"motivo": "  "}, follow_redirects=True)
    assert "Informe o motivo." in empty.get_data(as_text=True)
    db.session.refresh(cena["beta"])
    assert cena["beta"].status == StatusProcesso.AGUARDANDO_APROVACAO
    done = client.post(f"/aprovacoes/{cena['beta'].id}/rejeitar", data={"motivo": "valor em dobro"})
    assert done.status_code == 302 and "/aprovacoes" in done.headers["Location"]
    db.session.refresh(cena["beta"])
    assert cena["beta"].status == StatusProcesso.AGUARDANDO_DOWNLOAD


def test_bulk_approval_confirms_count_and_total_first(cena, client, login):
    login(cena["ana"])
    ids = [str(cena["alfa"].id), str(cena["beta"].id)]
    confirm = client.post("/aprovacoes/confirmar", data={"ids": ids}).get_data(as_text=True)
    assert 'data-quantidade="2" data-total="238.00"' in confirm and "R$ 238,00" in confirm
    db.session.refresh(cena["alfa"])
    assert cena["alfa"].status == StatusProcesso.AGUARDANDO_APROVACAO       # nothing approved yet
    result = client.post("/aprovacoes/aprovar-selecionados", data={"ids": ids}).get_data(as_text=True)
    assert "2 processo(s) aprovado(s)" in result
    assert client.post("/aprovacoes/confirmar", data={}, follow_redirects=True).status_code == 200
    assert client.post("/aprovacoes/confirmar", data={"ids": ["x"]}).status_code == 302


def test_forms_need_csrf(cena, client, login):
    login(cena["ana"])
    response = client.post(f"/aprovacoes/{cena['alfa'].id}/aprovar", data={}, no_csrf=True)
    assert response.status_code == 400


def test_assumir_and_reassign_from_the_pages(cena, client, login, users):
    login(cena["bia"])
    client.post(f"/aprovacoes/{cena['alfa'].id}/assumir", data={})
    flash = client.get("/aprovacoes").get_data(as_text=True)
    assert "não está ausente" in flash
    assert client.post(f"/aprovacoes/{cena['alfa'].id}/atribuir", data={"usuario_id": str(cena["bia"].id)}
                       ).status_code == 403
    g.pop("_login_user", None)  # the test's app context (and its g) outlives each request: forget bia
    admin = client.application.test_client()
    admin.post("/login", data={"login": users[Role.ADMIN].username, "password": "Senha-de-Teste-9"})
    r = admin.post(f"/aprovacoes/{cena['alfa'].id}/atribuir", data={"usuario_id": str(cena["bia"].id)},
                   follow_redirects=True)
    text = r.get_data(as_text=True)
    assert "reatribuída" in text, re.findall(r'class="alert[^>]*>(.*?)<', text, re.S)
    tarefa = db.session.scalar(select(TarefaAprovacao).where(TarefaAprovacao.processo_id == cena["alfa"].id,
                                                             TarefaAprovacao.aberta.is_(True)))
    assert tarefa.responsavel_id == cena["bia"].id


def test_comments_on_the_processo_page_and_in_the_inbox(cena, client, login):
    login(cena["ana"])
    url = f"/processos/{cena['beta'].id}"
    empty = client.post(f"{url}/comentarios", data={"texto": " "}, follow_redirects=True).get_data(as_text=True)
    assert "Escreva o comentário." in empty
    client.post(f"{url}/comentarios", data={"texto": "Conferir <b>linha</b> 3", "next": url})
    page = client.get(url).get_data(as_text=True)
    assert "Conferir &lt;b&gt;linha&lt;/b&gt; 3" in page          # escaped, in the thread and the history
    assert page.count("Conferir &lt;b&gt;") == 2
    assert 'id="processo-aprovacao"' in page and "Responsável: <strong>ana</strong>" in page
    inbox = client.get("/aprovacoes").get_data(as_text=True)
    assert "1<span class=\"visually-hidden\"> comentário(s)" in inbox


def test_operadora_form_keeps_the_approval_settings(cena, admin_client, client, login):
    vivo, bia = cena["vivo"], cena["bia"]
    form = admin_client.get(f"/operadoras/{vivo.id}/editar").get_data(as_text=True)
    assert 'name="aprovadores"' in form and 'name="valor_dupla_aprovacao"' in form
    response = admin_client.post(f"/operadoras/{vivo.id}/editar", data={
        "codigo": "VIVO", "nome": "Vivo", "possui_rpa": "y", "limite_concorrencia": "5", "aprovadores": [str(bia.id)],
        "prazo_aprovacao_dias_uteis": "3", "valor_dupla_aprovacao": "50.000,00", "variacao_alerta_pct": "10"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert [u.username for u in vivo.aprovadores] == ["bia"]
    assert (vivo.prazo_aprovacao_dias_uteis, vivo.valor_dupla_aprovacao, vivo.variacao_alerta_pct) == (
        3, Decimal("50000.00"), 10)
    bad = admin_client.post(f"/operadoras/{vivo.id}/editar", data={
        "codigo": "VIVO", "nome": "Vivo", "possui_rpa": "y", "limite_concorrencia": "5", "aprovadores": [str(bia.id)],
        "prazo_aprovacao_dias_uteis": "3", "valor_dupla_aprovacao": "abc", "variacao_alerta_pct": "10"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Informe o valor em reais" in text and 'value="abc"' in text
    bad = admin_client.post(f"/operadoras/{vivo.id}/editar", data={
        "codigo": "VIVO", "nome": "Vivo", "possui_rpa": "y", "limite_concorrencia": "5", "aprovadores": [str(bia.id)],
        "prazo_aprovacao_dias_uteis": "99", "valor_dupla_aprovacao": "", "variacao_alerta_pct": "10"})
    assert bad.status_code == 422 and "Informe um valor entre 0 e 30." in bad.get_data(as_text=True)
    g.pop("_login_user", None)
    client.post("/logout")
    login(make_user(Role.MANTENEDOR, "mantenedor.ana"))  # who keeps the operadoras sees them, read-only
    page = client.get(f"/operadoras/{vivo.id}/editar").get_data(as_text=True)
    assert 'id="aprovacao-settings-readonly"' in page and 'name="aprovadores"' not in page


def test_user_form_sets_ausente_ate(cena, admin_client, clock):
    ana = cena["ana"]
    data = {"email": ana.email, "nome": "", "role": Role.OPERADOR, "ativo": "y", "ausente_ate": "2026-11-06"}
    assert admin_client.post(f"/usuarios/{ana.id}/editar", data=data).status_code == 302
    db.session.refresh(ana)
    assert ana.ausente_ate == date(2026, 11, 6)
    past = admin_client.post(f"/usuarios/{ana.id}/editar", data={**data, "ausente_ate": "2026-01-01"})
    assert "A data de ausência já passou" in past.get_data(as_text=True)
    db.session.refresh(ana)
    assert ana.ausente_ate == date(2026, 11, 6)


def test_manual_upload_processo_shows_who_may_not_approve(clock, client, login):
    digitalnet = OperadoraFactory(codigo="DIGITALNET", possui_rpa=False)
    ana, bia = approver("ana"), approver("bia")
    group(digitalnet, ana, bia)
    processo = ProcessoFactory(cliente__operadora=digitalnet, competencia="2026-10")
    from apps.processos import manual
    from tests.factories import PDF

    manual.enviar_faturas(processo, [manual.FaturaManual(data=PDF, nome_original="f.pdf", numero="1",
                                                         valor=Decimal("10.00"), vencimento=date(2026, 11, 10))], by=ana)
    login(ana)
    page = client.post(f"/aprovacoes/{processo.id}/aprovar", data={}, follow_redirects=True).get_data(as_text=True)
    assert "Você enviou estas faturas manualmente" in page
