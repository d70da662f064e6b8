"""The whole dashboard as separate processes, for browser tests and the SSE benchmark.

gunicorn (gunicorn-cfg.py), a real RQ worker (`python -m apps.worker`), the RPA simulator,
a throw-away Redis and a migrated database (SQLite file, or PostgreSQL when asked). Every
process is started here and stopped here, by its own handle; everything listens on 127.0.0.1.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from tests.support.servers import free_port, postgres_server, redis_server, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_USER, ADMIN_PASSWORD = "operador.chefe", "Senha-Forte-Do-Teste-77"
SIM_TOKEN, SIM_PASSWORD = "token-do-simulador-para-testes", "senha-do-simulador"


class System:
    """Handles of the running processes, their URLs and a few helpers."""

    def __init__(self, workdir: Path, database: str = "sqlite", web_workers: int | None = 2):
        self.workdir, self.database, self.web_workers = workdir, database, web_workers
        self.stack = ExitStack()
        self.procs: dict[str, subprocess.Popen] = {}
        self.web_port, self.sim_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.env = {}

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, sim_knobs: dict | None = None) -> "System":
        redis_url, _proc = self.stack.enter_context(redis_server())
        if self.database == "postgresql":
            db_url = self.stack.enter_context(postgres_server())
        else:
            db_url = f"sqlite:///{self.workdir}/dashboard.db"
        self.env = self._env(db_url, redis_url)
        self.flask("db", "upgrade")
        self.flask("users", "create-admin", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD)
        self.start_simulator(sim_knobs or {})
        self.spawn("worker", [sys.executable, "-m", "apps.worker", "--name", f"browser-{os.getpid()}"])
        self.start_web()
        return self

    def _env(self, db_url: str, redis_url: str) -> dict:
        (self.workdir / "instance").mkdir(exist_ok=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SIM_", "GUNICORN_"))}
        env.update({
            "APP_ENV": "development", "SECRET_KEY": "chave-secreta-dos-testes-de-navegador-0123456789",
            "DATABASE_URL": db_url, "REDIS_URL": redis_url, "API_EXTERNA_URL": self.sim_url,
            "API_EXTERNA_TOKEN": SIM_TOKEN, "BRM_TOKEN_PASSWORD": SIM_PASSWORD,
            "FATURAS_DIR": str(self.workdir / "faturas"), "INSTANCE_DIR": str(self.workdir / "instance"),
            "RPA_POLL_INTERVAL": "0.3", "FOLLOW_LEASE_SECONDS": "5", "FLASK_APP": "apps:create_app",
            "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), "SESSION_COOKIE_SECURE": "0", "LOG_LEVEL": "WARNING",
        })
        if self.web_workers is not None:  # None: gunicorn-cfg.py's own default
            env["WEB_CONCURRENCY"] = str(self.web_workers)
        else:
            env.pop("WEB_CONCURRENCY", None)
        return env

    def flask(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} falhou:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        proc.log_file = log
        self.procs[name] = proc
        return proc

    def start_simulator(self, knobs: dict) -> None:
        cmd = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(self.sim_port), "--control",
               "--quiet", "--token", SIM_TOKEN, "--password", SIM_PASSWORD]
        for name, value in knobs.items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        self.spawn("simulator", cmd)
        wait_for_port(self.sim_port, 30)

    def restart_simulator(self, knobs: dict) -> None:
        """A fresh simulator (same port, same seed): the same random plan for the next job."""
        self._stop(self.procs.pop("simulator"))
        self.start_simulator(knobs)

    def start_web(self) -> None:
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn-cfg.py"),
               "-b", f"127.0.0.1:{self.web_port}"]
        self.spawn("web", cmd)
        self.wait_http(self.base_url + "/login", 60)

    def stop_web(self) -> None:
        """SIGTERM gunicorn's master (a deploy's restart) and wait until it has exited."""
        self._stop(self.procs.pop("web"))

    def restart_web(self) -> None:
        self.stop_web()
        self.start_web()

    def wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{url} não respondeu em {timeout}s; veja {self.workdir}/*.log")

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        proc.log_file.close()

    def stop(self) -> None:
        for name in ("web", "worker", "simulator"):
            if name in self.procs:
                self._stop(self.procs.pop(name))
        self.stack.close()

    # -- helpers ----------------------------------------------------------------------------
    def sim_config(self, **knobs) -> dict:
        response = requests.post(self.sim_url + "/_sim/config", json=knobs, timeout=5)
        response.raise_for_status()
        return response.json()

    def sim_stats(self) -> dict:
        return requests.get(self.sim_url + "/_sim/stats", timeout=5).json()

    def app(self):
        """An app object on the same database and Redis, for seeding and checking from the test."""
        from apps import create_app

        return create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": self.env["DATABASE_URL"],
                           "REDIS_URL": self.env["REDIS_URL"], "FATURAS_DIR": Path(self.env["FATURAS_DIR"]),
                           "INSTANCE_DIR": Path(self.env["INSTANCE_DIR"])})


def start_system(database: str = "sqlite", web_workers: int | None = 2, sim_knobs: dict | None = None) -> System:
    """Start everything in a fresh temporary folder; call .stop() when done."""
    workdir = Path(tempfile.mkdtemp(prefix="rpa-system-"))
    system = System(workdir, database, web_workers)
    try:
        return system.start(sim_knobs)
    except BaseException:
        system.stop()
        raise


def remove_workdir(system: System) -> None:
    shutil.rmtree(system.workdir, ignore_errors=True)
