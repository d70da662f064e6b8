"""Two "machines" on one host: each a gunicorn web instance, an RQ worker and an `rq cron` scheduler,
sharing one PostgreSQL, one Redis, one invoice directory and one RPA simulator, with nginx (rendered
from deploy/nginx.conf, the file docker compose uses) balancing the two web instances.

Every process of a machine runs in its own process group, so `Machine.kill()` is a lost host: SIGKILL
to web (master and workers), worker (and its scheduler thread) and scheduler at once.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET_KEY = "cluster-lane-secret-key-shared-by-every-instance"  # noqa: S105 - test only
ADMIN_PASSWORD = "Laranja-Cluster-2026!"  # noqa: S105 - test only
SIM_TOKEN = "cluster-sim-static-token"  # noqa: S105 - test only
UPSTREAM_LINE = re.compile(r"^(\s*)server \$\{WEB_UPSTREAM\}(.*)$", re.MULTILINE)


class Process:
    """One child in its own process group, its output in a file under the lane's directory."""

    def __init__(self, name: str, cmd: list, env: dict, logdir: Path):
        self.name, self.log_path = name, logdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def signal(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal(signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"----- {self.name} -----\n" + "\n".join(text[-lines:])


class Machine:
    """web + worker + scheduler of one host."""

    def __init__(self, name: str, env: dict, logdir: Path, with_scheduler: bool):
        self.name, self.port = name, free_port()
        self.env = {**env, "INSTANCE_NAME": name, "PORT": str(self.port),
                    "INSTANCE_DIR": str(logdir / f"instance-{name}")}
        Path(self.env["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs = [
            Process(f"{name}-web", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn-cfg.py"),
                                    "-b", f"127.0.0.1:{self.port}"], self.env, logdir),
            Process(f"{name}-worker", [sys.executable, "-m", "apps.worker", "--name", f"{name}-worker"], self.env, logdir),
        ]
        self.scheduler = None
        if with_scheduler:
            self.start_scheduler(logdir)

    def start_scheduler(self, logdir: Path) -> None:
        self.scheduler = Process(f"{self.name}-scheduler", [str(BIN / "rq"), "cron", "apps/cron.py", "--url",
                                                            self.env["REDIS_URL"]], self.env, logdir)
        self.procs.append(self.scheduler)

    def kill(self) -> None:
        """The whole machine is lost at once."""
        for proc in self.procs:
            proc.signal(signal.SIGKILL)
        for proc in self.procs:
            proc.proc.wait(10)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def render_nginx(workdir: Path, port: int, upstreams: list[str]) -> Path:
    """deploy/nginx.conf with one `server` line per web instance, inside a minimal main config."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site, count = UPSTREAM_LINE.subn(lambda m: "\n".join(f"{m.group(1)}server {u}{m.group(2)}" for u in upstreams), site)
    assert count == 1, "deploy/nginx.conf must have exactly one `server ${WEB_UPSTREAM}` line"
    site = site.replace("${NGINX_PORT}", f"127.0.0.1:{port}")
    unfilled = [line for line in site.splitlines() if "${" in line and not line.lstrip().startswith("#")]
    assert not unfilled, f"deploy/nginx.conf has variables the lane does not fill: {unfilled}"
    (workdir / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = " ".join(f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = (f"{user}worker_processes 1;\ndaemon off;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
            f"events {{ worker_connections 4096; }}\nhttp {{\n  access_log {workdir / 'access.log'};\n  {temp}\n"
            f"  include {workdir / 'site.conf'};\n}}\n")
    conf = workdir / "nginx.conf"
    conf.write_text(main)
    return conf


class Cluster:
    """The whole lane: start with `Cluster(pg_url, redis_url).start()`, `stop()` at the end."""

    def __init__(self, database_url: str, redis_url: str):
        self.workdir = Path(tempfile.mkdtemp(prefix="rpa-cluster-"))
        self.database_url, self.redis_url = database_url, redis_url
        self.sim_port, self.nginx_port = free_port(), free_port()
        self.sim_url, self.url = f"http://127.0.0.1:{self.sim_port}", f"http://127.0.0.1:{self.nginx_port}"
        self.env = self._env()
        self.machines: dict[str, Machine] = {}
        self.others: list[Process] = []

    def _env(self) -> dict:
        faturas = self.workdir / "faturas"  # shared storage: both machines see the same files
        faturas.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SIM_", "RPA_", "EXECUCAO_"))}
        env.update({
            "APP_ENV": "production", "SECRET_KEY": SECRET_KEY, "SESSION_COOKIE_SECURE": "false", "HSTS_SECONDS": "0",
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "FATURAS_DIR": str(faturas),
            "API_EXTERNA_URL": self.sim_url, "API_EXTERNA_TOKEN": SIM_TOKEN, "PROXY_FIX": "1",
            "WEB_CONCURRENCY": "1", "JSON_LOGS": "false", "LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1",
            "API_RATE_LIMIT": "120 per minute", "FLASK_APP": "apps:create_app", "ADMIN_PASSWORD": ADMIN_PASSWORD,
            # The simulator (its own knobs; the dashboard ignores SIM_*)
            "SIM_TOKEN": SIM_TOKEN, "SIM_JOB_DURATION": "3", "SIM_QUEUE_WAIT": "0", "SIM_LOG_LINES": "6",
            "SIM_SEED": "2026",
        })
        return env

    def flask(self, *args) -> str:
        done = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self, schedulers: bool = False) -> "Cluster":
        self.flask("db", "upgrade")
        self.flask("users", "create-admin", "--if-missing")
        self.others.append(Process("simulator", [sys.executable, "-m", "simulator", "--port", str(self.sim_port),
                                                 "--control", "--quiet"], self.env, self.workdir))
        for name in ("A", "B"):
            self.machines[name] = Machine(name, self.env, self.workdir, with_scheduler=schedulers)
        conf = render_nginx(self.workdir, self.nginx_port, [f"127.0.0.1:{m.port}" for m in self.machines.values()])
        self.others.append(Process("nginx", [shutil.which("nginx"), "-c", str(conf), "-p", str(self.workdir)],
                                   self.env, self.workdir))
        for port in (self.sim_port, self.nginx_port, *(m.port for m in self.machines.values())):
            wait_for_port(port, timeout=60)
        for machine in self.machines.values():
            wait_until(lambda m=machine: _ok(f"{m.url}/healthz"), 60, f"{machine.name} responde /healthz")
        return self

    def start_schedulers(self) -> None:
        for machine in self.machines.values():
            machine.start_scheduler(self.workdir)

    def stop(self) -> None:
        for machine in self.machines.values():
            machine.stop()
        for proc in reversed(self.others):
            proc.stop()

    def logs(self) -> str:
        procs = [p for m in self.machines.values() for p in m.procs] + self.others
        return "\n".join(p.tail() for p in procs)


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: não aconteceu em {timeout:g} s")
        time.sleep(interval)
