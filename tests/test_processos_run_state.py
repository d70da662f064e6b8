"""The processo list shows a running or failed last run (with the error on hover and for screen readers),
filters "última execução falhou" on the page and in the API, and keeps its query count constant."""
import re
from datetime import timedelta

import pytest

from apps.auth.models import Role
from apps.core.types import utcnow
from apps.processos import queries
from apps.processos.models import StatusExecucao as E
from apps.processos.models import StatusProcesso as S
from tests.conftest import count_queries
from tests.factories import ExecucaoFactory, OperadoraFactory, ProcessoFactory

COMPETENCIA = "2026-05"
ERRO = "Portal da operadora fora do ar (HTTP 503) <script>"


def run(processo, status, minutes_ago, mensagem=None):
    """A run created `minutes_ago` minutes ago (finished unless active)."""
    created = utcnow() - timedelta(minutes=minutes_ago)
    return ExecucaoFactory(processo=processo, status=status, mensagem=mensagem, created_at=created,
                           data_inicio=created, data_fim=None if status in E.ACTIVE else created + timedelta(seconds=30))


@pytest.fixture
def processos():
    """Named processos of one month: never run, running, queued, failed last, failed then succeeded."""
    vivo = OperadoraFactory(codigo="VIVO")
    made = {nome: ProcessoFactory(cliente__nome=nome, cliente__operadora=vivo, competencia=COMPETENCIA)
            for nome in ("Alfa Nunca", "Beta Rodando", "Gama Na Fila", "Delta Falhou", "Epsilon Refeito")}
    run(made["Beta Rodando"], E.FALHOU, 30, "falha antiga")
    run(made["Beta Rodando"], E.EXECUTANDO, 1)
    run(made["Gama Na Fila"], E.PENDENTE, 1)
    run(made["Delta Falhou"], E.CONCLUIDO, 60)
    run(made["Delta Falhou"], E.FALHOU, 5, ERRO)
    run(made["Epsilon Refeito"], E.FALHOU, 60, "falha velha")
    run(made["Epsilon Refeito"], E.CONCLUIDO, 5)
    return made


def rows(html: str) -> dict:
    """{cliente nome: the row's HTML} of the processo table."""
    found = {}
    for row in re.findall(r'<tr data-processo-id="[^"]+">(.*?)</tr>', html, re.S):
        nome = re.search(r'data-card-title><a [^>]*>([^<]+)</a>', row).group(1)
        found[nome] = row
    return found


def page(client, **args):
    response = client.get("/processos", query_string={"competencia": COMPETENCIA, **args})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_list_shows_running_and_failed_last_runs(processos, users, login):
    shown = rows(page(login(users[Role.VISUALIZADOR])))
    assert set(shown) == set(processos)
    assert 'data-run-state="ativa"' in shown["Beta Rodando"] and "Em execução" in shown["Beta Rodando"]
    assert 'data-run-state="ativa"' in shown["Gama Na Fila"] and "Na fila" in shown["Gama Na Fila"]
    assert "falha antiga" not in shown["Beta Rodando"]  # the newer run is the one shown
    failed = shown["Delta Falhou"]
    assert 'data-run-state="falhou"' in failed and "Última execução falhou" in failed
    escaped = "Portal da operadora fora do ar (HTTP 503) &lt;script&gt;"
    assert re.search(r'title="Download: ' + re.escape(escaped) + '"', failed), failed  # on hover
    assert re.search(r'<span class="visually-hidden">Erro \(Download\): ' + re.escape(escaped) + "</span>", failed)
    for nome in ("Alfa Nunca", "Epsilon Refeito"):
        assert "data-run-state" not in shown[nome]


def test_list_is_a_phone_card_table_whose_cliente_links_to_the_processo(processos, users, login):
    html = page(login(users[Role.OPERADOR]))
    assert re.search(r'<table class="table [^"]*\btable-cards\b[^"]*" id="processos-table"', html)
    headers = re.findall(r"<th>([^<]*)</th>", html.split('id="processos-table"', 1)[1].split("</thead>")[0])
    assert headers == ["Cliente", "Operadora", "Competência", "Status", "Execução", "Atualizado em"]
    for row in rows(html).values():
        cells = re.findall(r"<td\b[^>]*>", row)
        assert cells and all("data-label=" in cell for cell in cells), cells
        labels = re.findall(r'data-label="([^"]*)"', row)
        assert labels == ["Selecionar", "Cliente", "Operadora", "Competência", "Status", "Execução", "Atualizado em",
                          "Ações"]
    delta = processos["Delta Falhou"]
    assert f'<a class="fw-semibold" href="/processos/{delta.id}">Delta Falhou</a>' in html


def test_filter_last_run_failed_on_the_page_and_in_its_pagination(processos, users, login, app, monkeypatch):
    vivo = OperadoraFactory(codigo="VIVO")
    for i in range(3):  # three more failed last runs: two pages of two
        run(ProcessoFactory(cliente__nome=f"Zeta Falhou {i}", cliente__operadora=vivo, competencia=COMPETENCIA),
            E.FALHOU, 3, "erro")
    client = login(users[Role.VISUALIZADOR])
    html = page(client)
    assert 'name="ultima_falhou" value="1" id="filtro-ultima-falhou" >' in html  # not checked
    monkeypatch.setitem(app.config, "ITEMS_PER_PAGE", 2)
    first = page(client, ultima_falhou="1")
    assert 'id="filtro-ultima-falhou" checked>' in first and "4 registro(s)" in first
    assert list(rows(first)) == ["Delta Falhou", "Zeta Falhou 0"]
    assert re.search(r'href="/processos\?[^"]*ultima_falhou=1[^"]*page=2"|href="/processos\?[^"]*page=2[^"]*ultima_falhou=1',
                     first.replace("&amp;", "&"))
    second = page(client, ultima_falhou="1", page="2")
    assert list(rows(second)) == ["Zeta Falhou 1", "Zeta Falhou 2"]
    assert list(rows(page(client, ultima_falhou="1", q="delta"))) == ["Delta Falhou"]
    assert queries.processos_total(competencia=COMPETENCIA, ultima_falhou=True) == 4


def test_api_list_filters_last_run_failed(processos, client, api_headers):
    headers = api_headers(Role.VISUALIZADOR)

    def listed(**args):
        response = client.get("/api/v1/processos", query_string={"competencia": COMPETENCIA, **args}, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return sorted(p["cliente_nome"] for p in body["items"]), body["total"]

    assert listed(ultima_falhou="true") == (["Delta Falhou"], 1)
    assert listed(ultima_falhou="false") == (sorted(processos), 5)
    assert listed() == (sorted(processos), 5)
    bad = client.get("/api/v1/processos?ultima_falhou=talvez", headers=headers)
    assert bad.status_code == 400 and "ultima_falhou" in bad.get_json()["fields"]


def test_list_query_count_is_constant_with_run_states(users, login, app, monkeypatch):
    monkeypatch.setitem(app.config, "ITEMS_PER_PAGE", 100)
    vivo = OperadoraFactory(codigo="VIVO")
    client = login(users[Role.OPERADOR])

    def add(n, start):
        for i in range(start, start + n):
            processo = ProcessoFactory(cliente__operadora=vivo, competencia=COMPETENCIA, status=S.AGUARDANDO_DOWNLOAD)
            run(processo, E.FALHOU, 20, f"erro {i}")
            run(processo, (E.FALHOU, E.CONCLUIDO, E.EXECUTANDO)[i % 3], 10, f"erro {i}")

    add(3, 0)
    counts = {}
    for args in ({}, {"ultima_falhou": "1"}):
        with count_queries() as few:
            page(client, **args)
        counts[str(args)] = len(few)
    add(30, 3)
    for args in ({}, {"ultima_falhou": "1"}):
        with count_queries() as many:
            html = page(client, **args)
        assert len(many) == counts[str(args)], many
        assert len(many) <= 7
    assert html.count('data-run-state="falhou"') == 11  # i % 3 == 0 of 33
