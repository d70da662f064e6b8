"""The processo list's pages: whichever way a page is reached (its number typed, a link carrying the
row beside it, from either end), it holds exactly the rows OFFSET would give, in the same order."""
import re
import uuid

import pytest
import redis
from sqlalchemy import select

from apps.auth.models import Role
from apps.core.types import db
from apps.processos import ancoras, queries, totais
from apps.processos.models import Processo, ProcessoLista
from apps.processos.models import StatusProcesso as S
from tests.conftest import count_queries
from tests.factories import ClienteFactory, OperadoraFactory, ProcessoFactory

PER_PAGE = 3
ROW = re.compile(r'name="ids" value="([0-9a-f-]+)"')
LINK = re.compile(r'<a class="page-link" href="([^"]*)">([^<]+)</a>')


@pytest.fixture
def lister(users, login, app, monkeypatch):
    monkeypatch.setitem(app.config, "ITEMS_PER_PAGE", PER_PAGE)
    return login(users[Role.OPERADOR])


@pytest.fixture
def listed():
    """22 processos over two competências; nomes that tie on their search key (case, accents) or on the
    nome itself, so the order's later columns (nome, id) decide."""
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    nomes = ["Cli 01", "CLI 01", "Clí 02", "Cli 03", "Cli 03", "cli 04", "Cli 05", "Cli 06", "Cli 07", "Cli 08",
             "Cli 09", "Cli 10", "Cli 11", "Cli 12"]
    for i, nome in enumerate(nomes):
        cliente = ClienteFactory(nome=nome, operadora=vivo if i % 2 else oi)
        status = S.AGUARDANDO_APROVACAO if i % 2 == 0 else S.AGUARDANDO_DOWNLOAD
        ProcessoFactory(cliente=cliente, competencia="2026-05", status=status)
        if i < 8:
            ProcessoFactory(cliente=cliente, competencia="2026-04", status=status)
    db.session.commit()
    return vivo


def expected(**filters) -> list[str]:
    return [str(p.id) for p in db.session.scalars(queries.processos_query(**filters)).unique()]


def rows(client, url) -> tuple[list[str], str]:
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.get_data(as_text=True)
    return ROW.findall(html), html


def link(html, text) -> str:
    return next(href.replace("&amp;", "&") for href, label in LINK.findall(html) if label == text)


FILTERS = [("competencia=", {}), ("competencia=2026-05", {"competencia": "2026-05"}),
           ("competencia=&status=AGUARDANDO_APROVACAO", {"status": S.AGUARDANDO_APROVACAO}),
           ("competencia=&q=cli", {"q": "cli"})]


@pytest.mark.parametrize("args,filters", FILTERS)
def test_every_page_holds_the_offset_rows_however_it_is_reached(lister, listed, args, filters):
    everything = expected(**filters)
    pages = -(-len(everything) // PER_PAGE)
    assert pages >= 4
    want = {p: everything[(p - 1) * PER_PAGE:p * PER_PAGE] for p in range(1, pages + 1)}
    for p in range(1, pages + 1):  # typed: from the start or from the end, whichever is nearer
        assert rows(lister, f"/processos?{args}&page={p}")[0] == want[p], p
    ids, html = rows(lister, f"/processos?{args}")
    for p in range(2, pages + 1):  # forwards by Próxima: each link carries the page's last row
        url = link(html, "Próxima")
        assert f"page={p}" in url and "ref=" in url and "ref_pos=" in url
        ids, html = rows(lister, url)
        assert ids == want[p], p
    for p in range(pages - 1, 0, -1):  # and back by Anterior, from the page's first row
        ids, html = rows(lister, link(html, "Anterior"))
        assert ids == want[p], p
    ids, html = rows(lister, f"/processos?{args}&page=2")  # a numbered link two pages on
    ids, html = rows(lister, link(html, "4"))
    assert ids == want[4]
    ids, html = rows(lister, link(html, "2"))  # and two back
    assert ids == want[2]


def test_a_link_whose_row_is_gone_or_forged_still_gives_the_page(lister, listed):
    everything = expected(competencia="2026-05")
    ids, html = rows(lister, "/processos?competencia=2026-05&page=2")
    url = link(html, "Próxima")
    db.session.delete(db.session.get(Processo, uuid.UUID(ids[-1])))
    db.session.commit()
    everything.remove(ids[-1])
    assert rows(lister, url)[0] == everything[6:9]  # the row it carried was deleted: counted from the start
    assert rows(lister, "/processos?competencia=2026-05&page=3&ref=bogus&ref_pos=x")[0] == everything[6:9]
    other = str(db.session.scalar(select(Processo.id).where(Processo.competencia == "2026-04").limit(1)))
    forged = rows(lister, f"/processos?competencia=2026-05&page=3&ref={other}&ref_pos=5")[0]
    assert set(forged) <= set(everything) and len(forged) == PER_PAGE  # never a row outside the filter


def test_links_drop_a_stale_reference_and_the_filter_form_carries_none(lister, listed):
    ids, html = rows(lister, "/processos?competencia=2026-05&page=2")
    first = link(html, "1")
    assert "ref=" not in first  # page 1 needs no reference row
    assert 'name="ref"' not in html and 'name="ref_pos"' not in html


def test_a_page_reached_by_its_link_costs_the_same_statements(lister, listed):
    ids, html = rows(lister, "/processos?competencia=2026-05&page=2")
    url = link(html, "Próxima")
    with count_queries() as typed:
        rows(lister, "/processos?competencia=2026-05&page=3")
    want = expected(competencia="2026-05")[6:9]
    with count_queries() as linked:
        assert rows(lister, url)[0] == want
    assert len(linked) == len(typed)


API_FILTERS = [("", {}), ("competencia=2026-05", {"competencia": "2026-05"}),
               ("status=AGUARDANDO_APROVACAO", {"status": S.AGUARDANDO_APROVACAO})]


@pytest.mark.parametrize("args,filters", API_FILTERS)
def test_every_api_page_holds_the_offset_rows_at_the_same_statement_cost(api_headers, client, listed, args, filters):
    """The JSON API finds a page as the list does (over the covering index, from the nearer end): the same rows
    as OFFSET, in the same order, with the same totals, and page N costs the statements page 1 costs."""
    everything, headers, per_page = expected(**filters), api_headers(), 4
    pages = -(-len(everything) // per_page)
    assert pages >= 3
    costs = []
    for p in range(1, pages + 2):  # and one page past the end: empty, as OFFSET gives
        with count_queries() as statements:
            body = client.get(f"/api/v1/processos?{args}&per_page={per_page}&page={p}", headers=headers).get_json()
        costs.append(len(statements))
        assert [item["id"] for item in body["items"]] == everything[(p - 1) * per_page:p * per_page], p
        assert (body["total"], body["page"], body["pages"]) == (len(everything), p, pages)
    assert len(set(costs[:-1])) == 1, costs


STEP = 4  # an anchor every 4 rows: pages of 3 start on, just after and well past an anchor


@pytest.fixture
def anchored(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROCESSOS_ANCORA_PASSO", STEP)


def versions() -> dict:
    return dict(db.session.execute(select(ProcessoLista.competencia, ProcessoLista.versao)).all())


def kept(competencia) -> list:
    found = ancoras.cached(competencia)
    return found.ids if found else []


@pytest.mark.parametrize("args,competencia", [("competencia=2026-05", "2026-05")])
def test_typed_pages_seek_from_the_anchor_before_them_and_hold_the_offset_rows(lister, listed, anchored, args,
                                                                               competencia):
    everything = expected(competencia=competencia)
    pages = -(-len(everything) // PER_PAGE)
    for p in (*range(pages, 0, -1), *range(1, pages + 1)):  # deepest first: the anchors are read as far as needed
        assert rows(lister, f"/processos?{args}&page={p}")[0] == everything[(p - 1) * PER_PAGE:p * PER_PAGE], p
    # the anchors are the rows at positions 3, 7, 11, ... of the list, read at its version
    assert [str(i) for i in kept(competencia)] == everything[STEP - 1::STEP][:len(kept(competencia))]
    middle = pages // 2 + 1  # nearer an anchor than either end (the last pages are read from the end)
    start = (middle - 1) * PER_PAGE
    assert start % STEP < min(start, len(everything) - start - PER_PAGE) and len(kept(competencia)) > start // STEP - 1
    with count_queries() as first:
        rows(lister, f"/processos?{args}&page=1")
    with count_queries() as deep:
        assert rows(lister, f"/processos?{args}&page={middle}")[0] == everything[start:start + PER_PAGE]
    assert len(deep) == len(first)  # a page from an anchor costs what page 1 costs


def test_the_list_version_rises_when_a_row_enters_leaves_or_moves_and_not_on_a_status_move(listed):
    before = versions()
    assert set(before) == {"2026-04", "2026-05"}
    processo = db.session.scalar(select(Processo).where(Processo.competencia == "2026-05").limit(1))
    processo.status = S.AGUARDANDO_ENVIO_SAT
    db.session.commit()
    assert versions() == before  # a status move leaves the order alone
    processo.cliente_nome, processo.cliente_nome_busca = "Zeta", "zeta"
    db.session.commit()
    assert versions() == {"2026-04": before["2026-04"], "2026-05": before["2026-05"] + 1}
    processo.competencia = "2026-03"  # leaves May, enters March (a month without a version yet)
    db.session.commit()
    assert versions() == {"2026-03": 1, "2026-04": before["2026-04"], "2026-05": before["2026-05"] + 2}
    ProcessoFactory(competencia="2026-03")
    db.session.commit()
    assert versions()["2026-03"] == 2
    db.session.delete(processo)
    db.session.commit()
    assert versions() == {"2026-03": 3, "2026-04": before["2026-04"], "2026-05": before["2026-05"] + 2}


def test_anchors_read_before_the_list_changed_are_never_used(lister, listed, anchored, users):
    url = "/processos?competencia=2026-05&page={}"
    assert rows(lister, url.format(4))[0] == expected(competencia="2026-05")[9:12]
    stale = kept("2026-05")
    assert stale
    # A new cliente sorts first: every row moves one place; the anchors kept still name the old rows.
    ProcessoFactory(cliente=ClienteFactory(nome="Aaa", operadora=listed), competencia="2026-05")
    db.session.commit()
    everything = expected(competencia="2026-05")
    for p in (4, 3, 2):
        assert rows(lister, url.format(p))[0] == everything[(p - 1) * PER_PAGE:p * PER_PAGE], p
    assert kept("2026-05") != stale and [str(i) for i in kept("2026-05")] == everything[STEP - 1::STEP][:len(kept("2026-05"))]
    # A rename moves a row; a delete removes one (an anchor itself here).
    db.session.get(Processo, uuid.UUID(everything[0])).cliente_nome_busca = "zzz"
    db.session.commit()
    db.session.delete(db.session.get(Processo, kept("2026-05")[0]))
    db.session.commit()
    everything = expected(competencia="2026-05")
    for p in (4, 3, 2):
        assert rows(lister, url.format(p))[0] == everything[(p - 1) * PER_PAGE:p * PER_PAGE], p


def test_without_redis_or_with_garbage_kept_a_typed_page_is_still_right(lister, listed, anchored, app, monkeypatch):
    everything = expected(competencia="2026-05")
    redis.Redis.from_url(app.config["REDIS_URL"]).set(ancoras.KEY.format(scope="2026-05"), b"7:not-an-id")
    assert rows(lister, "/processos?competencia=2026-05&page=4")[0] == everything[9:12]
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    for p in (4, 3):
        assert rows(lister, f"/processos?competencia=2026-05&page={p}")[0] == everything[(p - 1) * PER_PAGE:p * PER_PAGE]
    with count_queries() as first:
        rows(lister, "/processos?competencia=2026-05&page=1")
    with count_queries() as deep:
        rows(lister, "/processos?competencia=2026-05&page=3")
    assert len(deep) == len(first)  # no anchors read that could not be kept


def test_recounting_drops_the_anchors(lister, listed, anchored):
    rows(lister, "/processos?competencia=2026-05&page=4")
    assert kept("2026-05")
    totais.recount()
    assert kept("2026-05") == []


@pytest.mark.parametrize("args,competencia", [("", None), ("competencia=2026-05", "2026-05")])
def test_api_pages_from_anchors_hold_the_offset_rows(api_headers, client, listed, anchored, args, competencia):
    everything, headers, per_page = expected(competencia=competencia), api_headers(), 2
    pages = -(-len(everything) // per_page)
    for p in (*range(pages, 0, -1), *range(1, pages + 1)):
        body = client.get(f"/api/v1/processos?{args}&per_page={per_page}&page={p}", headers=headers).get_json()
        assert [item["id"] for item in body["items"]] == everything[(p - 1) * per_page:p * per_page], p
    # a month's list is anchored; every month's is not (its seek would be an OR over the index)
    assert bool(kept("2026-05")) == bool(competencia)
