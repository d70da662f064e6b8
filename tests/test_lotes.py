"""Lotes (mass runs by CSV): every bad-row reason, encodings, the API's shapes, the pages, double confirm,
progress counts from SQL, the CSV report, access, and memory for a large file."""
import csv
import io
import threading
import tracemalloc

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from apps.auth.models import Role
from apps.clientes.cnpj import format_cnpj
from apps.core.audit import AuditLog
from apps.core.queues import get_queue, get_redis
from apps.core.types import db, parse_uuid
from apps.lotes import arquivo, previa, services
from apps.lotes.models import Lote, LoteLinha
from apps.processos import execucoes as lifecycle
from apps.processos.models import Execucao, Processo, StatusExecucao, StatusProcesso
from tests.conftest import count_queries
from tests.factories import ClienteFactory, ExecucaoFactory, OperadoraFactory, ProcessoFactory, valid_cnpj

HEADER = ("CNPJ", "Competencia", "Acao")
PAST, OLDER = "2026-05", "2026-04"


def make_csv(rows, header=HEADER, encoding="utf-8-sig", delimiter=";") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def api_post(client, headers, data: bytes, query="", name="lote.csv"):
    return client.post(f"/api/v1/lotes{query}", data={"arquivo": (io.BytesIO(data), name)}, headers=headers,
                       content_type="multipart/form-data", no_csrf=True)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world(app):
    """VIVO (robot) and MANUAL (no robot) clientes, and processos in each status."""
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=50)
    manual = OperadoraFactory(codigo="MANUAL", possui_rpa=False)
    c = {n: ClienteFactory(cnpj=valid_cnpj(n, 11_000_000), operadora=vivo, nome=f"Cliente {n}") for n in range(1, 9)}
    c["inativo"] = ClienteFactory(cnpj=valid_cnpj(90, 11_000_000), operadora=vivo, ativo=False, nome="Inativo Ltda")
    c["manual"] = ClienteFactory(cnpj=valid_cnpj(91, 11_000_000), operadora=manual, nome="Sem Robô")
    fechada = OperadoraFactory(codigo="FECHADA", ativo=False)
    c["op_inativa"] = ClienteFactory(cnpj=valid_cnpj(92, 11_000_000), operadora=fechada, nome="Operadora Fechada")
    p = {
        "download": ProcessoFactory(cliente=c[1], competencia=PAST),
        "sat": ProcessoFactory(cliente=c[2], competencia=PAST, status=StatusProcesso.AGUARDANDO_ENVIO_SAT),
        "aprovacao": ProcessoFactory(cliente=c[3], competencia=PAST, status=StatusProcesso.AGUARDANDO_APROVACAO),
        "feito": ProcessoFactory(cliente=c[4], competencia=PAST, status=StatusProcesso.UPLOAD_REALIZADO),
        "ativo": ProcessoFactory(cliente=c[5], competencia=PAST),
    }
    ExecucaoFactory(processo=p["ativo"], status=StatusExecucao.EXECUTANDO)
    return {"c": {k: v.cnpj for k, v in c.items()}, "p": {k: v.id for k, v in p.items()}}


def good_rows(world):
    """Four rows that run: an existing download, a SAT upload, and two downloads whose processo is created."""
    c = world["c"]
    return [[format_cnpj(c[1]), PAST, "DOWNLOAD"], [c[2], PAST, "ENVIO_SAT"],
            [c[6], OLDER, "download"], [c[7], "05/2026", "DOWNLOAD"]]


def bad_rows(world):
    """(row, a piece of its reason); lines 2.. of the file in this order."""
    c = world["c"]
    return [
        ([valid_cnpj(500, 11_000_000), PAST, "DOWNLOAD"], "não cadastrado"),
        (["11.111.111/1111-11", PAST, "DOWNLOAD"], "CNPJ inválido"),
        ([c[8], "2026-13", "DOWNLOAD"], "Competência inválida"),
        ([c[8], "2099-01", "DOWNLOAD"], "Competência futura 2099-01"),
        ([c[8], PAST, "BAIXAR"], "Ação inválida"),
        ([c[1], PAST, "ENVIO_SAT"], "precisa do processo em AGUARDANDO_ENVIO_SAT"),
        ([c[3], PAST, "DOWNLOAD"], "precisa do processo em AGUARDANDO_DOWNLOAD; o processo de 2026-05 está em "
                                   "AGUARDANDO_APROVACAO"),
        ([c[4], PAST, "ENVIO_SAT"], "está em UPLOAD_REALIZADO"),
        ([c[6], PAST, "ENVIO_SAT"], "Não há processo de 2026-05"),
        ([c[5], PAST, "DOWNLOAD"], "Já existe uma execução em andamento"),
        ([c["inativo"], PAST, "DOWNLOAD"], "Inativo Ltda"),
        ([c["manual"], PAST, "DOWNLOAD"], "não tem robô"),
        ([c["op_inativa"], PAST, "DOWNLOAD"], "Operadora FECHADA está inativa"),
        ([c[2], PAST, "ENVIO_SAT"], "Linha repetida"),  # line 14 repeats a good row placed first below
        ([c[8], PAST], "Número de colunas errado"),
        (["", PAST, "DOWNLOAD"], "Campo obrigatório vazio: cnpj"),
    ]


def test_dry_run_reports_every_reason_with_file_line_numbers(world, client, op):
    rows = bad_rows(world)
    data = make_csv([[world["c"][2], PAST, "ENVIO_SAT"]] + [row for row, _ in rows])
    response = api_post(client, op, data, "?dry_run=true")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"linhas", "validas", "erros"}
    assert (body["linhas"], body["validas"]) == (len(rows) + 1, 1)
    assert [e["linha"] for e in body["erros"]] == list(range(3, len(rows) + 3))  # header = 1, good row = 2
    for erro, (_, reason) in zip(body["erros"], rows, strict=True):
        assert set(erro) == {"linha", "motivo"}
        assert reason in erro["motivo"], erro
    assert "linha 2" in body["erros"][13]["motivo"]  # the repeated row names the first one
    assert count(Lote) == 0 and count(Execucao) == 1 and count(Processo) == 5


def test_dry_run_of_a_clean_file_and_its_exact_shape(world, client, op):
    body = api_post(client, op, make_csv(good_rows(world)), "?dry_run=1").get_json()
    assert body == {"linhas": 4, "validas": 4, "erros": []}
    assert count(Lote) == 0 and count(Execucao) == 1


@pytest.mark.parametrize("encoding,delimiter,header,order", [
    ("cp1252", ";", ("CNPJ", "Competência", "Ação"), (0, 1, 2)),
    ("utf-8-sig", ";", ("cnpj", "COMPETENCIA", " acao "), (0, 1, 2)),
    ("utf-8", ",", ("Acao", "CNPJ", "Competencia"), (2, 0, 1)),
])
def test_encodings_and_separators_of_excel(world, client, op, encoding, delimiter, header, order):
    rows = good_rows(world) + [[valid_cnpj(500, 11_000_000), PAST, "DOWNLOAD"]]
    data = make_csv([[row[i] for i in order] for row in rows], header, encoding, delimiter)
    body = api_post(client, op, data, "?dry_run=true").get_json()
    assert (body["linhas"], body["validas"]) == (5, 4), body
    assert [e["linha"] for e in body["erros"]] == [6] and "não cadastrado" in body["erros"][0]["motivo"]


def test_a_bad_header_is_a_clear_422(world, client, op):
    response = api_post(client, op, make_csv([[world["c"][1], PAST]], header=("CNPJ", "Mes")))
    assert response.status_code == 422
    assert "competencia, acao" in response.get_json()["error"]


def test_bad_rows_without_dry_run_import_nothing_then_the_fixed_file_runs_each_once(world, client, op, enqueued):
    rows = good_rows(world) + [[world["c"][8], "2099-01", "DOWNLOAD"]]
    response = api_post(client, op, make_csv(rows))
    assert response.status_code == 422
    body = response.get_json()
    assert body["erros"] == [{"linha": 6, "motivo": body["erros"][0]["motivo"]}] and "futura" in body["error"] + \
        body["erros"][0]["motivo"]
    assert (body["linhas"], body["validas"]) == (5, 4) and "error" in body
    assert count(Lote) == 0 and count(Execucao) == 1 and count(Processo) == 5 and count(LoteLinha) == 0

    response = api_post(client, op, make_csv(good_rows(world)))
    assert response.status_code == 202, response.get_json()
    assert set(response.get_json()) == {"lote_id"}
    lote_id = response.get_json()["lote_id"]
    assert response.headers["Location"].endswith(f"/api/v1/lotes/{lote_id}")
    assert count(Processo) == 7  # the two missing downloads of past competências were created
    runs = db.session.scalars(select(Execucao).where(Execucao.status == StatusExecucao.PENDENTE)).all()
    assert len(runs) == 4 and len({r.processo_id for r in runs}) == 4
    assert {r.tipo for r in runs} == {"DOWNLOAD", "ENVIO_SAT"}
    assert sorted(enqueued) == sorted(r.id for r in runs)  # admitted through the throttle, each once
    state = client.get(f"/api/v1/lotes/{lote_id}", headers=op).get_json()
    assert state == {"status": "EM_EXECUCAO", "total": 4, "concluidas": 0, "falhas": 0, "aguardando": 4,
                     "erros": [], "mensagem": None}
    assert {a.action for a in db.session.scalars(select(AuditLog))} >= {"lote_criado", "lote_importado"}

    # The same file again: its rows now have active runs, so it is refused and queues nothing.
    again = api_post(client, op, make_csv(good_rows(world)))
    assert again.status_code == 422 and all("em andamento" in e["motivo"] for e in again.get_json()["erros"])
    assert count(Execucao) == 5


def test_progress_counts_come_from_the_runs(world, client, op, enqueued):
    lote_id = api_post(client, op, make_csv(good_rows(world))).get_json()["lote_id"]
    runs = db.session.scalars(select(Execucao).join(LoteLinha, LoteLinha.execucao_id == Execucao.id)
                              .order_by(LoteLinha.linha)).all()
    lifecycle.falhar(runs[0], "O portal da operadora recusou a senha.")
    lifecycle._conditional(runs[1], StatusExecucao.ACTIVE, status=StatusExecucao.CONCLUIDO)
    db.session.commit()
    state = client.get(f"/api/v1/lotes/{lote_id}", headers=op).get_json()
    assert (state["status"], state["concluidas"], state["falhas"], state["aguardando"]) == ("EM_EXECUCAO", 1, 1, 2)
    assert state["erros"] == [{"linha": 2, "motivo": "O portal da operadora recusou a senha."}]
    for run in runs[2:]:
        lifecycle._conditional(run, StatusExecucao.ACTIVE, status=StatusExecucao.CONCLUIDO)
    db.session.commit()
    state = client.get(f"/api/v1/lotes/{lote_id}", headers=op).get_json()
    assert (state["status"], state["concluidas"], state["falhas"], state["aguardando"]) == ("CONCLUIDO", 3, 1, 0)
    listing = client.get("/api/v1/lotes", headers=op).get_json()
    assert (listing["total"], listing["items"][0]["id"], listing["items"][0]["status"]) == (1, lote_id, "CONCLUIDO")
    assert (listing["items"][0]["concluidas"], listing["items"][0]["falhas"]) == (3, 1)


def test_a_line_whose_processo_changed_after_checking_gets_no_run(world, app, client, op, enqueued, monkeypatch):
    """Between the check and the insert someone approved... here: a run started by hand on one processo."""
    original = services._queue_runs

    def race(lote, in_chunk):
        ExecucaoFactory(processo=db.session.get(Processo, world["p"]["download"]), status=StatusExecucao.PENDENTE,
                        data_inicio=None)
        return original(lote, in_chunk)

    monkeypatch.setattr(services, "_queue_runs", race)
    lote_id = api_post(client, op, make_csv(good_rows(world))).get_json()["lote_id"]
    state = client.get(f"/api/v1/lotes/{lote_id}", headers=op).get_json()
    assert (state["total"], state["falhas"], state["aguardando"]) == (4, 1, 3)
    assert state["erros"][0]["linha"] == 2 and "Não executada" in state["erros"][0]["motivo"]
    assert db.session.scalar(select(func.count()).where(Execucao.processo_id == world["p"]["download"])) == 1


def test_with_redis_down_a_lote_changes_nothing(world, app, client, op, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = api_post(client, op, make_csv(good_rows(world)))
    assert response.status_code == 503 and "nada foi alterado" in response.get_json()["error"]
    assert (count(Lote), count(Execucao), count(Processo)) == (0, 1, 5)
    assert list(arquivo.lotes_dir().glob("*.csv")) == []


# --- pages --------------------------------------------------------------------------------------

def upload(client, data, name="lote.csv"):
    return client.post("/lotes/novo", data={"arquivo": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_preview_with_bad_rows_says_fix_the_file_and_offers_no_confirm(world, operador_client):
    rows = good_rows(world) + [[valid_cnpj(600 + n, 11_000_000), PAST, "DOWNLOAD"] for n in range(60)]
    response = upload(operador_client, make_csv(rows))
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    page = operador_client.get(preview_url).get_data(as_text=True)
    assert "O arquivo precisa ser corrigido" in page and "confirmar" not in page
    assert 'data-count="invalidas">60<' in page and "Página 1 de 2" in page and ">6</td>" in page
    with count_queries() as statements:  # checked once: the next pages read what the first check kept
        second = operador_client.get(preview_url + "?page=2").get_data(as_text=True)
    assert not [sql for sql in statements if "FROM clientes" in sql]
    assert ">64</td>" in second and ">6</td>" not in second
    erros = operador_client.get(preview_url + "/erros.csv")
    assert erros.data.startswith("\ufeffLinha;Motivo".encode()) and erros.data.count(b"\r\n") == 61
    # A forged confirm of that preview queues nothing: the lote fails saying so.
    result = operador_client.post(preview_url + "/confirmar")
    lote = db.session.scalars(select(Lote)).one()
    assert result.headers["Location"].endswith(f"/lotes/{lote.id}")
    assert lote.status == "FALHOU" and "60 linha(s)" in lote.mensagem and count(Execucao) == 1


def test_confirm_twice_queues_each_run_once_and_the_page_reports(world, operador_client, enqueued):
    preview_url = upload(operador_client, make_csv(good_rows(world))).headers["Location"]
    page = operador_client.get(preview_url).get_data(as_text=True)
    assert "Confirmar e executar 4 linha(s)" in page
    first = operador_client.post(preview_url + "/confirmar")
    second = operador_client.post(preview_url + "/confirmar")
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert count(Lote) == 1 and count(Execucao) == 5 and len(enqueued) == 4
    lote = db.session.scalars(select(Lote)).one()
    # A second tab's confirm (another session-less path: the service itself) returns the same lote.
    again, created = services.start(lote.chave, "x.csv", by=None)
    assert again.id == lote.id and not created and count(Execucao) == 5

    detail = operador_client.get(first.headers["Location"]).get_data(as_text=True)
    assert "data-lote-poll" in detail and "js/lotes.js" in detail and "Baixar relatório CSV" in detail
    assert "<script>" not in detail
    state = operador_client.get(f"/lotes/{lote.id}.json").get_json()
    assert (state["status"], state["total"], state["aguardando"]) == ("EM_EXECUCAO", 4, 4)
    listing = operador_client.get("/lotes").get_data(as_text=True)
    assert "lote.csv" in listing and "Em execução" in listing

    report = operador_client.get(f"/lotes/{lote.id}/relatorio.csv")
    lines = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["Linha", "CNPJ", "Competência", "Ação", "Processo", "Situação", "Mensagem"]
    assert [row[0] for row in lines[1:]] == ["2", "3", "4", "5"]
    assert lines[1][1] == format_cnpj(world["c"][1]) and lines[1][4] == str(world["p"]["download"])
    assert lines[4][2] == "2026-05" and lines[3][2] == OLDER and all(row[5] == "Pendente" for row in lines[1:])


def test_upload_page_explains_the_format_and_offers_a_sample(world, operador_client):
    page = operador_client.get("/lotes/novo").get_data(as_text=True)
    assert "CNPJ;Competencia;Acao" in page and "/lotes/modelo.csv" in page
    sample = operador_client.get("/lotes/modelo.csv")
    assert sample.data.startswith("\ufeffCNPJ;Competencia;Acao\r\n".encode())
    bad = upload(operador_client, b"\x00\x01binary", name="x.csv")
    assert bad.status_code == 422 and "não é um CSV" in bad.get_data(as_text=True)


def test_viewer_sees_lotes_but_cannot_create_one(world, client, users, login, viewer):
    login(users[Role.VISUALIZADOR])
    assert client.get("/lotes").status_code == 200
    assert client.get("/lotes/novo").status_code == 403
    assert api_post(client, viewer, make_csv(good_rows(world))).status_code == 403
    assert count(Lote) == 0


def test_a_large_lote_runs_on_rq_in_chunks(world, app, operador_client, enqueued, monkeypatch):
    monkeypatch.setitem(app.config, "LOTES_BACKGROUND_ROWS", 2)
    monkeypatch.setitem(app.config, "LOTES_CHUNK_ROWS", 3)
    chunks = []
    original = services._queue_runs
    monkeypatch.setattr(services, "_queue_runs", lambda lote, in_chunk: chunks.append(1) or original(lote, in_chunk))
    preview_url = upload(operador_client, make_csv(good_rows(world))).headers["Location"]
    assert "segundo plano" in operador_client.get(preview_url).get_data(as_text=True)
    location = operador_client.post(preview_url + "/confirmar").headers["Location"]
    assert operador_client.get(location + ".json").get_json()["status"] == "PROCESSANDO"
    assert count(Execucao) == 1
    SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
    state = operador_client.get(location + ".json").get_json()
    assert (state["status"], state["aguardando"]) == ("EM_EXECUCAO", 4) and len(chunks) == 2
    assert count(Execucao) == 5 and len(enqueued) == 4


def test_the_reconciler_resumes_a_lote_whose_job_is_gone(world, app, client, op, enqueued, monkeypatch):
    monkeypatch.setitem(app.config, "LOTES_BACKGROUND_ROWS", 1)
    lote_id = api_post(client, op, make_csv(good_rows(world))).get_json()["lote_id"]
    get_redis().flushdb()  # the worker died and its job with it
    lote = db.session.get(Lote, parse_uuid(lote_id))
    lote.updated_at = lote.created_at.replace(year=2020)
    db.session.commit()
    assert services.reconcile() == 1
    SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
    assert client.get(f"/api/v1/lotes/{lote_id}", headers=op).get_json()["aguardando"] == 4


class Killed(BaseException):
    """A worker stopped mid-job (what RQ's warm shutdown or a signal looks like to the code in the job)."""


def test_a_lote_killed_mid_write_resumes_without_running_a_line_twice(world, app, client, op, enqueued,
                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "LOTES_BACKGROUND_ROWS", 1)
    monkeypatch.setitem(app.config, "LOTES_CHUNK_ROWS", 2)
    lote_id = api_post(client, op, make_csv(good_rows(world))).get_json()["lote_id"]
    original, calls = services._queue_runs, []

    def dies_on_the_second_chunk(lote, in_chunk):
        calls.append(1)
        if len(calls) == 2:
            raise Killed()
        return original(lote, in_chunk)

    monkeypatch.setattr(services, "_queue_runs", dies_on_the_second_chunk)
    with pytest.raises(Killed):
        services.run_job(lote_id)
    db.session.rollback()
    assert count(Execucao) == 3  # the first chunk (2 lines) was committed; the second was not
    lote = db.session.get(Lote, parse_uuid(lote_id))
    assert lote.status == "PROCESSANDO" and arquivo.path_for(lote.arquivo) is not None  # kept for the resume

    assert services.run_job(lote_id) == "IMPORTADO"
    runs = db.session.scalars(select(Execucao).where(Execucao.status == StatusExecucao.PENDENTE)).all()
    assert len(runs) == 4 and len({r.processo_id for r in runs}) == 4
    state = client.get(f"/api/v1/lotes/{lote_id}", headers=op).get_json()
    assert (state["status"], state["total"], state["falhas"], state["aguardando"]) == ("EM_EXECUCAO", 4, 0, 4)
    assert db.session.get(Lote, parse_uuid(lote_id)).processos_criados == 2


# --- memory ---------------------------------------------------------------------------------------

def test_checking_a_large_file_keeps_memory_bounded(app):
    """Peak memory of checking 16,000 rows is a few MB, and each row more costs under 200 bytes (only the
    set of (CNPJ, competência) pairs seen grows: 100,000 rows stay under 32 MB)."""
    vivo = OperadoraFactory(codigo="VIVO")
    ClienteFactory(cnpj=valid_cnpj(1, 11_000_000), operadora=vivo)

    def peak(n):
        rows = [[valid_cnpj(i, 20_000_000), PAST, "DOWNLOAD"] for i in range(n)]
        token = arquivo.save_upload(_Upload(make_csv(rows)))
        del rows
        tracemalloc.start()
        try:
            return previa.resumo(token), list(previa.erros(token, 0, 10)), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    *_, small = peak(4_000)
    result, first, large = peak(16_000)
    assert (result.linhas, result.validas, len(first)) == (16_000, 0, 10)
    assert large < 8 * 1024 * 1024, f"pico {large / 2**20:.1f} MB"
    assert (large - small) / 12_000 < 200, (small, large)


def test_two_confirms_at_the_same_moment_make_one_lote_and_each_run_once(world, app, enqueued):
    token = arquivo.save_upload(_Upload(make_csv(good_rows(world))))
    barrier, results, errors = threading.Barrier(2), [], []

    def confirm():
        with app.app_context():
            try:
                barrier.wait(10)
                lote, created = services.start(token, "lote.csv", by=None)
                results.append((lote.id, created))
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 2
    assert len({lote_id for lote_id, _ in results}) == 1 and sorted(c for _, c in results) == [False, True]
    assert count(Lote) == 1 and count(Execucao) == 5 and len(enqueued) == 4


class _Upload:
    """An upload as Werkzeug gives one to a view (a name and save())."""

    def __init__(self, data: bytes, filename="lote.csv"):
        self.data, self.filename = data, filename

    def save(self, target):
        with open(target, "wb") as fh:
            fh.write(self.data)
