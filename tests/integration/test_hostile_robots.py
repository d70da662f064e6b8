"""A hostile RPA server against real workers: every bad answer ends the run FALHOU with a message that
says what came, text is cleaned, a failed run frees its slot at once, a slow server is cut off and
does not stall another operadora, and a run's payload stays within its limits."""
import json
import time

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from apps.core.types import db
from apps.operadoras import credentials
from apps.operadoras.models import Operadora
from apps.processos import services
from apps.processos.models import Execucao, ExecucaoLog, Fatura, StatusExecucao, StatusProcesso
from tests.integration.conftest import make_processo, wait_for
from tests.integration.helpers import execucoes_of, finished, processo_of, stored_files, stored_logs
from tests.support.hostile import PDF, HostileServer, Script, fatura_meta, final_line, line

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def hostile(cycle):
    server = HostileServer()
    cycle.configure(API_EXTERNA_URL=server.url)
    yield server
    server.close()


def _run(processo, timeout=20):
    execucao = services.executar(processo_of(processo.id))
    return wait_for(lambda: finished(execucao.id), timeout, message="execução terminar")


def _job(status="COMPLETED", **fields):
    return {"job_id": "hostil-1", "tipo": "download", "status": status, "created_at": "2026-12-01T10:00:00Z",
            **fields}


class JobAnswers(Script):
    """GET /jobs/{id} answers `body` (bytes) with `content_type`."""

    def __init__(self, body: bytes, content_type="application/json"):
        self.body, self.content_type = body, content_type

    def job(self, h):
        h.raw(200, self.body, self.content_type)


class LogsAnswer(Script):
    """GET /jobs/{id}/logs answers `body` (bytes) while the job runs."""

    def __init__(self, body: bytes):
        self.body = body

    def job(self, h):
        h.json(200, _job("RUNNING"))

    def logs(self, h, after):
        h.raw(200, self.body)


class Completed(Script):
    """A completed job whose result (or logs) a test chooses."""

    def __init__(self, result=None, lines=None, status="COMPLETED", error=None):
        self.result = {"faturas": [fatura_meta()]} if result is None else result
        self.lines, self.status, self.error = lines, status, error

    def job(self, h):
        h.json(200, _job(self.status, result=self.result, error=self.error))

    def logs(self, h, after):
        lines = self.lines or [line(1), final_line(2, self.status == "COMPLETED")]
        h.json(200, {"logs": [x for x in lines if x["seq"] > after]})


BAD_ANSWERS = [
    pytest.param(JobAnswers(b"<html><body>502 Bad Gateway</body></html>", "text/html"), "não é JSON (text/html",
                 id="job-html"),
    pytest.param(JobAnswers(b'[{"status": "COMPLETED"}]'), "esperava um objeto", id="job-array"),
    pytest.param(JobAnswers(json.dumps(_job("DONE")).encode()), "status de job desconhecido", id="job-status"),
    pytest.param(LogsAnswer(b'{"logs": ["linha solta"]}'), "linha de log que não é um objeto", id="log-string"),
    pytest.param(LogsAnswer(json.dumps({"logs": [line(2**63)]}).encode()), "seq inválido", id="seq-2-63"),
    pytest.param(LogsAnswer(json.dumps({"logs": [line(1, message=["x"])]}).encode()), "mensagem que não é texto",
                 id="message-list"),
    pytest.param(LogsAnswer(b'{"logs": [' + b'{"seq": 1, "message": "' + b"x" * (11 * 1024 * 1024) + b'"}]}'),
                 "maior que o limite", id="logs-page-over-10mb"),
    pytest.param(LogsAnswer(json.dumps({"logs": [{"seq": n, "message": "x"} for n in range(1, 100_001)]}).encode()),
                 "100000 linhas de log numa só página", id="logs-100k-lines"),
    pytest.param(Completed(result=[{"faturas": []}]), "resultado do job num formato inesperado", id="result-list"),
    pytest.param(Completed(result={"faturas": ["f1.pdf"]}), "Fatura 1: deveria ser um objeto", id="fatura-string"),
    pytest.param(Completed(result={"faturas": [fatura_meta(sha256=12345)]}), "sha256 inválido", id="sha256-number"),
    pytest.param(Completed(result={"faturas": [fatura_meta(valor=10.5)]}), "valor inválido", id="valor-number"),
]


@pytest.mark.parametrize("script,said", BAD_ANSWERS)
def test_an_answer_that_breaks_the_contract_ends_the_run_falhou_saying_what_came(cycle, hostile, processo,
                                                                                 script, said):
    hostile.script = script
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.FALHOU
    assert "respostas inválidas seguidas" in execucao.mensagem and said in execucao.mensagem, execucao.mensagem
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_DOWNLOAD
    failed = [w for w in cycle.workers if "Traceback" in w.output(400)]
    assert not failed, failed[0].output(80)  # handled where the answer enters, not crashed and retried


def test_lone_surrogates_nul_and_controls_are_cleaned_before_storing(cycle, hostile, processo):
    nasty = "início\x00 \ud800 \x1b[31mvermelho\x1b[0m \u202eodnum"
    hostile.script = Completed(status="FAILED", error="falhou \ud800\x00 de verdade",
                               lines=[line(1, nasty), line(2, "Job hostil-1 falhou", "ERROR")])
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.FALHOU
    assert execucao.mensagem == "falhou \ufffd\ufffd de verdade"
    first = stored_logs(execucao.id)[0][2]
    assert "\x00" not in first and "\x1b" not in first and "\u202e" not in first and "\ud800" not in first
    assert first.startswith("início\ufffd \ufffd \ufffd[31mvermelho") and first.endswith("odnum")


def test_a_failed_run_frees_the_operadoras_slot_at_once(cycle, hostile, app):
    hostile.script = JobAnswers(b"<html>oops</html>", "text/html")
    first = make_processo(n=1)
    second = make_processo(n=2)
    operadora = db.session.get(Operadora, processo_of(first.id).cliente.operadora_id)
    operadora.limite_concorrencia = 1
    db.session.commit()
    cycle.start_workers(1)

    runs = [services.executar(processo_of(first.id)), services.executar(processo_of(second.id))]
    wait_for(lambda: finished(runs[0].id), 20, message="primeira execução falhar")
    # No reconcile is called: the end of the first run admits the second by itself.
    second_run = wait_for(lambda: finished(runs[1].id), 20, message="segunda execução terminar")
    assert second_run.status == StatusExecucao.FALHOU and second_run.data_inicio >= finished(runs[0].id).data_fim


class Trickle(Script):
    """GET /jobs/{id} sends a valid body one byte at a time (every 0.3 s): forever, for a per-read timeout."""

    def job(self, h):
        h.trickle(json.dumps(_job("RUNNING")).encode(), 0.3)


def test_a_trickling_server_is_cut_at_the_deadline_and_does_not_stall_another_operadora(cycle, hostile, sim, app):
    hostile.script = Trickle()
    cycle.configure(RPA_CALL_DEADLINE=1.5, RPA_ALLOW_PRIVATE_TARGETS=True)
    slow = make_processo("VIVO", n=1)
    other = make_processo("OI", n=2)
    oi = db.session.get(Operadora, processo_of(other.id).cliente.operadora_id)
    oi.rpa_terceirizado, oi.url_endpoint_rpa = True, sim.url  # OI's robots are another, healthy server
    oi.credencial_rpa_cifrada = credentials.encrypt(sim.issue_token())  # with OI's own credential
    db.session.commit()
    cycle.start_workers(1)

    stuck = services.executar(processo_of(slow.id))
    wait_for(lambda: ("GET", "/jobs/hostil-1") in hostile.requests, 10, message="primeira leitura lenta")
    started = time.monotonic()
    done = _run(other, timeout=20)

    assert done.status == StatusExecucao.CONCLUIDO, done.mensagem
    assert time.monotonic() - started < 12  # one worker, cut at 1.5 s per look: OI never waits minutes
    assert db.session.get(Execucao, stuck.id).status == StatusExecucao.EXECUTANDO  # still followed, not failed
    output = "\n".join(w.output(400) for w in cycle.workers)
    assert "prazo total da chamada" in output or "nova tentativa agendada" in output


class HugeRetryAfter(Script):
    def start(self, h):
        h.json(429, {"detail": "ocupado"}, headers={"Retry-After": "999999999"})


def test_retry_after_of_a_billion_seconds_is_capped_and_never_slept_in_the_worker(cycle, hostile, processo):
    hostile.script = HugeRetryAfter()
    cycle.configure(RPA_RETRY_AFTER_CAP=40)
    cycle.start_workers(1)
    execucao = services.executar(processo_of(processo.id))

    registry = ScheduledJobRegistry(queue=Queue(app_queue_name(cycle), connection=cycle.redis()))
    scheduled = wait_for(lambda: registry.get_job_ids(), 10, message="nova tentativa agendada")
    when = registry.get_scheduled_time(scheduled[0]).timestamp()
    assert 30 < when - time.time() <= 41  # rescheduled at the cap, not slept through, not 31 years away
    assert len([r for r in hostile.requests if r[0] == "POST"]) == 1
    row = db.session.get(Execucao, execucao.id, populate_existing=True)
    assert row.status == StatusExecucao.PENDENTE and row.data_inicio is not None  # waiting for its next try


def app_queue_name(cycle) -> str:
    return cycle.app.config["RQ_QUEUE"]


class ManyLines(Script):
    def logs(self, h, after):
        lines = [line(n, f"linha {n} " + "y" * 50) for n in range(1, 201)] + [final_line(201)]
        h.json(200, {"logs": [x for x in lines if x["seq"] > after]})


def test_log_past_the_runs_limit_is_counted_not_stored_and_the_final_line_is_kept(cycle, hostile, processo):
    hostile.script = ManyLines()
    cycle.configure(EXECUCAO_MAX_LOG_LINES=50)
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    seqs = [seq for seq, _, _ in stored_logs(execucao.id)]
    assert seqs == list(range(1, 51)) + [201]
    assert execucao.log_descartadas == 150 and execucao.log_linhas == 51
    assert "150 linha(s) não foram guardadas" in execucao.mensagem


def test_more_invoices_than_a_run_may_bring_fail_it_and_store_nothing(cycle, hostile, processo):
    hostile.script = Completed(result={"faturas": [fatura_meta(numero=str(n), arquivo=f"f{n}.pdf") for n in range(3)]})
    cycle.configure(EXECUCAO_MAX_FATURAS=2)
    cycle.start_workers(1)
    before = stored_files()

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.FALHOU
    assert "3 faturas; o limite por execução é 2" in execucao.mensagem
    assert db.session.scalar(select(Fatura).limit(1)) is None and stored_files() == before


class BigInvoices(Script):
    """Invoices of ~2 MB each, streamed to disk by the worker (never held in memory)."""

    def __init__(self, count):
        self.count = count
        self.body = PDF[:-6] + b"%" + b"0" * (2 * 1024 * 1024) + b"\n%%EOF\n"

    def job(self, h):
        import hashlib

        digest = hashlib.sha256(self.body).hexdigest()
        metas = [fatura_meta(numero=str(n), arquivo=f"f{n}.pdf", sha256=digest, tamanho=len(self.body))
                 for n in range(self.count)]
        h.json(200, _job(result={"faturas": metas}))

    def fatura(self, h, arquivo):
        h.raw(200, self.body, "application/pdf")


def test_large_invoices_are_streamed_checked_and_stored(cycle, hostile, processo):
    hostile.script = BigInvoices(4)
    cycle.start_workers(1)

    execucao = _run(processo, timeout=30)

    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    faturas = db.session.scalars(select(Fatura).where(Fatura.execucao_id == execucao.id)).all()
    assert len(faturas) == 4 and all(f.tamanho == len(hostile.script.body) for f in faturas)
    assert not [p for p in stored_files() if ".incoming" in p.parts]  # no temporary file left behind


def test_status_ahead_of_logs_keeps_reading_until_the_final_line(cycle, sim, processo):
    sim.set_config(logs_lag=1.5)
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    stored = stored_logs(execucao.id)
    assert stored[-1][1] == "WARNING" and "concluído" in stored[-1][2]
    assert [seq for seq, _, _ in stored] == list(range(1, len(stored) + 1))
    assert "não chegou" not in execucao.mensagem


def test_a_final_line_that_never_comes_ends_the_run_after_the_grace_saying_so(cycle, sim, processo):
    sim.set_config(logs_lag=60)
    cycle.configure(RPA_LOG_GRACE_SECONDS=1)
    cycle.start_workers(1)

    execucao = _run(processo)

    assert execucao.status == StatusExecucao.CONCLUIDO
    assert "A última linha do log do robô não chegou em 1 s." in execucao.mensagem
    assert "concluído" not in stored_logs(execucao.id)[-1][2]
    assert db.session.scalar(select(ExecucaoLog).where(ExecucaoLog.execucao_id == execucao.id).limit(1))
    assert len(execucoes_of(processo.id)) == 1
