"""Real parts for the invoice cycle: the RPA simulator over HTTP, RQ worker subprocesses, Redis, the DB.

`cycle` is the harness: it points the app (and the workers it starts) at the module's simulator,
starts `python -m apps.worker` processes with the same settings as the app fixture, and stops
them at teardown; their output is printed when a test fails (always with IT_SHOW_WORKERS=1).
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from rq import Worker

from apps.core.types import db
from apps.processos.models import Processo, StatusProcesso
from tests.factories import ProcessoFactory, valid_cnpj

REPO = Path(__file__).resolve().parents[2]
SIM_KNOBS = {"job_duration": 0.5, "queue_wait": 0, "log_lines": 6, "seed": 2026}
COMPETENCIA = "2026-10"
ENV_NAMES = {"EXECUCAO_MAX_LOG_BYTES": "EXECUCAO_MAX_LOG_MB"}  # config keys read from another variable (in MB)


def wait_for(predicate, timeout=10.0, interval=0.05, message="condição"):
    """Poll `predicate` (reading the DB afresh each time) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # end the read transaction: see what the workers committed
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message}: não aconteceu em {timeout} s")
        time.sleep(interval)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item, so fixtures know whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class WorkerProcess:
    """One `python -m apps.worker` subprocess, in its own process group (with its scheduler child)."""

    def __init__(self, name, env, log_path):
        self.name, self.log_path = name, log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "apps.worker", "--name", name], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, sig=signal.SIGKILL):
        """Signal the whole group: the worker and the scheduler process it forked."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=8.0):
        """Warm shutdown (SIGTERM), then SIGKILL whatever is left of the group (an orphaned scheduler)."""
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)
        self.proc.wait(5)
        self._log.close()

    def output(self, tail=60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])


class Cycle:
    """The app, the simulator and the worker subprocesses of one test."""

    def __init__(self, app, database_url, redis_url, sim, tmp_path):
        self.app, self.sim, self.tmp_path = app, sim, tmp_path
        self.database_url, self.redis_url = database_url, redis_url
        self.workers: list[WorkerProcess] = []
        self._saved = {}
        self.configure(API_EXTERNA_URL=sim.url, API_EXTERNA_TOKEN=sim.issue_token(), BRM_TOKEN_PASSWORD="",
                       RPA_ALLOW_PRIVATE_TARGETS=True)

    def configure(self, **settings):
        """Change RPA settings for the app now and for the workers started afterwards."""
        for key, value in settings.items():
            self._saved.setdefault(key, self.app.config.get(key))
            self.app.config[key] = value

    def worker_env(self) -> dict:
        cfg = self.app.config
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RPA_", "API_EXTERNA", "BRM_", "FLASK_"))}
        env.update({
            "APP_ENV": "testing", "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
            "FATURAS_DIR": str(cfg["FATURAS_DIR"]), "INSTANCE_DIR": str(cfg["INSTANCE_DIR"]),
            "RQ_QUEUE": cfg["RQ_QUEUE"], "API_EXTERNA_URL": cfg["API_EXTERNA_URL"],
            "API_EXTERNA_TOKEN": cfg["API_EXTERNA_TOKEN"], "BRM_TOKEN_PASSWORD": cfg["BRM_TOKEN_PASSWORD"],
            "RPA_ALLOW_PRIVATE_TARGETS": "true" if cfg["RPA_ALLOW_PRIVATE_TARGETS"] else "false",
            "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO",
        })
        env.update({k: str(v) for k, v in cfg.items() if k.startswith("ARTEFATOS_") and v})  # the same storage
        # Limits a test changed with configure() reach the workers too (by the names apps.config reads).
        for key in self._saved:
            if key.startswith(("RPA_", "EXECUCAO_")) and key not in env:
                value = cfg[key]
                env[ENV_NAMES.get(key, key)] = ("true" if value else "false") if isinstance(value, bool) else str(
                    value // (1024 * 1024) if key in ENV_NAMES else value)
        return env

    def start_workers(self, n=1, wait=True) -> list[WorkerProcess]:
        """Start `n` workers; with wait=True, return once each has registered with Redis."""
        started = []
        for _ in range(n):
            name = f"it-{uuid.uuid4().hex[:8]}"
            started.append(WorkerProcess(name, self.worker_env(), self.tmp_path / f"{name}.log"))
        self.workers.extend(started)
        if wait:
            names = {w.name for w in started}
            deadline = time.monotonic() + 20
            while not names <= {w.name for w in Worker.all(connection=self.redis())}:
                dead = [w for w in started if w.proc.poll() is not None]
                if dead or time.monotonic() > deadline:
                    raise AssertionError("worker não iniciou:\n" + "\n".join(w.output() for w in started))
                time.sleep(0.05)
        return started

    def redis(self):
        return redis.Redis.from_url(self.redis_url)

    def close(self, failed=False):
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.kill(signal.SIGTERM)  # all at once: they shut down in parallel
        for worker in self.workers:
            worker.stop()
        if failed:
            for worker in self.workers:
                print(f"\n----- worker {worker.name} (rc={worker.proc.returncode}) -----\n{worker.output()}")
        for key, value in self._saved.items():
            self.app.config[key] = value


@pytest.fixture(scope="module")
def sim_knobs():
    """The knobs of each module's simulator (tests/support/sim.py): jobs that take half a second."""
    return SIM_KNOBS


@pytest.fixture
def cycle(app, database_url, redis_url, sim, tmp_path, request):
    harness = Cycle(app, database_url, redis_url, sim, tmp_path)
    yield harness
    report = getattr(request.node, "rep_call", None)
    harness.close(failed=report is None or report.failed or bool(os.environ.get("IT_SHOW_WORKERS")))


def make_processo(codigo="VIVO", nome="Padaria Aurora & Filhos <Ltda>", n=1) -> Processo:
    """An operadora with a robot, a cliente with a valid CNPJ and its processo of COMPETENCIA."""
    return ProcessoFactory(competencia=COMPETENCIA, status=StatusProcesso.AGUARDANDO_DOWNLOAD,
                           cliente__nome=nome, cliente__cnpj=valid_cnpj(n, 11222333), cliente__codigo=f"C{n}",
                           cliente__operadora__codigo=codigo)


@pytest.fixture
def processo(app):
    return make_processo()
