"""The RPA client against a hostile server on localhost: an overall deadline, Retry-After never slept in a
job, every answer checked where it enters, and an outsourced operadora never handed the global token."""
import time

import pytest

from apps.auth.models import Role
from apps.core.types import db
from apps.operadoras import credentials
from apps.operadoras.models import Operadora
from apps.rpa import answers, connect
from apps.rpa.client import RpaBadAnswer, RpaClient, RpaUnavailable
from tests.factories import ExecucaoFactory
from tests.support.hostile import HostileServer, Script, fatura_meta, line


@pytest.fixture
def hostile():
    server = HostileServer()
    yield server
    server.close()


def client_of(server, **settings):
    defaults = {"connect_timeout": 1, "read_timeout": 1, "deadline": 1.5, "max_retries": 0, "backoff_cap": 0.2}
    return RpaClient(server.url, **{**defaults, **settings})


class TrickleBody(Script):
    def job(self, h):
        h.trickle(b'{"job_id": "x", "status": "RUNNING"}', 0.2)


class TrickleHeaders(Script):
    def job(self, h):
        h.trickle(b'{"job_id": "x", "status": "RUNNING"}', 0.2, headers_too=True)


@pytest.mark.parametrize("script", [TrickleBody(), TrickleHeaders()], ids=["body", "headers"])
def test_a_server_trickling_one_byte_at_a_time_is_cut_at_the_overall_deadline(hostile, script):
    hostile.script = script
    started = time.monotonic()
    with pytest.raises(RpaUnavailable, match="prazo total da chamada"):
        client_of(hostile).get_job("x")  # each byte arrives well within the 1 s read timeout
    assert 1.4 < time.monotonic() - started < 3


class Busy(Script):
    def job(self, h):
        h.json(429, {"detail": "ocupado"}, headers={"Retry-After": "999999999"})


def test_retry_after_is_capped_and_handed_back_instead_of_slept(hostile):
    hostile.script = Busy()
    slept = []
    client = client_of(hostile, retry_after_cap=45, sleep=slept.append)
    started = time.monotonic()
    with pytest.raises(RpaUnavailable) as caught:
        client.get_job("x")
    assert caught.value.retry_after == 45 and slept == [] and time.monotonic() - started < 1


@pytest.mark.parametrize("body,said", [
    (b"<html>erro</html>", "não é JSON"),
    (b"[1, 2]", "esperava um objeto"),
    (b"[" * 100_000 + b"]" * 100_000, "não é JSON"),  # nested deeper than the parser recurses
    (b'{"status": 7}', "status de job desconhecido"),
    (b'{"status": "RUNNING", "result": []}', "resultado do job"),
    (b'{"status": "FAILED", "error": {"x": 1}}', "deveria ser texto"),
])
def test_a_job_answer_that_breaks_the_contract_is_refused_where_it_enters(hostile, body, said):
    class Answer(Script):
        def job(self, h):
            h.raw(200, body)

    hostile.script = Answer()
    with pytest.raises(RpaBadAnswer, match=said):
        client_of(hostile).get_job("x")


def test_log_pages_are_checked_cleaned_ordered_and_capped(hostile):
    class Logs(Script):
        def logs(self, h, after):
            h.json(200, {"logs": [line(3, "três"), line(1, "um\x00 \ud800"), line(3, "duplicada"),
                                  line(2, "x" * 50, level="BOGUS"), line(1, "antiga")]})

    hostile.script = Logs()
    page = client_of(hostile, log_line_max_chars=30).get_logs("x", after=0)
    assert [(x["seq"], x["level"]) for x in page["logs"]] == [(1, "INFO"), (2, "INFO"), (3, "INFO")]
    assert page["logs"][0]["message"] == "um\ufffd \ufffd" and page["next"] == 3
    assert page["logs"][1]["message"].endswith("[linha cortada]") and len(page["logs"][1]["message"]) == 30
    assert client_of(hostile).get_logs("x", after=2)["logs"][0]["message"] == "três"


@pytest.mark.parametrize("item,said", [
    ("f1.pdf", "deveria ser um objeto"),
    (fatura_meta(sha256=123), "sha256 inválido"),
    (fatura_meta(valor="1e9"), "valor inválido"),
    (fatura_meta(vencimento="amanhã"), "data de vencimento inválida"),
    (fatura_meta(tamanho=True), "tamanho inválido"),
    (fatura_meta(arquivo=None), "nome de arquivo"),
])
def test_each_invoice_the_robot_reports_is_checked(item, said):
    with pytest.raises(answers.BadAnswer, match=said):
        answers.faturas({"faturas": [item]}, max_items=5)


def test_clean_text_leaves_nothing_a_database_or_a_terminal_chokes_on():
    assert answers.clean_text("a\x00b\ud800c\x1b[2Jd\u202ee\r\nf\tg", 100) == "a\ufffdb\ufffdc\ufffd[2Jd\ufffde\ufffd\nf\tg"
    assert len(answers.clean_text("x" * 10_000, 100)) == 100


def _outsourced(url, credential=None):
    codigo = "EMBRATEL" if credential else "OI"
    operadora = Operadora(codigo=codigo, nome=codigo.title(), rpa_terceirizado=True, url_endpoint_rpa=url)
    if credential:
        operadora.credencial_rpa_cifrada = credentials.encrypt(credential)
    db.session.add(operadora)
    db.session.commit()
    return operadora


def test_an_outsourced_operadora_gets_its_own_credential_or_none_never_the_global_token(app, hostile, users,
                                                                                        monkeypatch):
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", True)
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "token-global-do-ambiente")
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", hostile.url)
    users[Role.ADMIN].api_externa_token = "token-global-do-admin"
    db.session.commit()

    with connect.client_for(_outsourced(hostile.url)) as client:
        client.get_job("hostil-1")
    with connect.client_for(_outsourced(hostile.url, "credencial-propria-da-embratel")) as client:
        client.get_job("hostil-1")
    with connect.default_client() as client:  # our own robots do get the global token
        client.get_job("hostil-1")

    assert hostile.authorizations == [None, "Bearer credencial-propria-da-embratel", "Bearer token-global-do-admin"]


@pytest.fixture(scope="module")
def sim_knobs():
    return {"job_duration": 0, "queue_wait": 0, "log_lines": 2}


def test_v2_teste_conexao_tells_a_revoked_token_and_never_shows_it(client, app, sim_server, users, api_headers,
                                                                   monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim_server.url)
    users[Role.ADMIN].api_externa_token = "token-revogado-que-o-robo-recusa"
    db.session.commit()

    response = client.get("/api/v2/logs-tempo-real/teste-conexao", headers=api_headers(Role.VISUALIZADOR))

    body = response.get_json()
    assert response.status_code == 200 and body["ok"] is False
    assert body["api_externa"]["alcancavel"] is True and body["api_externa"]["token_valido"] is False
    assert body["api_externa"]["latencia_ms"] >= 0 and "recusou o token" in body["api_externa"]["detalhe"]
    assert "token-revogado" not in response.get_data(as_text=True)

    users[Role.ADMIN].api_externa_token = sim_server.issue_token()
    db.session.commit()
    body = client.get("/api/v2/logs-tempo-real/teste-conexao", headers=api_headers(Role.VISUALIZADOR)).get_json()
    assert body["ok"] is True and body["api_externa"]["token_valido"] is True


def test_v2_status_job_carries_the_rpa_apis_own_answer_or_why_it_has_none(client, app, sim_server, users,
                                                                          api_headers, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim_server.url)
    token = sim_server.issue_token()
    job = connect.RpaClient(sim_server.url, token_provider=connect.StaticCredential(token)).start_download(
        "VIVO", processo_id="p", cliente={"id": "c", "nome": "N", "cnpj": "11222333000181"}, competencia="2026-11",
        idempotency_key="k-status-job")
    ExecucaoFactory(status="EXECUTANDO", job_id=job["job_id"])
    users[Role.ADMIN].api_externa_token = token
    db.session.commit()
    url = f"/api/v2/logs-tempo-real/status-job/{job['job_id']}"

    body = client.get(url, headers=api_headers(Role.VISUALIZADOR)).get_json()
    assert body["status"] == "EXECUTANDO" and body["job"]["job_id"] == job["job_id"]
    assert body["job"]["status"] in {"PENDING", "RUNNING", "COMPLETED"}

    users[Role.ADMIN].api_externa_token = "token-revogado"
    db.session.commit()
    body = client.get(url, headers=api_headers(Role.VISUALIZADOR)).get_json()
    assert body["job"] is None and "token da API RPA foi recusado" in body["job_erro"]


def test_the_reconciler_sweeps_downloads_a_killed_worker_left_half_way(app):
    import os

    from apps.processos import storage
    from apps.rpa.jobs import reconcile

    old, fresh = storage.incoming() / "antigo.part", storage.incoming() / "em-curso.part"
    old.write_bytes(b"%PDF-1.4 metade")
    fresh.write_bytes(b"%PDF-1.4 baixando")
    os.utime(old, (time.time() - 7200, time.time() - 7200))

    reconcile()

    assert not old.exists() and fresh.exists()
    fresh.unlink()


def test_a_run_cancelled_while_its_start_is_posted_gets_its_robot_job_cancelled_too(app, hostile, monkeypatch):
    from apps.processos import execucoes as lifecycle
    from apps.processos import services
    from apps.rpa import jobs
    from tests.factories import ProcessoFactory

    monkeypatch.setitem(app.config, "API_EXTERNA_URL", hostile.url)
    execucao = services.executar(ProcessoFactory())
    posting = jobs._post_start

    def cancelled_meanwhile(client, run):  # a person presses Cancelar while the POST is on the wire
        answer = posting(client, run)
        lifecycle.falhar(db.session.get(type(run), run.id), "Execução cancelada por operador.")
        return answer

    monkeypatch.setattr(jobs, "_post_start", cancelled_meanwhile)

    assert jobs.start_execucao(str(execucao.id)) == "cancelada durante o início"
    assert ("POST", "/jobs/hostil-1/cancel") in hostile.requests
    row = db.session.get(type(execucao), execucao.id, populate_existing=True)
    assert row.status == "FALHOU" and row.job_id is None


def test_once_the_robots_final_line_is_stored_no_further_log_page_is_asked_for(app, hostile, monkeypatch):
    """The final line is a job's last (contract README): a finished run's look asks for its logs once; pages before
    it are all read, in order, within the same look."""
    from apps.core.queues import get_redis
    from apps.processos import services
    from apps.processos.models import ExecucaoLog
    from apps.rpa import follow, jobs
    from tests.factories import ProcessoFactory
    from tests.support.hostile import final_line

    class Paged(Script):  # two lines per page, the final one on the third page
        def logs(self, h, after):
            lines = [line(1), line(2), line(3), line(4), final_line(5)]
            page = [x for x in lines if x["seq"] > after][:2]
            h.json(200, {"logs": page, "next": page[-1]["seq"] if page else after})

    monkeypatch.setitem(app.config, "API_EXTERNA_URL", hostile.url)
    hostile.script = Paged()
    execucao = services.executar(ProcessoFactory())
    assert jobs.start_execucao(str(execucao.id)) == "hostil-1"  # its first look, in the same job, finds it done
    db.session.refresh(execucao)
    assert execucao.status == "CONCLUIDO"
    assert get_redis().get(follow.lease_key(execucao.id)) is None  # ended: no follower, no poll queued
    log_requests = [path for method, path in hostile.requests if path.endswith("/logs")]
    assert len(log_requests) == 3  # after=0, 2, 4: nothing asked after the final line
    stored = db.session.scalars(db.select(ExecucaoLog.seq).where(ExecucaoLog.execucao_id == execucao.id)
                                .order_by(ExecucaoLog.seq)).all()
    assert stored == [1, 2, 3, 4, 5]


def test_a_start_whose_first_look_fails_on_our_database_is_followed_by_its_retry(app, hostile, monkeypatch):
    """The start job takes the run's first look itself. When that look breaks on our own database (RQ retries
    the job), the retry finds the run started and looks again, as a poll would: the run ends once, at once,
    without waiting for its lease to expire and the reconciler to notice."""
    from sqlalchemy.exc import OperationalError

    from apps.core.queues import get_redis
    from apps.processos import services
    from apps.processos.models import Execucao
    from apps.rpa import follow, jobs
    from tests.factories import ProcessoFactory
    from tests.support.hostile import final_line

    class Done(Script):
        def logs(self, h, after):
            h.json(200, {"logs": [x for x in (line(1), final_line(2)) if x["seq"] > after], "next": 2})

    monkeypatch.setitem(app.config, "API_EXTERNA_URL", hostile.url)
    hostile.script = Done()
    execucao = services.executar(ProcessoFactory())
    execucao_id = str(execucao.id)
    looked = jobs._Poll.run

    def database_down(self, client):
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(jobs._Poll, "run", database_down)
    with pytest.raises(OperationalError):
        jobs.start_execucao(execucao_id, "seguidor-1")
    db.session.rollback()
    row = db.session.get(Execucao, execucao.id, populate_existing=True)
    assert row.status == "EXECUTANDO" and row.job_id == "hostil-1"
    assert get_redis().get(follow.lease_key(execucao_id)) == b"seguidor-1"  # still this job's

    monkeypatch.setattr(jobs._Poll, "run", looked)
    assert jobs.start_execucao(execucao_id, "seguidor-2") == "outro seguidor ativo"  # another start: not its run
    assert jobs.start_execucao(execucao_id, "seguidor-1") == "COMPLETED"  # RQ's retry, same arguments
    row = db.session.get(Execucao, execucao.id, populate_existing=True)
    assert row.status == "CONCLUIDO"
    assert [path for method, path in hostile.requests if method == "POST"] == ["/executar/VIVO"]  # started once
