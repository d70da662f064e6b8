"""In-memory simulator state: jobs, idempotency keys, tokens, SSE subscribers."""
from __future__ import annotations

import itertools
import queue
import random
import secrets
import threading
import time
from datetime import UTC, datetime

from . import auth
from .config import SimConfig, as_dict, updated
from .faults import FaultQueue, Stats
from .jobs import COMPLETED, DOWNLOAD, RUNNING, SAT, TERMINAL, Job, Step, build_plan, cancel_outcome, now_iso
from .scheduler import Scheduler

IDEMPOTENCY_TTL = 24 * 3600.0
SUBSCRIBER_BUFFER = 1000


class Saturated(Exception):
    """Raised when max_active jobs are in flight (answered with 429)."""

    def __init__(self, retry_after: int) -> None:
        """Remember the Retry-After seconds."""
        super().__init__("robôs ocupados")
        self.retry_after = retry_after


class Subscriber:
    """One /events/logs connection: a bounded queue and an optional job filter."""

    def __init__(self, job_id: str | None) -> None:
        """Create an empty buffer; lines beyond SUBSCRIBER_BUFFER are dropped."""
        self.job_id = job_id
        self.queue: queue.Queue = queue.Queue(maxsize=SUBSCRIBER_BUFFER)

    def offer(self, line: dict | None) -> None:
        """Queue a line (None means "close") unless filtered out or the buffer is full."""
        if line is not None and self.job_id and line["job_id"] != self.job_id:
            return
        try:
            self.queue.put_nowait(line)
        except queue.Full:
            pass


class SimState:
    """Everything the simulator knows, guarded by one lock."""

    def __init__(self, config: SimConfig) -> None:
        """Build the state; generates a JWT secret when the config has none."""
        if not config.jwt_secret:
            config = updated(config, {"jwt_secret": secrets.token_urlsafe(32)})
        self.initial = config
        self.config = config
        self.lock = threading.RLock()
        self.faults = FaultQueue()
        self.stats = Stats()
        self.stop_event = threading.Event()
        self.hang_release = threading.Event()
        self.scheduler = Scheduler()
        self.subscribers: set[Subscriber] = set()
        self._clear_jobs()

    def _clear_jobs(self) -> None:
        """Forget every job, idempotency key and counter (lock held or at init)."""
        self.jobs: dict[str, Job] = {}
        self.active: set[str] = set()
        self.peak_active: dict[str, int] = {}  # most jobs of one operadora active at once ("" = none)
        self.idempotency: dict[str, tuple[str, float]] = {}
        self.rng = random.Random(self.config.seed)
        self.protocolos = itertools.count(1)

    # -- knobs, faults, lifecycle ------------------------------------------------------
    def set_config(self, **changes) -> dict:
        """Change runtime knobs; raises ValueError on bad names/values."""
        with self.lock:
            self.config = updated(self.config, changes, runtime=True)
            return as_dict(self.config)

    def reset(self) -> None:
        """Back to the start-up knobs with no jobs, faults, stats or hanging calls."""
        with self.lock:
            self.scheduler.clear()
            self.config = self.initial
            self._clear_jobs()
            self.faults.clear()
            self.stats.reset()
            self.hang_release.set()
            self.hang_release = threading.Event()

    def shutdown(self) -> None:
        """Stop the clock, release hanging calls and close SSE streams."""
        self.stop_event.set()
        self.hang_release.set()
        self.scheduler.stop()
        with self.lock:
            for subscriber in list(self.subscribers):
                subscriber.offer(None)

    def pause(self, seconds: float) -> None:
        """Sleep for `seconds` or until shutdown."""
        if seconds > 0:
            self.stop_event.wait(seconds)

    def hang(self) -> None:
        """Sleep hang_seconds, or until reset/shutdown."""
        self.hang_release.wait(self.config.hang_seconds)

    # -- tokens ------------------------------------------------------------------------
    def issue_token(self, ttl_seconds: float | None = None) -> tuple[str, datetime]:
        """Sign a token; default lifetime is token_ttl_days."""
        ttl = self.config.token_ttl_days * 86400 if ttl_seconds is None else ttl_seconds
        return auth.issue_token(self.config.jwt_secret, ttl)

    def refresh(self, password: str) -> dict | None:
        """Contract body of /auth/refresh, or None when the password is wrong."""
        if not secrets.compare_digest(password.encode(), self.config.password.encode()):
            self.stats.bump("refresh_failures")
            return None
        self.stats.bump("refreshes")
        token, expires = self.issue_token()
        return {"access_token": token, "token_type": "bearer", "expires_at": auth.iso_utc(expires)}

    def token_ok(self, token: str | None) -> bool:
        """Whether a bearer token is accepted."""
        return auth.token_is_valid(token, self.config.jwt_secret, self.config.static_token)

    # -- jobs --------------------------------------------------------------------------
    def create_job(self, tipo: str, operadora: str | None, body: dict, key: str | None,
                   tarefa: str | None = None) -> tuple[dict, bool]:
        """Start a job (or replay the one of `key`); returns (202 body, replayed)."""
        with self.lock:
            replay = self._replay(key)
            if replay is not None:
                return replay, True
            config = self.config
            if config.max_active and len(self.active) >= config.max_active:
                self.stats.bump("saturated")
                raise Saturated(config.retry_after)
            job = Job(tipo, operadora, body, tarefa=tarefa)
            steps = build_plan(job, self._plan_knobs(tipo), self.rng, self._protocolo(tipo))
            self.jobs[job.job_id] = job
            self.active.add(job.job_id)
            self._note_peak(job.operadora or "")
            if key:
                self.idempotency[key] = (job.job_id, time.monotonic())
            self.stats.bump("jobs_created", tipo)
            self._start(job, steps)
            return {"job_id": job.job_id, "status": job.status}, False

    def _note_peak(self, operadora: str) -> None:
        """Remember the most jobs of this operadora running at once: a client's concurrency limit, seen from here."""
        now = sum(1 for job_id in self.active if (self.jobs[job_id].operadora or "") == operadora)
        self.peak_active[operadora] = max(now, self.peak_active.get(operadora, 0))

    def _replay(self, key: str | None) -> dict | None:
        """202 body of the job already created with `key` within 24 h (lock held)."""
        entry = self.idempotency.get(key) if key else None
        if entry is None or time.monotonic() - entry[1] > IDEMPOTENCY_TTL:
            return None
        job = self.jobs.get(entry[0])
        if job is None:
            return None
        self.stats.bump("idempotent_replays")
        return {"job_id": job.job_id, "status": job.status}

    def _plan_knobs(self, tipo: str) -> dict:
        """Snapshot of the knobs a new job uses; consumes one corrupt_sha256 (lock held)."""
        config = self.config
        corrupt = tipo == DOWNLOAD and config.corrupt_sha256 > 0
        if corrupt:
            self.config = updated(config, {"corrupt_sha256": config.corrupt_sha256 - 1})
        return {"queue_wait": config.queue_wait, "job_duration": config.job_duration,
                "failure_rate": config.failure_rate, "log_lines": config.log_lines,
                "corrupt": corrupt}

    def _protocolo(self, tipo: str) -> str:
        """Next SAT protocol number (only consumed by SAT jobs)."""
        if tipo != SAT:
            return ""
        return f"SAT-{datetime.now(UTC).year}-{next(self.protocolos):06d}"

    def _start(self, job: Job, steps: list[Step]) -> None:
        """Apply the enqueue step now and schedule the others (lock held)."""
        self._apply(job.job_id, steps[0])
        origin = time.monotonic()
        for step in steps[1:]:
            self.scheduler.call_at(origin + step.at, lambda s=step: self._apply(job.job_id, s))

    def _apply(self, job_id: str, step: Step) -> None:
        """Carry out one step of a job and publish its log line (nothing once ended or cancelled)."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.status in TERMINAL or job.cancel_requested:
                return
            if step.kind == "finish":
                line = self._finish(job, step.outcome)
            else:
                if step.kind == "start":
                    job.status, job.started_at = RUNNING, now_iso()
                line = job.add_log(step.level, step.message)
            self._publish(line)

    def _publish(self, line: dict) -> None:
        """Offer a log line to every SSE listener (lock held)."""
        for subscriber in self.subscribers:
            subscriber.offer(line)

    def cancel(self, job_id: str) -> dict | None:
        """Ask a job to stop: PENDING/RUNNING ones end FAILED after cancel_delay; None if unknown."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            self.stats.bump("cancel_requests")
            if job.status not in TERMINAL and not job.cancel_requested:
                job.cancel_requested = True
                self._publish(job.add_log("WARNING", f"Cancelamento do job {job.job_id} solicitado; interrompendo robô"))
                delay = self.config.cancel_delay
                if delay > 0:
                    self.scheduler.call_at(time.monotonic() + delay, lambda: self._cancelled(job_id))
                else:
                    self._cancelled(job_id)
            return job.to_json()

    def _cancelled(self, job_id: str) -> None:
        """End a job whose cancellation was requested, unless it ended meanwhile."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.status in TERMINAL:
                return
            self.stats.bump("jobs_cancelled")
            self._publish(self._finish(job, cancel_outcome(job)))

    def _finish(self, job: Job, outcome: dict) -> dict:
        """Write the last log line and the final status atomically (lock held)."""
        if self.config.logs_lag > 0:  # a real server may report the end before its last line shows
            job.hold_from, job.hold_until = len(job.logs), time.monotonic() + self.config.logs_lag
        line = job.add_log(*outcome["line"])
        job.status, job.error = outcome["status"], outcome["error"]
        job.result, job.files = outcome["result"], outcome["files"]
        job.finished_at = now_iso()
        self.active.discard(job.job_id)
        return line

    # -- reads -------------------------------------------------------------------------
    def job_json(self, job_id: str) -> dict | None:
        """Contract view of a job, or None."""
        with self.lock:
            job = self.jobs.get(job_id)
            return None if job is None else job.to_json()

    def logs_after(self, job_id: str, after: int) -> list[dict] | None:
        """Copies of the job's lines with seq > after, or None for an unknown job."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            visible = job.logs
            if job.hold_from is not None and time.monotonic() < job.hold_until:
                visible = job.logs[:job.hold_from]
            return [dict(line) for line in visible[after:]]

    def file(self, job_id: str, arquivo: str, tipo: str = DOWNLOAD) -> bytes | None:
        """Bytes of a file of a completed job of `tipo` (invoice or task output), or None."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.status != COMPLETED or job.tipo != tipo:
                return None
            return job.files.get(arquivo)

    def health(self) -> dict:
        """Body of GET /health: the 1.1 fields the knobs ask for."""
        with self.lock:
            config, running = self.config, len(self.active)
        body = {"status": "ok"}
        if not config.health_details:
            return body
        if config.version:
            body["version"] = config.version
        body["running"] = running
        if config.capacity:
            body["capacity"] = config.capacity
        if config.robot:
            body["robot"] = config.robot
        return body

    def has_job(self, job_id: str) -> bool:
        """Whether the job exists."""
        with self.lock:
            return job_id in self.jobs

    def subscribe(self, job_id: str | None) -> Subscriber:
        """Register an SSE listener."""
        subscriber = Subscriber(job_id)
        with self.lock:
            self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget an SSE listener."""
        with self.lock:
            self.subscribers.discard(subscriber)

    def snapshot(self) -> dict:
        """Stats plus gauges (active jobs, SSE clients, queued faults)."""
        with self.lock:
            gauges = {"jobs_total": len(self.jobs), "active_jobs": len(self.active),
                      "sse_clients": len(self.subscribers), "pending_faults": self.faults.pending(),
                      "peak_active_by_operadora": dict(self.peak_active)}
        return {**self.stats.snapshot(), **gauges}
