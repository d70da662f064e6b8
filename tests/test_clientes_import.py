"""CSV import of clientes (preview, confirm, background job, API) and the month's CSV export."""
import csv
import io
import re
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select, update

from apps.auth.models import Role
from apps.clientes import importacao as importacao_mod
from apps.clientes import importer
from apps.clientes.cnpj import check_digits, format_cnpj
from apps.clientes.importacao import Importacao, ImportacaoErro
from apps.clientes.models import Cliente
from apps.core.audit import AuditLog
from apps.core.queues import get_queue, get_redis
from apps.core.types import db, utcnow
from apps.operadoras.models import Operadora
from apps.processos.models import Fatura, Processo

HEADER = ["Nome", " CNPJ ", "codigo", "Operadora", "ATIVO"]


def cnpj_for(n: int) -> str:
    base = f"{n:08d}0001"
    return base + check_digits(base)


@pytest.fixture
def ops():
    vivo, oi = Operadora(codigo="VIVO", nome="Vivo"), Operadora(codigo="OI", nome="Oi", ativo=False)
    db.session.add_all([vivo, oi])
    db.session.commit()
    db.session.add(Cliente(nome="Já Existe", cnpj=cnpj_for(99), operadora_id=vivo.id))
    db.session.commit()
    return {"VIVO": vivo.id, "OI": oi.id}


# Every kind of bad row; the valid ones are lines 2, 3 and 13 (line 12 is blank, skipped).
ROWS = [
    ["Padaria Aurora", format_cnpj(cnpj_for(1)), "C-1", "VIVO", "sim"],
    ["São João Açougue", cnpj_for(2), "", "vivo", ""],
    ["CNPJ ruim", "11.111.111/1111-11", "", "VIVO", "sim"],
    ["Operadora desconhecida", cnpj_for(3), "", "XPTO", "1"],
    ["Operadora inativa", cnpj_for(4), "", "OI", "true"],
    ["Repetida", cnpj_for(1), "", "VIVO", "sim"],
    ["No banco", cnpj_for(99), "", "VIVO", "sim"],
    ["", cnpj_for(5), "", "VIVO", "sim"],
    ["Poucas colunas", cnpj_for(6)],
    ["Ativo estranho", cnpj_for(7), "", "VIVO", "talvez"],
    [],
    ["Inativa por escolha", cnpj_for(8), "X9", "VIVO", "não"],
]
EXPECTED_ERRORS = {
    4: "CNPJ inválido", 5: "Operadora “XPTO” não cadastrada", 6: "Operadora OI está inativa",
    7: "CNPJ repetido no arquivo (primeira ocorrência na linha 2)", 8: "já cadastrado",
    9: "Campo obrigatório vazio: nome", 10: "Número de colunas errado: 2 em vez de 5",
    11: "Valor inválido em ativo",
}
VALID = {cnpj_for(1): ("Padaria Aurora", "C-1", True), cnpj_for(2): ("São João Açougue", None, True),
         cnpj_for(8): ("Inativa por escolha", "X9", False)}


def make_csv(rows=ROWS, encoding="utf-8", delimiter=";", header=HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def valid_rows(n: int, start: int = 1000):
    return [[f"Cliente {i}", cnpj_for(i), "", "VIVO", ""] for i in range(start, start + n)]


def upload(client, data: bytes, name="clientes.csv"):
    return client.post("/clientes/importar", data={"arquivo": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def imported():
    return {c.cnpj: (c.nome, c.codigo, c.ativo) for c in db.session.scalars(select(Cliente)) if c.cnpj != cnpj_for(99)}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def stored_files(app) -> list:
    return list((Path(app.config["INSTANCE_DIR"]) / "imports").glob("*.csv"))


def run_worker():
    SimpleWorker([get_queue()], connection=get_redis()).work(burst=True, logging_level="WARNING")
    db.session.expire_all()


def read_excel_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert "\r\n" in text and not re.search(r"[^\r]\n", text)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


# --- reading and checking -------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
@pytest.mark.parametrize("delimiter", [";", ","])
def test_preview_reports_every_bad_row_in_each_encoding_and_separator(app, ops, tmp_path, encoding, delimiter):
    path = tmp_path / "c.csv"
    path.write_bytes(make_csv(encoding=encoding, delimiter=delimiter))
    result = importer.preview(path)
    assert (result.validas, result.invalidas, result.delimiter) == (3, 8, delimiter)
    assert result.encoding.startswith("UTF-8" if encoding.startswith("utf") else "Latin-1")
    errors = dict(result.erros)
    assert sorted(errors) == sorted(EXPECTED_ERRORS)
    for line, reason in EXPECTED_ERRORS.items():
        assert reason in errors[line], (line, errors[line])
    assert count(Cliente) == 1 and count(Importacao) == 0


def test_missing_columns_are_named(app, ops, tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(make_csv(header=["nome", "codigo"], rows=[["A", "1"]]))
    with pytest.raises(importer.ImportFileError) as exc:
        importer.check_header(path)
    assert exc.value.status == 422 and "cnpj, operadora" in str(exc.value)


# --- pages ------------------------------------------------------------------------------

def test_preview_writes_nothing_and_confirm_imports_exactly_the_valid_rows(app, ops, operador_client):
    response = upload(operador_client, make_csv(encoding="latin-1"))
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    html = operador_client.get(preview_url).get_data(as_text=True)
    assert 'data-count="validas">3<' in html and 'data-count="invalidas">8<' in html
    assert "primeira ocorrência na linha 2" in html and "Importar 3 cliente(s)" in html
    assert (count(Cliente), count(Importacao), len(stored_files(app))) == (1, 0, 1)

    report = operador_client.get(preview_url + "/relatorio.csv")
    rows = read_excel_csv(report.data)
    assert rows[0] == ["Linha", "Motivo", "Linha original"] and [int(r[0]) for r in rows[1:]] == sorted(EXPECTED_ERRORS)

    done = operador_client.post(preview_url + "/confirmar")
    assert done.status_code == 302
    assert imported() == VALID
    importacao = db.session.scalar(select(Importacao))
    assert (importacao.status, importacao.progresso) == ("CONCLUIDA", 100)
    assert (importacao.importadas, importacao.invalidas) == (3, 8)
    assert count(ImportacaoErro) == 8 and stored_files(app) == []
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "clientes_importados"))
    assert "importadas=3" in audit.detail and audit.username == "operador"
    page = operador_client.get(done.headers["Location"]).get_data(as_text=True)
    assert "3 cliente(s) importado(s)" in page and "Concluída" in page and "data-importacao-poll" not in page
    assert operador_client.post(preview_url + "/confirmar").status_code == 404  # the file was used once


def test_confirm_checks_again_against_the_database(app, ops, operador_client):
    preview_url = upload(operador_client, make_csv()).headers["Location"]
    db.session.add(Cliente(nome="Chegou antes", cnpj=cnpj_for(2), operadora_id=ops["VIVO"]))
    db.session.commit()
    operador_client.post(preview_url + "/confirmar")
    importacao = db.session.scalar(select(Importacao))
    assert (importacao.importadas, importacao.invalidas) == (2, 9)
    assert any(linha == 3 and "já cadastrado" in motivo for linha, motivo in importacao_mod.erros(importacao))


@pytest.mark.parametrize("change", ["cliente", "operadora"])
def test_a_change_between_the_passes_writes_nothing(app, ops, operador_client, monkeypatch, change):
    original = importacao_mod._check_pass

    def check_then_someone_else_changes(importacao, path):
        lines = original(importacao, path)
        if change == "cliente":
            db.session.add(Cliente(nome="Concorrente", cnpj=cnpj_for(1), operadora_id=ops["VIVO"]))
        else:
            db.session.get(Operadora, ops["VIVO"]).ativo = False
        db.session.commit()
        return lines

    monkeypatch.setattr(importacao_mod, "_check_pass", check_then_someone_else_changes)
    preview_url = upload(operador_client, make_csv()).headers["Location"]
    page = operador_client.post(preview_url + "/confirmar", follow_redirects=True).get_data(as_text=True)
    assert "mudaram durante a importação" in page
    assert set(imported()) == ({cnpj_for(1)} if change == "cliente" else set())  # none of the file's rows
    assert db.session.scalar(select(Importacao.status)) == "FALHOU" and stored_files(app) == []


@pytest.mark.parametrize("header, data, message", [
    (["nome", "codigo"], None, "Colunas obrigatórias ausentes no cabeçalho: cnpj, operadora"),
    (None, b"PK\x03\x04\x00\x00binary", "não é um CSV de texto"),
])
def test_bad_files_are_refused_with_a_clear_message(app, ops, operador_client, header, data, message):
    response = upload(operador_client, data or make_csv(header=header, rows=[["A", "1"]]))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True) and stored_files(app) == []


def test_visualizador_cannot_import(client, users, login):
    login(users[Role.VISUALIZADOR])
    assert client.get("/clientes/importar").status_code == 403


def test_large_file_runs_on_rq_and_reports_progress(app, ops, operador_client, monkeypatch):
    monkeypatch.setitem(app.config, "CLIENTES_IMPORT_BACKGROUND_ROWS", 5)
    monkeypatch.setattr(importer, "BATCH", 4)
    seen = []
    original = importacao_mod._progress
    monkeypatch.setattr(importacao_mod, "_progress", lambda line, total: seen.append(original(line, total)) or seen[-1])
    data = make_csv(rows=valid_rows(10) + [["Ruim", "123", "", "VIVO", ""]])
    preview_url = upload(operador_client, data).headers["Location"]
    assert "segundo plano" in operador_client.get(preview_url).get_data(as_text=True)
    result_url = operador_client.post(preview_url + "/confirmar").headers["Location"]
    page = operador_client.get(result_url).get_data(as_text=True)
    assert "data-importacao-poll" in page and "js/importar.js" in page and "<script>" not in page
    assert operador_client.get(result_url + ".json").get_json()["status"] == "PROCESSANDO"
    assert count(Cliente) == 1

    run_worker()
    state = operador_client.get(result_url + ".json").get_json()
    assert (state["status"], state["progresso"], state["importadas"], state["invalidas"]) == ("CONCLUIDA", 100, 10, 1)
    assert count(Cliente) == 11 and len(seen) == 3 and seen == sorted(seen) and max(seen) < 80
    report = read_excel_csv(operador_client.get(result_url + "/relatorio.csv").data)
    assert report[1][0] == "12" and "CNPJ inválido" in report[1][1]


# --- API --------------------------------------------------------------------------------

def api_post(client, headers, data: bytes | None, name="clientes.csv", query=""):
    files = {"arquivo": (io.BytesIO(data), name)} if data is not None else {}
    return client.post(f"/api/v1/clientes/importar{query}", data=files, headers=headers,
                       content_type="multipart/form-data", no_csrf=True)


def test_api_dry_run_import_and_errors(app, ops, client, api_headers):
    headers = api_headers(Role.OPERADOR)
    assert api_post(client, headers, None).status_code == 400
    assert api_post(client, headers, b"x", name="planilha.xlsx").get_json()["fields"] == {"arquivo": "CSV esperado"}
    missing = api_post(client, headers, make_csv(header=["nome", "cnpj"], rows=[]))
    assert missing.status_code == 422 and set(missing.get_json()["fields"]) == {"operadora"}

    dry = api_post(client, headers, make_csv(), query="?dry_run=true")
    body = dry.get_json()
    assert dry.status_code == 200 and (body["validas"], body["invalidas"], body["importadas"]) == (3, 8, 0)
    assert [e["linha"] for e in body["erros"]] == sorted(EXPECTED_ERRORS) and count(Cliente) == 1

    done = api_post(client, headers, make_csv(delimiter=","))
    assert done.status_code == 200 and done.get_json()["importadas"] == 3 and imported() == VALID
    assert api_post(client, api_headers(Role.VISUALIZADOR), make_csv()).status_code == 403
    assert stored_files(app) == []


def test_api_background_import_answers_202_then_reports(app, ops, client, api_headers, monkeypatch):
    monkeypatch.setitem(app.config, "CLIENTES_IMPORT_BACKGROUND_ROWS", 5)
    headers = api_headers(Role.OPERADOR)
    response = api_post(client, headers, make_csv(rows=valid_rows(8) + ROWS))
    assert response.status_code == 202
    url = f"/api/v1/clientes/importacoes/{response.get_json()['importacao_id']}"
    assert response.headers["Location"].endswith(url)
    assert client.get(url, headers=headers).get_json()["status"] == "PROCESSANDO"
    run_worker()
    body = client.get(url, headers=headers).get_json()
    assert (body["status"], body["progresso"], body["importadas"], body["invalidas"]) == ("CONCLUIDA", 100, 11, 8)
    assert [e["linha"] for e in body["erros"]] == [line + 8 for line in sorted(EXPECTED_ERRORS)]
    assert client.get("/api/v1/clientes/importacoes/nao-existe", headers=headers).status_code == 404


def _age(importacao_id, seconds=120):
    from datetime import timedelta

    db.session.execute(update(Importacao).where(Importacao.id == uuid.UUID(importacao_id))
                       .values(created_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def test_an_import_whose_worker_died_ends_failed_saying_nothing_was_written(app, ops, client, api_headers, monkeypatch):
    """The worker is SIGKILLed mid-import: RQ leaves the job "started" until its heartbeat runs out; the
    reconciler (rq cron, every minute) then fails the import with a clear message instead of leaving it
    PROCESSANDO forever. A queued import, or one just created, is left alone."""
    monkeypatch.setitem(app.config, "CLIENTES_IMPORT_BACKGROUND_ROWS", 5)
    headers = api_headers(Role.OPERADOR)
    queued_id = api_post(client, headers, make_csv(rows=valid_rows(8))).get_json()["importacao_id"]
    killed_id = api_post(client, headers, make_csv(rows=valid_rows(9))).get_json()["importacao_id"]
    assert importacao_mod.reconcile() == 0  # both just created: maybe between commit and enqueue
    _age(queued_id), _age(killed_id)
    assert importacao_mod.reconcile() == 0  # both still queued

    # What a worker killed while running the job leaves behind: the job out of the queue, marked started,
    # in the started registry under an execution whose heartbeat has already expired.
    redis, queue = get_redis(), get_queue()
    job = Job.fetch(f"importacao-{killed_id}", connection=redis)
    queue.remove(job)
    job.set_status(JobStatus.STARTED)
    redis.zadd(StartedJobRegistry(queue.name, connection=redis).key, {f"{job.id}:execucao-morta": time.time() - 5})

    assert importacao_mod.reconcile() == 1
    url = f"/api/v1/clientes/importacoes/{killed_id}"
    body = client.get(url, headers=headers).get_json()
    assert (body["status"], body["importadas"]) == ("FALHOU", 0)
    assert "interrompida" in body["mensagem"] and "Nenhum cliente foi gravado" in body["mensagem"]
    assert count(Cliente) == 1 and len(stored_files(app)) == 1  # the queued one keeps its file
    assert client.get(f"/api/v1/clientes/importacoes/{queued_id}", headers=headers).get_json()["status"] == "PROCESSANDO"

    redis.delete(f"rq:job:importacao-{queued_id}")  # a job that expired: gone without a trace
    assert importacao_mod.reconcile() == 1
    assert client.get(f"/api/v1/clientes/importacoes/{queued_id}", headers=headers).get_json()["status"] == "FALHOU"
    assert importacao_mod.reconcile() == 0 and stored_files(app) == []


def test_api_background_import_with_redis_down_changes_nothing(app, ops, client, api_headers, monkeypatch):
    monkeypatch.setitem(app.config, "CLIENTES_IMPORT_BACKGROUND_ROWS", 5)
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = api_post(client, api_headers(Role.OPERADOR), make_csv(rows=valid_rows(8)))
    assert response.status_code == 503 and "nada foi alterado" in response.get_json()["error"]
    assert (count(Importacao), count(Cliente), stored_files(app)) == (0, 1, [])


# --- export -----------------------------------------------------------------------------

def test_export_opens_in_excel_and_neutralises_formulas(app, ops, client, users, login):
    login(users[Role.VISUALIZADOR])
    evil = Cliente(nome="=HYPERLINK(\"http://x\")", cnpj=cnpj_for(10), operadora_id=ops["VIVO"])
    calm = Cliente(nome="Banca Zeca", cnpj=cnpj_for(11), operadora_id=ops["VIVO"])
    db.session.add_all([evil, calm])
    db.session.flush()
    com_faturas = Processo(cliente_id=evil.id, competencia="2026-01", protocolo_sat="@SAT-1")
    db.session.add_all([com_faturas, Processo(cliente_id=calm.id, competencia="2026-01"),
                        Processo(cliente_id=calm.id, competencia="2026-02")])
    db.session.flush()
    for numero, valor, rejeitada in (("F-1", Decimal("1234.56"), False), ("-F2", Decimal("10.00"), True)):
        db.session.add(Fatura(processo_id=com_faturas.id, numero=numero, valor=valor, emissao=date(2026, 2, 1),
                              vencimento=date(2026, 2, 10), arquivo="x.pdf", sha256="0" * 64, tamanho=1,
                              rejeitada=rejeitada))
    db.session.commit()

    response = client.get("/processos/exportar.csv?competencia=2026-01")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = read_excel_csv(response.data)
    assert rows[0][:3] == ["Competência", "Cliente", "CNPJ"] and len(rows) == 4
    first, second, sem_fatura = rows[1:]
    assert first == ["2026-01", "'=HYPERLINK(\"http://x\")", format_cnpj(cnpj_for(10)), "VIVO",
                     "Aguardando download", "F-1", "1234,56", "01/02/2026", "10/02/2026", "Não", "'@SAT-1"]
    assert second[5] == "'-F2" and second[9] == "Sim"
    assert sem_fatura[1] == "Banca Zeca" and sem_fatura[5:10] == ["", "", "", "", ""]
    assert client.get("/processos/exportar.csv?competencia=2026-13").status_code == 400
