#!/usr/bin/env python3
"""`make run`: Redis, the RPA simulator, the RQ workers, the scheduler and the web server.

Settings come from the environment, then .env. Left unset, REDIS_URL starts a local
redis-server, API_EXTERNA_URL starts the simulator, DATABASE_URL means SQLite in instance/.
RQ_WORKERS (default 2) worker processes run, each with its own name, so one operadora's slow
robot run does not hold up another's.

Once everything is up, a worker, the scheduler (agendador), the simulator or redis-server that
exits is started again with exponential backoff (1, 2, 4 ... 30 s; back to 1 s after it stayed up
STABLE_SECONDS): `rq cron` exits when Redis is away for a few seconds, and must come back by
itself. The web server is what the person uses: if gunicorn's master dies, the rest are stopped
and the exit code is 1. Ctrl-C (SIGINT or SIGTERM) stops every child in reverse start order, and
nothing is restarted after it.
"""
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
RESTART_FIRST = 1.0    # seconds before the first restart of a child that exited
RESTART_MAX = 30.0     # the backoff doubles up to this
STABLE_SECONDS = 60.0  # a child up this long restarts after RESTART_FIRST again
DEFAULT_RQ_WORKERS = 2
SIMULATOR_CAPACITY = 4  # runs each simulator reports it takes at once (SIM_CAPACITY)
_print_lock = threading.Lock()
PR_SET_PDEATHSIG = 1  # linux/prctl.h
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, before any fork: the child only calls it
except OSError:
    _LIBC = None


def _end_with_parent() -> None:
    """In the child, before exec: SIGTERM it if this supervisor dies, even by SIGKILL (Linux), so no web
    server, worker or Redis is left orphaned holding the port. Only an async-signal-safe call here. The
    signal follows the thread that started the child: every start and restart is on the main thread."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


CHILDREN = []  # every started child, in start order (registered the moment it exists)


class Failed(RuntimeError):
    """Startup cannot go on; the message is for the person at the terminal."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM before everything was up."""


def say(name: str, line: str) -> None:
    """Print one line prefixed with the name of who said it."""
    with _print_lock:
        sys.stdout.write(f"{name:<10}| {line.rstrip()}\n")
        sys.stdout.flush()


def default(env: dict, name: str, value: str) -> None:
    """Set `name` unless it already has a non-empty value (.env may hold `NAME=`)."""
    if not env.get(name):
        env[name] = value


def load_env() -> dict:
    """The environment over .env, with the defaults `make run` needs."""
    env = {}
    dotenv = ROOT / ".env"
    if dotenv.exists():
        from dotenv import dotenv_values

        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ)
    default(env, "APP_ENV", "development")
    default(env, "FLASK_APP", "apps:create_app")
    env["PYTHONUNBUFFERED"] = "1"
    instance = (ROOT / (env.get("INSTANCE_DIR") or "instance")).resolve()  # relative to the repository
    instance.mkdir(parents=True, exist_ok=True)
    env["INSTANCE_DIR"] = str(instance)
    default(env, "DATABASE_URL", f"sqlite:///{instance / 'rpa_dashboard.db'}")
    default(env, "FATURAS_DIR", str(instance / "faturas"))
    return env


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int) -> int:
    """`preferred` when free, else any free port."""
    if port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, child, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise Failed(f"{child.name} terminou ao iniciar (código {child.proc.returncode}).")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise Failed(f"{child.name} não abriu a porta {port} em {timeout:.0f} s.")


def exit_description(code: int) -> str:
    """'código 1', or 'sinal SIGKILL' for a child killed by a signal (Popen's negative code)."""
    if code < 0:
        try:
            return f"sinal {signal.Signals(-code).name}"
        except ValueError:
            return f"sinal {-code}"
    return f"código {code}"


class Child:
    """A started program whose output is printed line by line with its name.

    `cmd` is a list, or a function giving the command of each start (a fresh RQ worker name).
    `restart`: started again with backoff when it exits (see supervise()).
    """

    def __init__(self, name: str, cmd, env: dict, restart: bool = False):
        self.name, self.cmd, self.env, self.restart = name, cmd, env, restart
        self.delay, self.restart_at = RESTART_FIRST, None
        self._spawn()
        CHILDREN.append(self)  # registered the moment it exists, so a stop reaches it
        say("run_all", f"{name} iniciado (pid {self.proc.pid})")

    def _spawn(self) -> None:
        cmd = self.cmd() if callable(self.cmd) else self.cmd
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                                     start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                                     preexec_fn=_end_with_parent if sys.platform == "linux" else None)
        self.started_at = time.monotonic()
        self.reader = threading.Thread(target=self._pump, args=(self.proc,), daemon=True)
        self.reader.start()

    def _pump(self, proc):
        for line in proc.stdout:
            say(self.name, line)

    def check(self, now: float) -> None:
        """Restart when its backoff is over; notice an exit (Failed if it is not to be restarted)."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restart_at = None
                try:
                    self._spawn()
                except OSError as exc:
                    raise Failed(f"{self.name} não pôde ser reiniciado: {exc}") from exc
                say("run_all", f"{self.name} reiniciado (pid {self.proc.pid})")
            return
        code = self.proc.poll()
        if code is None:
            return
        if not self.restart:
            raise Failed(f"{self.name} terminou inesperadamente ({exit_description(code)}); parando os demais.")
        self.reader.join(2)  # its last lines first
        self._kill_group()
        if now - self.started_at >= STABLE_SECONDS:
            self.delay = RESTART_FIRST
        say("run_all", f"{self.name} terminou ({exit_description(code)}); reiniciando em {self.delay:g} s")
        self.restart_at = now + self.delay
        self.delay = min(self.delay * 2, RESTART_MAX)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of the group (workers, forks)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait, then SIGKILL the whole process group (a pending restart is dropped)."""
        self.restart_at = None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                say("run_all", f"{self.name} não parou em {timeout:.0f} s; forçando (SIGKILL)")
            except ProcessLookupError:
                pass
        self._kill_group()
        self.proc.wait()
        self.reader.join(2)


def supervise(stop: threading.Event, interval: float = 0.2) -> None:
    """Until `stop` is set: restart the children that exited, each after its backoff.

    A child not to be restarted (the web server) raises Failed. Waiting on `stop` means a Ctrl-C
    during a backoff ends the loop at once, and nothing is started after it.
    """
    while not stop.wait(interval):
        now = time.monotonic()
        for child in list(CHILDREN):
            if stop.is_set():
                return
            child.check(now)


def run_step(name: str, cmd: list, env: dict) -> str:
    """Run a setup command to the end; its output is printed and returned."""
    result = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            check=False)
    for line in (result.stdout + result.stderr).splitlines():
        say(name, line)
    if result.returncode != 0:
        raise Failed(f"o passo '{name}' falhou (código {result.returncode}).")
    return result.stdout


def start_redis(env: dict) -> None:
    if env.get("REDIS_URL"):
        say("run_all", "REDIS_URL definido: usando esse Redis (nenhum redis-server iniciado)")
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise Failed("redis-server não encontrado: rode `make setup` ou defina REDIS_URL.")
    port = pick_port(6379)
    data = Path(env["INSTANCE_DIR"]) / "redis"
    data.mkdir(exist_ok=True)
    # Restarted on the same port if it dies: the other children already hold this URL.
    child = Child("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--maxmemory-policy", "noeviction", "--dir", str(data), "--loglevel", "warning"], env,
                  restart=True)
    wait_port(port, child)
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"


def simulator_secrets(instance: Path) -> dict:
    """Token, password and JWT secret shared by the simulator and the dashboard (kept across runs)."""
    path = instance / "simulator_secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"token": secrets.token_urlsafe(32), "password": secrets.token_urlsafe(18),
              "jwt_secret": secrets.token_urlsafe(32)}
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def simulator_count(env: dict) -> int:
    value = (env.get("SIMULATORS") or "1").strip()
    if not value.isdigit() or not 1 <= int(value) <= 16:
        raise Failed(f"SIMULATORS inválido: {value!r} (use um número de 1 a 16).")
    return int(value)


def start_simulator(env: dict) -> list:
    """Start SIMULATORS simulators on successive ports (the first is API_EXTERNA_URL); their URLs, to register
    as robots. Robots on 127.0.0.1 need RPA_ALLOW_PRIVATE_TARGETS, set here only because we started them."""
    if env.get("API_EXTERNA_URL"):
        say("run_all", f"API_EXTERNA_URL definido: usando {env['API_EXTERNA_URL']} (simulador não iniciado)")
        return []
    stored = simulator_secrets(Path(env["INSTANCE_DIR"]))
    default(env, "API_EXTERNA_TOKEN", stored["token"])
    default(env, "BRM_TOKEN_PASSWORD", stored["password"])
    default(env, "RPA_ALLOW_PRIVATE_TARGETS", "true")
    base, urls = int(env.get("SIM_PORT") or 8000), []
    for number in range(1, simulator_count(env) + 1):
        port = pick_port(base + number - 1)
        sim_env = dict(env, SIM_TOKEN=env["API_EXTERNA_TOKEN"],
                       SIM_JWT_SECRET=env.get("SIM_JWT_SECRET") or stored["jwt_secret"],
                       SIM_ROBOT=env.get("SIM_ROBOT") or f"simulador-{number}",
                       SIM_CAPACITY=env.get("SIM_CAPACITY") or str(SIMULATOR_CAPACITY))
        cmd = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port), "--quiet"]
        child = Child("simulador" if number == 1 else f"simulador-{number}", cmd, sim_env, restart=True)
        wait_port(port, child)
        urls.append(f"http://127.0.0.1:{port}")
    env["API_EXTERNA_URL"] = urls[0]
    return urls


def register_simulators(env: dict, urls: list) -> None:
    """Each simulator as a robot (an upsert by URL: a database from an earlier run keeps its robots)."""
    for number, url in enumerate(urls, 1):
        run_step("robos", [sys.executable, "-m", "flask", "robos", "registrar", "--url", url,
                           "--nome", f"simulador-{number}",
                           "--capacidade", env.get("SIM_CAPACITY") or str(SIMULATOR_CAPACITY)], env)


def admin_login(env: dict) -> tuple:
    """Create the first admin if missing; returns (username, password shown in the banner)."""
    username = env.get("ADMIN_USERNAME") or "admin"
    saved = Path(env["INSTANCE_DIR"]) / "admin_password"
    given = env.get("ADMIN_PASSWORD")
    password = given or (saved.read_text().strip() if saved.exists() else "")
    while not password or username.lower() in password.lower():
        password = secrets.token_urlsafe(12)
    out = run_step("admin", [sys.executable, "-m", "flask", "users", "create-admin", "--if-missing"],
                   dict(env, ADMIN_USERNAME=username, ADMIN_PASSWORD=password))
    created = "Admin criado" in out
    if created and not given:
        saved.write_text(password + "\n")
        saved.chmod(0o600)
    if given and created:
        return username, "(a definida em ADMIN_PASSWORD)"
    if given or not saved.exists():
        return username, "(o usuário já existia: a senha dele não foi alterada)"
    return username, password


def web_command(env: dict, port: int) -> list:
    bind = f"{env.get('HOST') or '127.0.0.1'}:{port}"
    cmd = [sys.executable, "-m", "gunicorn"]
    if (ROOT / "gunicorn-cfg.py").exists():
        cmd += ["-c", "gunicorn-cfg.py"]
    else:
        cmd += ["-k", "gevent", "--workers", "1"]
    return cmd + ["--bind", bind, "apps:create_app()"]


def wait_http(url: str, timeout: float = READY_TIMEOUT) -> None:
    """Until `url` answers 200 (a child that dies meanwhile fails the start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive()
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (our own http:// URL)
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise Failed(f"{url} não respondeu em {timeout:.0f} s.")


def check_alive() -> None:
    """While starting, any child that exits fails the start (a crash at boot is not restarted)."""
    for child in CHILDREN:
        if child.proc.poll() is not None:
            raise Failed(f"{child.name} terminou ao iniciar ({exit_description(child.proc.returncode)}); "
                         "parando os demais.")


def rq_workers(env: dict) -> int:
    value = (env.get("RQ_WORKERS") or str(DEFAULT_RQ_WORKERS)).strip()
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise Failed(f"RQ_WORKERS inválido: {value!r} (use um número de 1 a 64).")
    return int(value)


def worker_command(name: str):
    """A fresh RQ name at each start: a killed worker's name stays registered in Redis for a while."""
    return lambda: [sys.executable, "-m", "apps.worker", "--name", f"{name}-{secrets.token_hex(4)}"]


def mask_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@/]+@", r"://\1:***@", url)


def banner(env: dict, url: str, login: tuple, simulated: bool) -> None:
    lines = [
        f"RPA Dashboard no ar: {url}",
        f"Login: {login[0]}   Senha: {login[1]}",
        f"API RPA{' (simulador)' if simulated else ''}: {env['API_EXTERNA_URL']}",
        f"Redis: {mask_url(env['REDIS_URL'])}   Banco: {mask_url(env['DATABASE_URL'])}",
        "Para parar: Ctrl-C (encerra web, agendador, workers, simulador e Redis, nessa ordem).",
    ]
    with _print_lock:
        print("=" * 72 + "\n" + "\n".join(f"  {line}" for line in lines) + "\n" + "=" * 72, flush=True)


def seed_demo(env: dict) -> None:
    """Demo data on an empty database only (DEMO=1: any), never a month the schedule would not open
    (apps/core/demo_on_start.py); DEMO_SEED=0 skips it altogether."""
    if env.get("DEMO_SEED", "1").strip().lower() in {"0", "false", "no", "off", "nao", "não"}:
        return
    run_step("demo", [sys.executable, "-m", "apps.core.demo_on_start"], env)


def start_all(env: dict) -> None:
    simulated = not env.get("API_EXTERNA_URL")
    explicit_port = bool(env.get("PORT"))
    port = int(env.get("PORT") or 5050)
    workers = rq_workers(env)
    if not port_free(port, env.get("HOST") or "127.0.0.1"):
        if explicit_port:
            raise Failed(f"a porta {port} (PORT) já está em uso: escolha outra.")
        port = pick_port(port)
    start_redis(env)
    simulators = start_simulator(env)
    run_step("migrate", [sys.executable, "-m", "flask", "db", "upgrade"], env)
    register_simulators(env, simulators)
    login = admin_login(env)
    seed_demo(env)
    for number in range(1, workers + 1):
        Child(f"worker-{number}", worker_command(f"worker-{number}"), env, restart=True)
    rq_bin = BIN / "rq" if (BIN / "rq").exists() else shutil.which("rq") or "rq"
    Child("agendador", [str(rq_bin), "cron", "apps/cron.py", "--url", env["REDIS_URL"]], env, restart=True)
    Child("web", web_command(env, port), env)
    host = env.get("HOST") or "127.0.0.1"
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"  # noqa: S104 (the address to browse)
    wait_http(url + "/login")
    banner(env, url, login, simulated)


def main() -> int:
    stop, started = threading.Event(), threading.Event()

    def on_signal(*_):
        stop.set()
        if not started.is_set():
            raise Interrupted()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        start_all(load_env())
        started.set()
        supervise(stop)
        say("run_all", "parando...")
    except Failed as exc:
        say("run_all", f"ERRO: {exc}")
        code = 1
    except Interrupted:
        say("run_all", "interrompido durante a partida; parando o que já foi iniciado")
        code = 130
    finally:
        started.set()  # a second Ctrl-C while stopping must not abort the stop
        for child in reversed(CHILDREN):
            child.stop()
            say("run_all", f"{child.name} parado (código {child.proc.returncode})")
    return code


if __name__ == "__main__":
    sys.exit(main())
