"""The clientes import report shows each bad row as the file had it, hints at the CNPJ Excel cut to 13
digits, and the background import's page shows the counts and bad lines found so far."""
import csv
import io

import pytest
from rq import SimpleWorker
from sqlalchemy import select, text

from apps.clientes import importacao as imports
from apps.clientes import importer
from apps.clientes.cnpj import check_digits
from apps.clientes.importacao import Importacao, ImportacaoErro, StatusImportacao
from apps.core.queues import get_queue, get_redis
from apps.core.types import db
from tests.factories import OperadoraFactory

HINT = "CNPJ com 13 dígitos: o Excel pode ter removido o zero à esquerda; formate a coluna como texto."


def cnpj_for(n: int) -> str:
    base = f"{n:08d}0001"
    return base + check_digits(base)


LEADING_ZERO = cnpj_for(4_321)  # "00004321…": Excel shows it as a number and drops the first zero


def make_csv(rows, delimiter=";") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["nome", "cnpj", "operadora"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


ROWS = [
    ["Padaria Aurora", cnpj_for(1), "VIVO"],
    ["Cortado pelo Excel", LEADING_ZERO[1:], "VIVO"],
    ["Oficina; Centro", "123", "XPTO"],
]


@pytest.fixture
def vivo():
    return OperadoraFactory(codigo="VIVO")


def upload(client, data: bytes) -> str:
    response = client.post("/clientes/importar", data={"arquivo": (io.BytesIO(data), "clientes.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def excel_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_a_13_digit_cnpj_gets_the_excel_hint(app, vivo):
    checker = importer.RowChecker({"nome": 0, "cnpj": 1, "operadora": 2}, 3)
    _, reasons = checker.parse(2, ["Cortado", LEADING_ZERO[1:], "VIVO"])
    assert reasons == [f"CNPJ inválido “{LEADING_ZERO[1:]}”. {HINT}"]
    _, reasons = checker.parse(3, ["Curto", "1234", "VIVO"])
    assert HINT not in " ".join(reasons) and "Confira os 14 caracteres" in reasons[0]


def test_preview_and_its_report_show_the_original_row(vivo, operador_client):
    preview_url = upload(operador_client, make_csv(ROWS))
    html = operador_client.get(preview_url).get_data(as_text=True)
    assert "<th>Linha original</th>" in html
    assert f"Cortado pelo Excel;{LEADING_ZERO[1:]};VIVO" in html and HINT in html
    assert "&#34;Oficina; Centro&#34;;123;XPTO" in html  # quoted as the file had it, since it holds the separator
    report = excel_rows(operador_client.get(preview_url + "/relatorio.csv").data)
    assert report[0] == ["Linha", "Motivo", "Linha original"]
    assert report[1][0] == "3" and HINT in report[1][1] and report[1][2] == f"Cortado pelo Excel;{LEADING_ZERO[1:]};VIVO"
    assert report[2][2] == '"Oficina; Centro";123;XPTO'


def test_the_import_keeps_the_original_row_in_its_report(vivo, operador_client):
    preview_url = upload(operador_client, make_csv(ROWS, delimiter=","))
    result_url = operador_client.post(preview_url + "/confirmar").headers["Location"]
    importacao = db.session.scalar(select(Importacao))
    assert (importacao.status, importacao.importadas, importacao.invalidas) == ("CONCLUIDA", 1, 2)
    assert imports.linhas_com_erro(importacao)[0][2] == f"Cortado pelo Excel,{LEADING_ZERO[1:]},VIVO"
    assert [tuple(row) for row in imports.erros(importacao)][0][0] == 3  # (linha, motivo) as before
    page = operador_client.get(result_url).get_data(as_text=True)
    assert f"Cortado pelo Excel,{LEADING_ZERO[1:]},VIVO" in page and HINT in page
    report = excel_rows(operador_client.get(result_url + "/relatorio.csv").data)
    assert report[0] == ["Linha", "Motivo", "Linha original"] and report[2][2] == 'Oficina; Centro,123,XPTO'


def test_a_formula_in_the_original_row_stays_text_in_the_report(vivo, operador_client):
    preview_url = upload(operador_client, make_csv([["=HYPERLINK(1)", "123", "VIVO"]]))
    report = excel_rows(operador_client.get(preview_url + "/relatorio.csv").data)
    assert report[1][2] == "'=HYPERLINK(1);123;VIVO"


def test_a_very_long_bad_row_is_cut_in_the_report(app, vivo):
    checker = importer.RowChecker({"nome": 0, "cnpj": 1, "operadora": 2}, 3)
    assert len(checker.original(["x" * 5000, "1", "VIVO"])) == importer.MAX_ORIGINAL + 1


def test_background_import_records_the_counts_and_bad_lines_as_it_goes(app, vivo, operador_client, monkeypatch):
    monkeypatch.setitem(app.config, "CLIENTES_IMPORT_BACKGROUND_ROWS", 5)
    monkeypatch.setattr(importer, "BATCH", 4)
    rows = [[f"Cliente {i}", cnpj_for(100 + i), "VIVO"] for i in range(10)]
    rows.insert(2, ["Cortado", LEADING_ZERO[1:], "VIVO"])  # in the first batch
    preview_url = upload(operador_client, make_csv(rows))
    result_url = operador_client.post(preview_url + "/confirmar").headers["Location"]
    importacao_id = db.session.scalar(select(Importacao.id))
    seen = []
    original = imports._progress

    def watch(line, total):
        # What another connection (the page) reads before this batch commits: what earlier batches committed.
        with db.engine.connect() as conn:
            seen.append(tuple(conn.execute(text(
                "SELECT validas, invalidas, (SELECT count(*) FROM importacao_erros WHERE importacao_id = importacoes.id)"
                " FROM importacoes")).one()))
        return original(line, total)

    monkeypatch.setattr(imports, "_progress", watch)
    SimpleWorker([get_queue()], connection=get_redis()).work(burst=True, logging_level="WARNING")
    assert seen == [(0, 0, 0), (3, 1, 1), (7, 1, 1)]  # three batches of four lines; each commit visible at once
    db.session.expire_all()
    assert db.session.get(Importacao, importacao_id).status == StatusImportacao.CONCLUIDA
    assert operador_client.get(result_url).status_code == 200


def test_the_running_import_page_shows_the_counts_so_far(vivo, operador_client):
    importacao = Importacao(status=StatusImportacao.PROCESSANDO, progresso=64, total_linhas=9000,
                            validas=5200, invalidas=2, arquivo_nome="grande.csv")
    db.session.add(importacao)
    db.session.flush()
    db.session.add_all([ImportacaoErro(importacao_id=importacao.id, linha=7, motivo=f"CNPJ inválido. {HINT}",
                                       conteudo="Cortado;1234567000190;VIVO"),
                        ImportacaoErro(importacao_id=importacao.id, linha=40, motivo="Antigo", conteudo=None)])
    db.session.commit()
    html = operador_client.get(f"/clientes/importacoes/{importacao.id}").get_data(as_text=True)
    assert 'data-count="validas">5200<' in html and 'data-count="invalidas">2<' in html
    assert "Cortado;1234567000190;VIVO" in html and "(até agora)" in html
    assert '<meta http-equiv="refresh" content="5">' in html  # the page reloads itself with newer counts
    assert "Nenhuma linha com problema" not in html

    importacao.invalidas = 0
    db.session.execute(ImportacaoErro.__table__.delete())
    db.session.commit()
    html = operador_client.get(f"/clientes/importacoes/{importacao.id}").get_data(as_text=True)
    assert "Nenhuma linha com problema até agora." in html

    importacao.status = StatusImportacao.CONCLUIDA
    db.session.commit()
    html = operador_client.get(f"/clientes/importacoes/{importacao.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html and "Nenhuma linha com problema." in html
