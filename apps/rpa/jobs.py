"""RQ jobs that drive a robot run on the RPA API. Jobs are thin: load by id, call services.

Following a run does not keep a worker busy, and nothing here sleeps: the start job takes the first
look right after the POST, and each `poll_execucao` one more (the job's status, then new log lines);
while the robot is still working, the next look is scheduled (RQ's scheduler, `enqueue_in`); a server
that is down or asks us to wait (429 Retry-After, capped) gets the next look scheduled later, not a
worker held in a sleep. `apps.rpa.follow` holds the lease that names the one live follower.

A run ends right against any server that honours the contract:
- the status may lead the logs: after COMPLETED/FAILED the follower keeps reading logs until the
  robot's final line is stored, or RPA_LOG_GRACE_SECONDS pass (then the message says it never came);
- an answer that breaks the contract (`RpaBadAnswer`) is counted, and after RPA_MAX_BAD_ANSWERS in a
  row the run ends FALHOU with a message saying what the server sent; an unexpected error in our
  own code counts the same way, so a run never loops on RQ retries and the reconciler forever;
- every end goes through `apps.rpa.runs.end_run`, which frees the operadora's slot at once.
"""
import logging
import os
import time
import uuid
from datetime import timedelta

from flask import current_app
from redis import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, lazyload

from apps.core.queues import QueueUnavailable, get_redis, once_per
from apps.core.types import db, get_by_id, utcnow
from apps.portal import execucoes as servicos
from apps.processos import execucoes as lifecycle
from apps.processos import storage
from apps.processos.models import Execucao, Processo, StatusExecucao
from apps.realtime.events import publish_logs, publish_status
from apps.rpa import answers, connect, follow, throttle
from apps.rpa.client import RpaBadAnswer, RpaError, RpaUnavailable
from apps.rpa.runs import end_run

log = logging.getLogger(__name__)
MAX_LOG_PAGES = 50
RECENT = timedelta(seconds=5)  # a row changed this recently is being worked on: leave it alone
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


# The run with its processo, cliente and operadora in the same SELECT (every job reads them); the processo's
# own runs and invoices only when asked for (they are selectin by default: two more queries at each load).
_WITH_PROCESSO = (joinedload(Execucao.processo).options(lazyload(Processo.execucoes), lazyload(Processo.faturas)),)


def _load(execucao_id):
    """The execucao as the database has it now (one SELECT, even if the session already holds it)."""
    return get_by_id(Execucao, execucao_id, populate_existing=True, options=_WITH_PROCESSO)


def _client(execucao):
    """One client per job, with no retries of its own: this job schedules the next try instead."""
    return connect.client_for_execucao(execucao, max_retries=0)


def _poll_interval() -> float:
    return float(current_app.config["RPA_POLL_INTERVAL"])


def _later(exc: RpaUnavailable) -> float:
    """When to look again at a server that is down or busy: its Retry-After (capped) or a few polls."""
    return max(_poll_interval() * 5, exc.retry_after or 0)


# -- starting ----------------------------------------------------------------------------------------
def start_execucao(execucao_id: str, follower: str | None = None, attempt: int = 0) -> str:
    """POST the run to the RPA API (idempotent by key), then start following it."""
    execucao = _load(execucao_id)
    if execucao is not None and execucao.status == StatusExecucao.EXECUTANDO and follower:
        # RQ's retry of this job after its first look failed on our database or Redis: look again, as a
        # poll would (a start that lost the race to another follower finds the lease taken and stops).
        return _look(execucao, follower)
    if execucao is None or execucao.status != StatusExecucao.PENDENTE:
        return "nada a fazer"
    if execucao.data_inicio is None:
        return "aguardando vaga"  # not admitted by apps.rpa.throttle: the operadora is at its limit
    # Running now: the reconciler must not queue a second start while this one POSTs.
    follower = follow.hold(execucao.id, follower)
    try:
        with _client(execucao) as client:
            answer = _post_start(client, execucao)
    except RpaUnavailable as exc:
        if attempt < int(current_app.config["RPA_MAX_RETRIES"]):
            # The same Idempotency-Key on the next try: a request that did reach the robots starts no second run.
            follow.enqueue(follow.START, execucao.id, delay=_later(exc), attempt=attempt + 1)
            return "API indisponível; nova tentativa agendada"
        end_run(execucao, error=str(exc))
        return "falhou"
    except (RpaError, ValueError) as exc:  # a 401 a refresh did not fix, other 4xx, bad URL, no job_id
        end_run(execucao, error=str(exc))
        return "falhou"
    if not lifecycle.marcar_executando(execucao, answer["job_id"]):
        if execucao.status == StatusExecucao.FALHOU and not execucao.job_id:
            _cancel_orphan(execucao, answer["job_id"])  # cancelled by a person while we were POSTing
            return "cancelada durante o início"
        return "já iniciada por outro job"  # a duplicated start: the one that won follows the run
    publish_status(execucao)
    # The first look in this job, not in one queued for it: a robot that is done already ends here; one still
    # working gets its next look scheduled, as every look does.
    _look(execucao, follower)
    return str(answer["job_id"])


def _cancel_orphan(execucao, job_id) -> None:
    """The run ended before its robot job was known (a person cancelled it mid-start): ask the robots to stop
    that job too, so nobody leaves a robot working that nobody follows. Best effort; a server that cannot
    cancel is logged."""
    try:
        with _client(execucao) as client:
            client.cancel_job(job_id)
    except RpaError as exc:
        log.warning("could not cancel robot job %s of the cancelled execucao %s: %s", job_id, execucao.id, exc)


def _post_start(client, execucao) -> dict:
    if servicos.is_servico(execucao):
        return servicos.start(client, execucao)
    processo, cliente = execucao.processo, execucao.processo.cliente
    payload = dict(processo_id=str(processo.id), cliente=lifecycle.cliente_payload(cliente),
                   competencia=processo.competencia, idempotency_key=execucao.idempotency_key)
    if lifecycle.is_download(execucao):
        return client.start_download(cliente.operadora.codigo, **payload)
    return client.start_sat(faturas=lifecycle.faturas_para_sat(processo), **payload)


# -- following ---------------------------------------------------------------------------------------
def poll_execucao(execucao_id: str, follower: str | None = None, bad: int = 0,
                  terminal_since: float | None = None) -> str:
    """Look at the run once: store new log lines, then finish it or schedule the next look."""
    execucao = _load(execucao_id)
    if execucao is None or execucao.status != StatusExecucao.EXECUTANDO:
        return "nada a fazer"
    return _look(execucao, follower, bad, terminal_since)


def _look(execucao, follower, bad=0, terminal_since=None) -> str:
    """One look at a run in EXECUTANDO, by the follower the lease names (else nothing is done)."""
    if not follow.claim(execucao.id, follower):
        return "outro seguidor ativo"
    poll = _Poll(execucao, bad, terminal_since, follower)
    try:
        with _client(execucao) as client:
            return poll.run(client)
    except RpaBadAnswer as exc:
        return poll.bad_answer(exc.message)
    except (SQLAlchemyError, RedisError, QueueUnavailable):
        raise  # our own database or Redis is down: RQ's retry and the reconciler resume the run, unharmed
    except Exception as exc:  # our own bug or an answer nobody foresaw: counted, never retried forever
        db.session.rollback()
        log.exception("unexpected error following execucao %s", execucao.id)
        return poll.bad_answer(f"Erro inesperado ao seguir a execução ({type(exc).__name__}).")


class _Poll:
    """One look at a running job, and what it carries on to the next look."""

    def __init__(self, execucao, bad, terminal_since, follower=None):
        self.execucao, self.bad, self.terminal_since = execucao, int(bad or 0), terminal_since
        self.follower = follower

    def again(self, delay, *, bad=0):
        follow.enqueue(follow.POLL, self.execucao.id, delay=delay, bad=bad, terminal_since=self.terminal_since)

    def bad_answer(self, message: str) -> str:
        """Count an answer that broke the contract; end the run after RPA_MAX_BAD_ANSWERS in a row."""
        db.session.rollback()
        execucao = _load(self.execucao.id)
        if execucao is None or execucao.status != StatusExecucao.EXECUTANDO:
            return "nada a fazer"
        self.execucao, count = execucao, self.bad + 1
        limit = int(current_app.config["RPA_MAX_BAD_ANSWERS"])
        log.warning("bad answer %d/%d following execucao %s: %s", count, limit, execucao.id, message)
        if count >= limit:
            end_run(execucao, error=f"A API RPA enviou {count} respostas inválidas seguidas; a última: {message}")
            return "falhou"
        self.again(_poll_interval() * 2 ** count, bad=count)
        return "resposta inválida; nova tentativa agendada"

    def run(self, client) -> str:
        execucao = self.execucao
        try:
            job = client.get_job(execucao.job_id)
            final = _sync_logs(client, execucao)
        except RpaUnavailable as exc:
            log.warning("RPA API unavailable while following execucao %s: %s", execucao.id, exc)
            self.again(_later(exc), bad=self.bad)
            return "API indisponível; nova tentativa agendada"
        except RpaBadAnswer:
            raise
        except RpaError as exc:  # 401 after refresh, other 4xx, a refused URL: retrying won't help
            end_run(execucao, error=str(exc))
            return "falhou"
        if job["status"] not in answers.TERMINAL:
            self.again(_poll_interval())
            return job["status"]
        note = self._missing_final_line(final)
        if note is None:
            return "aguardando a última linha do log"
        if job["status"] == "FAILED":
            end_run(execucao, error=_joined(job["error"] or "O robô informou falha sem mensagem.", note))
            return "FAILED"
        return _finish(client, execucao, job, note, self)

    def _missing_final_line(self, final=False):
        """None while the grace period runs (the next look is scheduled); otherwise the note for the run's
        message: '' or the log-cut sentence when the final line is stored (`final`: it came in this look),
        plus the sentence saying it never came when the grace period ran out."""
        execucao = self.execucao
        if final or lifecycle.has_final_line(execucao):
            return lifecycle.cut_note(execucao)
        grace = float(current_app.config["RPA_LOG_GRACE_SECONDS"])
        now = time.time()
        self.terminal_since = self.terminal_since or now
        if now - self.terminal_since < grace:
            self.again(min(_poll_interval(), grace))
            return None
        return _joined(f"A última linha do log do robô não chegou em {grace:g} s.", lifecycle.cut_note(execucao))


def _joined(*parts) -> str:
    return " ".join(p for p in parts if p)


def _sync_logs(client, execucao) -> bool:
    """Store and publish the run's new log lines, page after page; True when the robot's final line came (the
    contract's last line of a job: nothing follows it, so no page is asked for after it)."""
    for _ in range(MAX_LOG_PAGES):
        answer = client.get_logs(execucao.job_id, after=execucao.ultimo_seq)
        if not answer["logs"]:
            return False
        stored = lifecycle.gravar_logs(execucao, answer["logs"])
        publish_logs(execucao, stored)
        if any(answers.is_final_line(row.level, row.message) for row in stored):
            return True
        if answer["next"] <= execucao.ultimo_seq and not stored:
            return False  # nothing new (a server ignoring `after`): don't ask again
    return False


def _finish(client, execucao, job, note, poll) -> str:
    result = job["result"]
    limits = current_app.config
    downloads = []
    try:
        if servicos.is_servico(execucao):
            metas = answers.arquivos(result, max_items=int(limits["EXECUCAO_MAX_ARQUIVOS"]))
            dados = answers.dados(result)
            for meta in metas:
                downloads.append((meta, client.fetch_arquivo(execucao.job_id, meta["arquivo"],
                                                             max_bytes=limits["MAX_CONTENT_LENGTH"],
                                                             directory=storage.incoming())))
            end_run(execucao, store=lambda: servicos.concluir(execucao, downloads, dados, note=note))
        elif lifecycle.is_download(execucao):
            metas = answers.faturas(result, max_items=int(limits["EXECUCAO_MAX_FATURAS"]))
            for meta in metas:
                follow.renew(execucao.id, poll.follower)  # many large invoices can outlast one lease
                downloads.append((meta, client.fetch_fatura(execucao.job_id, meta["arquivo"],
                                                            max_bytes=limits["MAX_CONTENT_LENGTH"],
                                                            directory=storage.incoming())))
            end_run(execucao, store=lambda: lifecycle.concluir_download(execucao, downloads, note=note))
        else:
            protocolo = answers.protocolo(result)
            end_run(execucao, store=lambda: lifecycle.concluir_sat(execucao, protocolo, note=note))
    except RpaUnavailable as exc:
        poll.again(_later(exc))
        return "download das faturas adiado"
    except answers.LimitExceeded as exc:  # asking again will not shrink it
        end_run(execucao, error=exc.message)
        return "falhou"
    except (answers.BadAnswer, RpaBadAnswer) as exc:
        return poll.bad_answer(exc.message)
    except (lifecycle.FaturaInvalida, RpaError) as exc:
        end_run(execucao, error=str(exc))
        return "falhou"
    except lifecycle.ProcessoError as exc:
        end_run(execucao, error=f"O processo mudou durante a execução: {exc.message}")
        return "falhou"
    finally:
        for _, download in downloads:
            if os.path.exists(download.path):
                os.unlink(download.path)  # stored files were moved away; what is left was refused
    return "COMPLETED"


# -- the reconciler ----------------------------------------------------------------------------------
def _start_waiting(redis, execucao) -> bool:
    """True while the run's start job is still queued: behind other jobs, not lost."""
    if execucao.status != StatusExecucao.PENDENTE or not execucao.rq_job_id:
        return False
    try:
        return Job.fetch(execucao.rq_job_id, connection=redis).get_status(refresh=False) in WAITING
    except NoSuchJobError:
        return False


def reconcile_periodic() -> dict:
    """The scheduler's pass: one reconciliation per RECONCILE_INTERVAL, however many schedulers enqueue it."""
    if not once_per("reconcile", float(current_app.config["RECONCILE_INTERVAL"])):
        return {"ignorado": "outro agendador já reconciliou neste intervalo"}
    return reconcile()


def reconcile() -> dict:
    """Resume following active runs whose follower is gone; fail those past the time limit;
    admit waiting runs where their operadora has free slots."""
    limit = timedelta(hours=current_app.config["EXECUCAO_MAX_HORAS"])
    now = utcnow()
    resumed = failed = 0
    redis = get_redis()
    active = db.session.scalars(db.select(Execucao).where(throttle.admitted_filter())).all()
    for execucao in active:
        if now - execucao.created_at > limit:
            end_run(execucao, error=f"Tempo limite de {current_app.config['EXECUCAO_MAX_HORAS']:g} h excedido; "
                                    "use Executar Novamente.")
            failed += 1
        elif (now - execucao.updated_at > RECENT and not follow.is_followed(execucao.id)
              and not _start_waiting(redis, execucao)):
            if execucao.status == StatusExecucao.PENDENTE:
                follow.enqueue_start(execucao, job_id=f"rpa-start-{execucao.id}-{uuid.uuid4().hex[:8]}")
            else:
                follow.enqueue_poll(execucao)
            resumed += 1
    storage.sweep_incoming()
    return {"retomadas": resumed, "falhas": failed, "admitidas": throttle.dispatch_all()}
