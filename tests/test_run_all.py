"""`make run` (scripts/run_all.py) as a person uses it: start, log in, a crashed scheduler or worker
started again with backoff, Ctrl-C or SIGTERM, nothing left behind."""
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import USING_POSTGRES, repo_root
from tests.support.servers import free_port

SCRIPT = repo_root() / "scripts" / "run_all.py"
# Set empty, not removed: the environment wins over a developer's .env, so nothing leaks in from it.
BLANKED = ("REDIS_URL", "API_EXTERNA_URL", "API_EXTERNA_TOKEN", "BRM_TOKEN_PASSWORD", "DATABASE_URL",
           "ADMIN_USERNAME", "ADMIN_PASSWORD", "FATURAS_DIR", "HOST", "DEMO_SEED", "RQ_WORKERS",
           "PROMETHEUS_MULTIPROC_DIR")
REMOVED = ("SIM_TOKEN", "SIM_PORT", "PORT")


def _env(instance: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in REMOVED}
    env.update(dict.fromkeys(BLANKED, ""))
    env.update(INSTANCE_DIR=str(instance), PORT=str(free_port()), APP_ENV="development", WEB_CONCURRENCY="1", **extra)
    return env


class Supervisor:
    """run_all.py in the background, its output collected line by line."""

    def __init__(self, env):
        self.proc = subprocess.Popen([sys.executable, str(SCRIPT)], cwd=repo_root(), env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.lines, self._queue = [], queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)

    def wait_for(self, pattern: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                assert self._reader.is_alive(), "run_all terminou:\n" + "".join(self.lines[-40:])
                continue
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"'{pattern}' não apareceu em {timeout} s:\n" + "".join(self.lines[-40:]))

    def finish(self, timeout: float) -> int:
        """Wait for the exit code, then for the last lines of output."""
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def pids(self) -> dict:
        found = (re.search(r"\| (\S+) (?:re)?iniciado \(pid (\d+)\)", line) for line in self.lines)
        return {m[1]: int(m[2]) for m in found if m}

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def descendants(pid: int) -> set:
    """Every process below `pid`, read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _login(url: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/login", timeout=10)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)[1]
    answer = session.post(url + "/login", data={"login": "admin", "password": password, "csrf_token": token},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    return session


def test_make_run_starts_everything_logs_in_and_ctrl_c_stops_it_all(tmp_path, database_url):
    extra = {"DATABASE_URL": database_url} if USING_POSTGRES else {}
    run = Supervisor(_env(tmp_path, **extra))
    try:
        url = run.wait_for(r"RPA Dashboard no ar: (http://\S+)", timeout=120)[1]
        password = run.wait_for(r"Login: admin\s+Senha: (\S+)", timeout=5)[1]
        sim_url = run.wait_for(r"API RPA \(simulador\): (http://\S+)", timeout=5)[1]
        pids = run.pids()
        assert set(pids) == {"redis", "simulador", "worker-1", "worker-2", "agendador", "web"}
        everything = descendants(run.proc.pid) | set(pids.values())

        session = _login(url, password)
        assert session.get(url + "/", timeout=10).status_code == 200
        page = session.get(url + "/agendamentos", timeout=10)
        assert page.status_code == 200 and "primeiro dia útil" in page.text
        assert (tmp_path / "admin_password").read_text().strip() == password
        if not USING_POSTGRES:
            assert (tmp_path / "rpa_dashboard.db").exists()

        # The dashboard and the simulator share a token: the simulator accepts it.
        token = json.loads((tmp_path / "simulator_secrets.json").read_text())["token"]
        authorized = requests.get(sim_url + "/jobs/nao-existe", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert authorized.status_code == 404
        refused = requests.get(sim_url + "/jobs/nao-existe", headers={"Authorization": "Bearer errado"}, timeout=5)
        assert refused.status_code == 401

        run.proc.send_signal(signal.SIGINT)
        assert run.finish(45) == 0, "".join(run.lines[-30:])
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in everything) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in everything if alive(pid)] == []
        stopped = [line.split("| ")[1].split()[0] for line in run.lines if " parado (código" in line]
        assert stopped == ["web", "agendador", "worker-2", "worker-1", "simulador", "redis"]
    finally:
        run.kill()


def _rq_worker_names(redis_url: str) -> set:
    import redis
    from rq import Worker

    connection = redis.Redis.from_url(redis_url)
    try:
        return {worker.name for worker in Worker.all(connection=connection)}
    finally:
        connection.close()


def _wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: não aconteceu em {timeout} s")


def test_make_run_restarts_a_killed_scheduler_and_worker_and_sigterm_still_stops_everything(tmp_path, database_url):
    extra = {"DATABASE_URL": database_url} if USING_POSTGRES else {}
    run = Supervisor(_env(tmp_path, DEMO_SEED="0", **extra))
    try:
        run.wait_for(r"RPA Dashboard no ar: (http://\S+)", timeout=120)
        redis_url = run.wait_for(r"Redis: (redis://\S+)", timeout=5)[1]
        pids = run.pids()
        # Two RQ workers, each under its own name (one slow robot run does not hold the other).
        names = _wait_until(lambda: (found := _rq_worker_names(redis_url)) and len(found) == 2 and found, 30,
                            "dois workers registrados")
        first_worker_1 = next(name for name in names if name.startswith("worker-1-"))
        assert any(name.startswith("worker-2-") for name in names)

        # The scheduler killed: started again after 1 s, then after 2 s when it dies again at once.
        os.kill(pids["agendador"], signal.SIGKILL)
        run.wait_for(r"\| agendador terminou \(sinal SIGKILL\); reiniciando em 1 s$", timeout=10)
        second = int(run.wait_for(r"\| agendador reiniciado \(pid (\d+)\)", timeout=10)[1])
        assert second != pids["agendador"] and alive(second)
        os.kill(second, signal.SIGKILL)
        noticed = time.monotonic()
        run.wait_for(r"\| agendador terminou \(sinal SIGKILL\); reiniciando em 2 s$", timeout=10)
        third = int(run.wait_for(r"\| agendador reiniciado \(pid (\d+)\)", timeout=10)[1])
        assert time.monotonic() - noticed >= 1.9 and alive(third)

        # A worker killed mid-way comes back under a new RQ name; the web server kept serving.
        os.kill(pids["worker-1"], signal.SIGKILL)
        run.wait_for(r"\| worker-1 terminou \(sinal SIGKILL\); reiniciando em 1 s$", timeout=10)
        new_worker = int(run.wait_for(r"\| worker-1 reiniciado \(pid (\d+)\)", timeout=10)[1])
        _wait_until(lambda: any(n.startswith("worker-1-") and n != first_worker_1 for n in _rq_worker_names(redis_url)),
                    30, "o worker-1 reiniciado se registrou no Redis")
        assert alive(new_worker) and alive(pids["web"]) and run.proc.poll() is None

        # SIGTERM while a restart is pending: everything stops, and nothing is started again.
        everything = descendants(run.proc.pid) | set(run.pids().values())
        os.kill(third, signal.SIGKILL)
        run.wait_for(r"\| agendador terminou \(sinal SIGKILL\); reiniciando em 4 s$", timeout=10)
        run.proc.send_signal(signal.SIGTERM)
        assert run.finish(45) == 0, "".join(run.lines[-30:])
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in everything) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in everything if alive(pid)] == []
        after_stop = run.lines[next(i for i, line in enumerate(run.lines) if "parando..." in line):]
        assert not any("reiniciado" in line for line in after_stop)
        stopped = [line.split("| ")[1].split()[0] for line in run.lines if " parado (código" in line]
        assert stopped == ["web", "agendador", "worker-2", "worker-1", "simulador", "redis"]
    finally:
        run.kill()


def test_a_supervisor_killed_by_sigkill_leaves_no_orphan(tmp_path):
    """`make run` killed by SIGKILL cannot stop its children: the kernel tells each (parent-death signal)."""
    run = Supervisor(_env(tmp_path, DEMO_SEED="0"))
    try:
        run.wait_for(r"RPA Dashboard no ar: (http://\S+)", timeout=120)
        children = run.pids()
        assert {"web", "worker-1", "agendador", "redis"} <= set(children), children
        assert all(alive(pid) for pid in children.values())
        os.kill(run.proc.pid, signal.SIGKILL)  # the supervisor alone: its children are in their own sessions
        run.proc.wait(10)
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in children.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {name: pid for name, pid in children.items() if alive(pid)} == {}
    finally:
        for pid in run.pids().values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        run.kill()


def test_a_failed_step_stops_what_was_started_and_exits_non_zero(tmp_path):
    run = Supervisor(_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/nao/existe/x.db"))
    try:
        assert run.finish(90) == 1
        run.wait_for(r"ERRO: o passo 'migrate' falhou", timeout=5)
        pids = run.pids()
        assert set(pids) == {"redis", "simulador"}
        assert not any(alive(pid) for pid in pids.values())
    finally:
        run.kill()


def _run_all_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import run_all
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return run_all


class _Output:
    """What run_all's say() printed, read while the supervising loop runs in a thread."""

    def __init__(self, capsys):
        self.capsys, self.text = capsys, ""

    def wait_for(self, pattern: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.text += self.capsys.readouterr().out
            if re.search(pattern, self.text, re.M):
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError(f"'{pattern}' não apareceu em {timeout} s:\n{self.text}")


def _supervising(run_all, monkeypatch):
    monkeypatch.setattr(run_all, "CHILDREN", [])
    stop = threading.Event()
    thread = threading.Thread(target=run_all.supervise, args=(stop, 0.05), daemon=True)
    return stop, thread


def test_a_child_that_exits_is_restarted_with_doubling_backoff_and_a_stop_wins(monkeypatch, capsys):
    run_all = _run_all_module()
    stop, thread = _supervising(run_all, monkeypatch)
    child = run_all.Child("agendador", [sys.executable, "-c", "print('subi'); raise SystemExit(1)"],
                          dict(os.environ), restart=True)
    out = _Output(capsys)
    thread.start()
    try:
        first = out.wait_for(r"^run_all\s*\| agendador terminou \(código 1\); reiniciando em 1 s$", 10)
        second = out.wait_for(r"reiniciando em 2 s$", 10)
        third = out.wait_for(r"reiniciando em 4 s$", 10)
        assert second - first >= 0.95 and third - second >= 1.95
        assert out.text.count("agendador reiniciado (pid") == 2
        assert re.findall(r"^agendador\s*\| subi$", out.text, re.M) == ["agendador | subi"] * 3
        stop.set()  # during the 4 s wait: the loop ends at once and starts nothing
        thread.join(1)
        assert not thread.is_alive()
        time.sleep(0.3)
        out.text += capsys.readouterr().out
        assert out.text.count("agendador reiniciado (pid") == 2 and child.proc.poll() == 1
    finally:
        stop.set()
        child.stop()


def test_the_backoff_starts_over_after_the_child_stayed_up(monkeypatch, capsys):
    run_all = _run_all_module()
    monkeypatch.setattr(run_all, "STABLE_SECONDS", 0.3)
    stop, thread = _supervising(run_all, monkeypatch)
    child = run_all.Child("worker-1", [sys.executable, "-c", "import time; time.sleep(0.6); raise SystemExit(3)"],
                          dict(os.environ), restart=True)
    out = _Output(capsys)
    thread.start()
    try:
        out.wait_for(r"worker-1 terminou \(código 3\); reiniciando em 1 s$", 10)
        out.wait_for(r"worker-1 reiniciado", 10)
        out.wait_for(r"worker-1 terminou \(código 3\); reiniciando em 1 s\n(.|\n)*terminou \(código 3\)", 10)
        assert "reiniciando em 2 s" not in out.text
    finally:
        stop.set()
        thread.join(2)
        child.stop()


def test_the_web_server_exiting_is_not_restarted_but_stops_the_run(monkeypatch):
    run_all = _run_all_module()
    monkeypatch.setattr(run_all, "CHILDREN", [])
    child = run_all.Child("web", [sys.executable, "-c", "raise SystemExit(2)"], dict(os.environ))
    try:
        with pytest.raises(run_all.Failed, match=r"web terminou inesperadamente \(código 2\)"):
            run_all.supervise(threading.Event(), 0.05)
    finally:
        child.stop()


def test_the_demo_seed_step_runs_the_guarded_entry_point_and_demo_seed_0_skips_it(monkeypatch):
    run_all = _run_all_module()
    steps = []
    monkeypatch.setattr(run_all, "run_step", lambda name, cmd, env: steps.append((name, cmd[1:])))
    run_all.seed_demo({})
    run_all.seed_demo({"DEMO_SEED": "0"})
    assert steps == [("demo", ["-m", "apps.core.demo_on_start"])]


def test_restarting_make_run_on_a_database_with_data_seeds_nothing(tmp_path):
    """The demo step itself, run twice on one SQLite file as two starts of `make run` would."""
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/demo.db", FLASK_APP="apps:create_app",
               SECRET_KEY="chave-dos-testes-do-make-run-0123456789abcdef", DEMO="")

    def step(*args, **extra):
        result = subprocess.run([sys.executable, *args], cwd=repo_root(), env={**env, **extra},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    step("-m", "flask", "db", "upgrade")
    first = step("-m", "apps.core.demo_on_start")
    assert re.search(r"4 operadora\(s\), 40 cliente\(s\)", first)
    second = step("-m", "apps.core.demo_on_start")
    assert "o banco já tem dados; nada foi criado" in second
    forced = step("-m", "apps.core.demo_on_start", DEMO="1")
    assert "0 cliente(s)" in forced and "0 processo(s)" in forced or "nenhum processo" in forced


def test_rq_workers_is_a_small_positive_number():
    run_all = _run_all_module()
    assert run_all.rq_workers({}) == 2 and run_all.rq_workers({"RQ_WORKERS": "4"}) == 4
    for bad in ("0", "dois", "-1", "100"):
        with pytest.raises(run_all.Failed, match="RQ_WORKERS inválido"):
            run_all.rq_workers({"RQ_WORKERS": bad})
    command = run_all.worker_command("worker-2")
    first, second = command(), command()
    assert first[-2] == "--name" and first[-1].startswith("worker-2-") and first[-1] != second[-1]


def test_settings_come_from_the_environment_over_dotenv_with_sqlite_in_instance_by_default(tmp_path, monkeypatch):
    run_all = _run_all_module()
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    (tmp_path / ".env").write_text("REDIS_URL=redis://do-dotenv:6379/0\nRQ_QUEUE=fila-do-dotenv\nDATABASE_URL=\n")
    monkeypatch.setenv("REDIS_URL", "redis://do-ambiente:6379/0")
    for name in ("DATABASE_URL", "INSTANCE_DIR", "APP_ENV", "FATURAS_DIR", "RQ_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    env = run_all.load_env()
    assert env["REDIS_URL"] == "redis://do-ambiente:6379/0"
    assert env["RQ_QUEUE"] == "fila-do-dotenv"
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'rpa_dashboard.db'}"
    assert env["APP_ENV"] == "development" and env["FATURAS_DIR"] == str(tmp_path / "instance" / "faturas")


def test_the_generated_admin_password_is_kept_for_the_next_run(tmp_path, monkeypatch):
    # The real create-admin runs in the test above; here, what a second `make run` prints.
    run_all = _run_all_module()
    answers = iter(["Admin criado: admin / senha: x", "Usuário admin já existe; nada a fazer."])
    sent = []

    def fake_step(name, cmd, env):
        sent.append(env["ADMIN_PASSWORD"])
        return next(answers)

    monkeypatch.setattr(run_all, "run_step", fake_step)
    env = _env(tmp_path)
    first = run_all.admin_login(dict(env))
    second = run_all.admin_login(dict(env))
    assert first[0] == "admin" and len(first[1]) >= 12 and "admin" not in first[1].lower()
    assert second == first and sent == [first[1], first[1]]
    assert (tmp_path / "admin_password").stat().st_mode & 0o077 == 0


def test_an_admin_created_elsewhere_is_not_given_a_made_up_password(tmp_path, monkeypatch):
    run_all = _run_all_module()
    monkeypatch.setattr(run_all, "run_step", lambda *a: "Usuário admin já existe; nada a fazer.")
    assert run_all.admin_login(_env(tmp_path)) == ("admin", "(o usuário já existia: a senha dele não foi alterada)")
    assert not (tmp_path / "admin_password").exists()


def test_a_password_given_in_the_environment_is_used_and_not_printed(tmp_path, monkeypatch):
    run_all = _run_all_module()
    seen = {}

    def fake_step(name, cmd, env):
        seen.update(cmd=cmd, user=env["ADMIN_USERNAME"], password=env["ADMIN_PASSWORD"])
        return "Admin criado: chefe"

    monkeypatch.setattr(run_all, "run_step", fake_step)
    env = _env(tmp_path, ADMIN_USERNAME="chefe", ADMIN_PASSWORD="Outra-Senha-Forte-1")
    assert run_all.admin_login(env) == ("chefe", "(a definida em ADMIN_PASSWORD)")
    assert seen == {"cmd": [sys.executable, "-m", "flask", "users", "create-admin", "--if-missing"],
                    "user": "chefe", "password": "Outra-Senha-Forte-1"}
    assert not (tmp_path / "admin_password").exists()


# --- Docker files: docker cannot run here, so check what they reference exists ---------------

def _compose():
    import yaml

    return yaml.safe_load((repo_root() / "docker-compose.yml").read_text())


def test_compose_has_every_service_and_they_wait_for_migrate():
    services = _compose()["services"]
    assert set(services) == {"web", "worker", "scheduler", "redis", "postgres", "rpa-simulator", "migrate", "nginx"}
    for name in ("web", "worker", "scheduler"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["environment"]["APP_ENV"] == "production"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    assert "noeviction" in services["redis"]["command"] and services["redis"]["image"] == "redis:7"
    assert services["postgres"]["image"] == "postgres:15"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    for name in ("web", "worker"):
        assert "faturas:/data/faturas" in services[name]["volumes"], name
    assert set(_compose()["volumes"]) >= {"faturas", "postgres-data"}
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_compose_restarts_workers_and_scheduler_and_gives_the_web_a_metrics_tmpfs():
    services = _compose()["services"]
    for name in ("web", "worker", "scheduler", "rpa-simulator"):
        assert services[name]["restart"] == "unless-stopped", name
    assert services["worker"]["deploy"]["replicas"] == "${RQ_WORKERS:-2}"
    folder = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert folder in [entry.split(":")[0] for entry in services["web"]["tmpfs"]]
    assert "PROMETHEUS_MULTIPROC_DIR" not in services["worker"]["environment"]


def test_compose_scales_web_and_worker_behind_nginx():
    """`docker compose up --scale web=3 --scale worker=4`: no fixed name or host port on a scaled service,
    nginx (rendered from deploy/nginx.conf, the cluster lane's file) is the one published entry point."""
    services = _compose()["services"]
    for name in ("web", "worker"):
        assert "container_name" not in services[name] and "ports" not in services[name], name
    nginx = services["nginx"]
    assert nginx["volumes"][0] == "./deploy/nginx.conf:/etc/nginx/templates/default.conf.template:ro"
    assert nginx["volumes"][1] == "./deploy/nginx-main.conf:/etc/nginx/nginx.conf:ro"
    assert nginx["environment"]["WEB_UPSTREAM"] == f"web:{services['web']['environment']['PORT']}"
    assert nginx["ports"] and nginx["depends_on"]["web"]["condition"] == "service_healthy"
    template = (repo_root() / "deploy" / "nginx.conf").read_text()
    assert "${WEB_UPSTREAM}" in template and "${NGINX_PORT}" in template
    assert "proxy_buffering off" in template and "Last-Event-ID" in template
    assert services["web"]["environment"]["PROXY_FIX"] == "1"
    assert "--appendonly" in services["redis"]["command"]


def test_compose_nginx_holds_ten_thousand_live_log_viewers():
    """Each open SSE viewer is two nginx connections (browser and upstream), held for minutes: the
    image's worker_connections 1024 (and 1024 file descriptors) stop a worker at ~500 viewers."""
    services = _compose()["services"]
    main = (repo_root() / "deploy" / "nginx-main.conf").read_text()
    connections = int(re.search(r"^\s*worker_connections\s+(\d+);", main, re.MULTILINE)[1])
    files = int(re.search(r"^\s*worker_rlimit_nofile\s+(\d+);", main, re.MULTILINE)[1])
    assert connections >= 2 * 10_000
    assert files > connections
    assert services["nginx"]["ulimits"]["nofile"]["hard"] >= files
    assert "include /etc/nginx/conf.d/*.conf;" in main  # where the image renders deploy/nginx.conf


def test_compose_healthchecks_use_routes_that_exist(app):
    services = _compose()["services"]
    probe = services["web"]["healthcheck"]["test"][-1]
    path = re.search(r"127\.0\.0\.1:5050(/\S*?)'", probe)[1]
    assert path in {rule.rule for rule in app.url_map.iter_rules()}
    assert "/health'" in services["rpa-simulator"]["healthcheck"]["test"][-1]


def test_compose_commands_point_at_things_that_exist(runner):
    services = _compose()["services"]
    root = repo_root()
    web = services["web"]["command"]
    assert web[:2] == ["gunicorn", "-c"] and (root / web[2]).is_file()
    assert services["worker"]["command"] == ["python", "-m", "apps.worker"] and (root / "apps" / "worker.py").is_file()
    cron = services["scheduler"]["command"]
    assert cron[:2] == ["rq", "cron"] and (root / cron[2]).is_file()
    assert cron[cron.index("--url") + 1] == services["web"]["environment"]["REDIS_URL"]
    sim = services["rpa-simulator"]["command"]
    assert sim[:3] == ["python", "-m", "simulator"] and (root / "simulator" / "__main__.py").is_file()
    assert "--host" in sim and sim[sim.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (inside its container)
    for step in services["migrate"]["command"][-1].split("&&"):
        words = step.split()
        assert words[0] == "flask"
        result = runner.invoke(args=[*[w for w in words[1:] if not w.startswith("--")], "--help"])
        assert result.exit_code == 0, f"comando inexistente: {step}\n{result.output}"


def test_dockerfile_builds_assets_in_node_and_runs_as_a_normal_user():
    lines = [line.strip() for line in (repo_root() / "Dockerfile").read_text().splitlines()]
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms[0].startswith("node:") and froms[-1] == "python:3.11-slim"
    assert "RUN mkdir -p apps/static && bash scripts/vendor_assets.sh" in lines
    assert [line for line in lines if line.startswith("CMD ")] == ['CMD ["gunicorn", "-c", "gunicorn-cfg.py"]']
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    for line in lines:
        if line.startswith("COPY ") and "--from=" not in line:
            sources = [w for w in line.split()[1:-1] if not w.startswith("--")]
            for source in sources:
                assert source == "." or (repo_root() / source).exists(), source
    ignored = (repo_root() / ".dockerignore").read_text().split()
    assert {".env", ".venv", "instance", "node_modules"} <= set(ignored)


def test_env_example_documents_every_setting():
    config = (repo_root() / "apps" / "config.py").read_text()
    names = set(re.findall(r'(?:environ\.get|_int|_bool)\(\s*"([A-Z_0-9]+)"', config))
    names |= {"MONTHLY_SCHEDULE_DAY", "MONTHLY_SCHEDULE_TIME", "MONTHLY_CHECK_INTERVAL", "ADMIN_USERNAME",
              "ADMIN_PASSWORD", "PORT", "DEMO_SEED", "POSTGRES_PASSWORD"}
    example = (repo_root() / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z_0-9]+)=", example, flags=re.MULTILINE))
    assert names - documented == set()
    lines = example.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^#? ?[A-Z][A-Z_0-9]+=", line):
            assert lines[i - 1].startswith("#"), f"sem explicação: {line}"
    for secret in ("SECRET_KEY", "ADMIN_PASSWORD", "API_EXTERNA_TOKEN", "BRM_TOKEN_PASSWORD", "POSTGRES_PASSWORD"):
        assert re.search(rf"^{secret}=$", example, flags=re.MULTILINE), f"{secret} deve vir vazio"


def test_make_run_with_two_simulators_registers_each_as_a_robot(tmp_path, database_url):
    extra = {"DATABASE_URL": database_url} if USING_POSTGRES else {}
    run = Supervisor(_env(tmp_path, SIMULATORS="2", SIM_PORT=str(free_port()), **extra))
    try:
        url = run.wait_for(r"RPA Dashboard no ar: (http://\S+)", timeout=120)[1]
        password = run.wait_for(r"Login: admin\s+Senha: (\S+)", timeout=5)[1]
        assert {"simulador", "simulador-2"} <= set(run.pids())
        registered = [line for line in run.lines if "robos" in line and "cadastrado" in line]
        assert len(registered) == 2 and all("DISPONIVEL" in line for line in registered), registered
        page = _login(url, password).get(url + "/robos", timeout=10).text
        for robo in ("simulador-1", "simulador-2"):  # connected; busy with the demo month's downloads, maybe
            assert re.search(rf'data-robo="{robo}" data-status="(DISPONIVEL|OCUPADO)"', page), page[-3000:]
        run.proc.send_signal(signal.SIGINT)
        assert run.finish(45) == 0, "".join(run.lines[-30:])
    finally:
        run.kill()
