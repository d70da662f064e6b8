"""/metrics under a real gunicorn with two workers (gunicorn-cfg.py): every worker's counts are
summed, no counter goes backwards between scrapes (not even when a worker is killed and replaced),
and `promtool check metrics` accepts the exposition."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.conftest import repo_root
from tests.support.servers import free_port

TOKEN = "token-de-metricas-multiprocesso-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GUNICORN = Path(sys.executable).parent / "gunicorn"
MONOTONIC = re.compile(r"_(total|count|bucket|sum)$")  # counter samples, and a histogram's


class Gunicorn:
    """`gunicorn -c gunicorn-cfg.py` on a free loopback port, its output in a file."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen([str(GUNICORN), "-c", "gunicorn-cfg.py", "-b", f"127.0.0.1:{self.port}"],
                                     cwd=repo_root(), env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                # Not /healthz, which the tests count: a probe that timed out may still be served.
                if requests.get(self.url + "/login", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("gunicorn não respondeu em 60 s:\n" + self.output())
        self.requests_sent = 0  # to /healthz

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics_dir(self) -> Path:
        return Path(re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", self.output())[1])

    def worker_pids(self) -> set:
        return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.output())}

    def healthz(self, times: int) -> None:
        """`times` requests to /healthz, 8 at a time on fresh connections (so both workers accept some)."""
        def one(_):
            return requests.get(self.url + "/healthz", timeout=10).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(one, range(times))) == {200}
        self.requests_sent += times

    def scrape(self) -> str:
        answer = requests.get(self.url + "/metrics", headers=AUTH, timeout=10)
        assert answer.status_code == 200, answer.text[:300]
        return answer.text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@pytest.fixture
def server_env(app, database_url, redis_url, tmp_path):
    """The environment of a real deployment on the test database (migrated by `app`) and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "SIM_", "PROMETHEUS_", "prometheus_"))}
    env.update({
        "APP_ENV": "development", "SECRET_KEY": "chave-secreta-do-teste-de-metricas-0123456789",
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "API_EXTERNA_URL": "http://127.0.0.1:9",
        "INSTANCE_DIR": str(tmp_path / "instance"), "FATURAS_DIR": str(tmp_path / "faturas"),
        "METRICS_TOKEN": TOKEN, "METRICS_CACHE_SECONDS": "1", "WEB_CONCURRENCY": "2", "LOG_LEVEL": "info",
        "RATELIMIT_ENABLED": "false", "PYTHONUNBUFFERED": "1",
    })
    return env


def samples(text: str) -> dict:
    """{(name, labels): value} of every sample line in an exposition text."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$", line)
        if match:
            found[(match[1], match[2] or "")] = float(match[3])
    return found


def promtool(text: str) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool não encontrado: rode `make setup` (pacote Debian prometheus).")
    result = subprocess.run([binary, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    report = (result.stdout + result.stderr).strip()
    assert (result.returncode, report) == (0, ""), report


def _healthz_per_worker(folder: Path) -> dict:
    """The /healthz count in each worker's own file (counter_<pid>.db)."""
    from prometheus_client.multiprocess import MultiProcessCollector

    counts = {}
    for path in folder.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                if sample.name == "rpa_http_requests_total" and sample.labels.get("endpoint") == "healthz":
                    pid = int(path.stem.split("_")[-1])
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def _seed_processo():
    from apps.clientes.models import Cliente
    from apps.core.types import db
    from apps.operadoras.models import Operadora
    from apps.processos.models import Processo

    vivo = Operadora(codigo="VIVO", nome="Vivo")
    cliente = Cliente(nome="ACME", cnpj="11222333000181", operadora=vivo)
    processo = Processo(cliente=cliente, competencia="2026-05")
    db.session.add_all([vivo, cliente, processo])
    db.session.commit()
    return processo


def _add_execucao(processo, n: int):
    from apps.core.types import db
    from apps.processos.models import Execucao, StatusExecucao, TipoExecucao

    end = datetime(2026, 5, 10, 12, tzinfo=UTC)
    status = StatusExecucao.CONCLUIDO if n % 2 else StatusExecucao.FALHOU
    db.session.add(Execucao(processo=processo, tipo=TipoExecucao.DOWNLOAD, status=status,
                            data_inicio=end - timedelta(seconds=40 * n), data_fim=end))
    db.session.commit()


def _stale_counter_file(folder: Path) -> None:
    """What a previous run left behind: 1000 /healthz requests of a long-gone process."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    stale = MmapedDict(str(folder / "counter_999999.db"))
    key = mmap_key("rpa_http_requests", "rpa_http_requests_total", ["endpoint", "method", "status"],
                   ["healthz", "GET", "200"], "Requisições HTTP por endpoint, método e status.")
    stale.write_value(key, 1000.0, 0.0)
    stale.close()


def test_counters_are_summed_over_both_workers_and_never_go_backwards(server_env, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    _stale_counter_file(folder)
    processo = _seed_processo()
    _add_execucao(processo, 1)
    server = Gunicorn(dict(server_env, PROMETHEUS_MULTIPROC_DIR=str(folder)), tmp_path / "gunicorn.log")
    try:
        assert server.metrics_dir() == folder
        assert not (folder / "counter_999999.db").exists()  # emptied at start
        # Both workers serve: keep sending until each one's own file has counted some.
        deadline = time.monotonic() + 30
        while len(_healthz_per_worker(folder)) < 2 and time.monotonic() < deadline:
            server.healthz(40)
        per_worker = _healthz_per_worker(folder)
        assert len(per_worker) == 2 and set(per_worker) <= server.worker_pids(), per_worker

        scrapes, killed = [], None
        for i in range(20):
            scrapes.append(server.scrape())
            server.healthz(5)
            if i % 4 == 3:
                _add_execucao(processo, i)
            if i == 9:  # a worker dies (OOM, a timeout): gunicorn replaces it, its counts must stay
                killed = max(per_worker)
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.1)
        time.sleep(1.2)  # past METRICS_CACHE_SECONDS: the last scrape reads the database afresh
        scrapes.append(server.scrape())

        readings = [samples(text) for text in scrapes]
        for before, after in zip(readings, readings[1:], strict=False):
            for key, value in before.items():
                if MONOTONIC.search(key[0]):
                    assert key in after, f"{key} sumiu da coleta"
                    assert after[key] >= value, f"{key} voltou de {value} para {after[key]}"
        last = readings[-1]
        healthz = ("rpa_http_requests_total", '{endpoint="healthz",method="GET",status="200"}')
        # Every request of both workers (and of the killed one), none of the stale file.
        assert last[healthz] == server.requests_sent
        assert last[("rpa_http_requests_total", '{endpoint="metrics",method="GET",status="200"}')] >= 20
        assert sum(v for k, v in last.items() if k[0] == "rpa_http_requests_total") > sum(per_worker.values())
        started = ("rpa_execucoes_iniciadas_total", '{operadora="VIVO",tipo="DOWNLOAD"}')
        assert readings[0][started] == 1 and last[started] == 6
        assert len(server.worker_pids()) == 3 and killed in server.worker_pids()  # replaced
        assert "# TYPE rpa_http_requests_total counter" in scrapes[-1]
        assert len(re.findall(r"^# TYPE rpa_http_requests_total ", scrapes[-1], re.M)) == 1  # registered once
        promtool(scrapes[0])
        promtool(scrapes[-1])
    finally:
        server.stop()
    assert folder.is_dir()  # a directory given by the environment is kept


def test_without_the_setting_each_run_gets_its_own_directory_removed_at_exit(server_env, tmp_path):
    server = Gunicorn(server_env, tmp_path / "gunicorn.log")
    try:
        folder = server.metrics_dir()
        assert folder.name.startswith("rpa-metrics-") and folder.is_dir()
        server.healthz(30)
        assert samples(server.scrape())[("rpa_http_requests_total",
                                         '{endpoint="healthz",method="GET",status="200"}')] == server.requests_sent
        assert list(folder.glob("counter_*.db"))
    finally:
        server.stop()
    assert not folder.exists()
