"""SSE fan-out benchmark: N viewers of one running robot job, with gunicorn-cfg.py's own settings.

Starts the whole system on 127.0.0.1 (gunicorn, RQ worker, RPA simulator, Redis, SQLite; see
tests/browser/system.py), then:
  1. one viewer follows a job: RPA API requests counted (the simulator's /_sim/stats);
  2. N viewers (default 1,000) follow another job: every viewer must receive every line;
     publish-to-receive latency (a Redis probe notes when each line is published); RSS of the
     gunicorn workers per open stream; a page's response time while the streams are open;
     Redis pub/sub connections; RPA API requests again, and the ratio to run 1 (should be 1.0).
Run: .venv/bin/python bench/bench_sse.py [--viewers 1000] [--duration 12] [--lines 60]
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER, remove_workdir, start_system  # noqa: E402

TERMINAL = {"job_completed", "job_failed"}


class Viewer:
    """One SSE client on a raw socket (HTTP/1.1, chunked): notes when each line arrives."""

    def __init__(self, port: int, path: str, token: str):
        self.port, self.path, self.token = port, path, token
        self.connected, self.done = gevent.event.Event(), False
        self.received: dict[int, float] = {}
        self.error = None

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=120) as sock:
                sock.sendall((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                              f"Authorization: Bearer {self.token}\r\n\r\n").encode())
                self._read(sock)
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            self.error = repr(exc)
        finally:
            self.connected.set()

    def _read(self, sock) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self._recv(sock)
        head, buf = buf.split(b"\r\n\r\n", 1)
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        text = ""
        for chunk in self._chunks(sock, buf):
            text += chunk.decode()
            while "\n\n" in text:
                frame, text = text.split("\n\n", 1)
                if self._frame(frame):
                    return

    def _frame(self, frame: str) -> bool:
        fields = dict(line.split(": ", 1) for line in frame.split("\n") if ": " in line and not line.startswith(":"))
        event = fields.get("event")
        if event == "connection":
            self.connected.set()
        elif event == "log":
            self.received.setdefault(int(fields["id"]), time.monotonic())
        elif event in TERMINAL:
            self.done = True
        return self.done

    def _chunks(self, sock, buf: bytes):
        while True:
            while b"\r\n" not in buf:
                buf += self._recv(sock)
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return
            while len(buf) < size + 2:
                buf += self._recv(sock)
            yield buf[:size]
            buf = buf[size + 2:]

    @staticmethod
    def _recv(sock) -> bytes:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("stream closed before the end")
        return data


class Probe:
    """A Redis subscriber that notes when each log line of a channel is published."""

    def __init__(self, redis_url: str, channel: str):
        self.pubsub = redis.Redis.from_url(redis_url).pubsub()
        self.pubsub.subscribe(channel)
        self.published: dict[int, float] = {}
        self.greenlet = gevent.spawn(self._listen)

    def _listen(self) -> None:
        for message in self.pubsub.listen():
            if message["type"] != "message":
                continue
            body = json.loads(message["data"])
            if body["event"] == "log":
                self.published.setdefault(body["data"]["seq"], time.monotonic())

    def stop(self) -> None:
        self.greenlet.kill()
        self.pubsub.close()


def worker_pids(master_pid: int) -> list[int]:
    """gunicorn's worker processes (the master's children)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(master_pid):
            pids.append(int(stat.parent.name))
    return pids


def worker_rss_kb(master_pid: int) -> int:
    """Sum of VmRSS of gunicorn's workers."""
    total = 0
    for pid in worker_pids(master_pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def cpu_seconds(pids) -> float:
    """User + system CPU time used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def new_execucao(app, nome: str) -> str:
    """A PENDENTE execucao of a fresh processo, not yet admitted nor queued (viewers connect first)."""
    from apps.clientes.cnpj import check_digits
    from apps.clientes.models import Cliente
    from apps.core.types import db
    from apps.operadoras.models import Operadora
    from apps.processos.models import Execucao, Processo

    with app.app_context():
        operadora = db.session.scalar(db.select(Operadora).where(Operadora.codigo == "VIVO")) \
            or Operadora(codigo="VIVO", nome="Vivo", possui_rpa=True)
        base = str(abs(hash(nome)))[:8].rjust(8, "1") + "0001"
        processo = Processo(cliente=Cliente(nome=nome, cnpj=base + check_digits(base), operadora=operadora),
                            competencia="2026-03")
        execucao = Execucao(processo=processo, tipo="DOWNLOAD", status="PENDENTE")
        db.session.add_all([operadora, processo, execucao])
        db.session.commit()
        execucao_id = str(execucao.id)
        db.session.remove()
        return execucao_id


def start(app, execucao_id: str) -> None:
    """What services.executar does after creating the row: admit it (throttle) and queue its start."""
    from apps.core.types import db
    from apps.processos.models import Execucao
    from apps.rpa.throttle import dispatch

    with app.app_context():
        execucao = db.session.get(Execucao, uuid.UUID(execucao_id))
        if not dispatch(execucao.processo.cliente.operadora_id):
            raise RuntimeError("a execução não foi admitida (limite de concorrência da operadora?)")
        db.session.remove()


def rpa_requests(system) -> dict:
    return dict(system.sim_stats()["requests"])


def follow(system, app, token: str, viewers: int, nome: str, knobs: dict, timeout: float) -> dict:
    """Open `viewers` streams on a new execucao, run it, and return what was measured."""
    system.restart_simulator(knobs)  # same seed: both runs get the same job plan (lines, invoices)
    execucao_id = new_execucao(app, nome)
    path = f"/api/v2/logs-tempo-real/stream/{execucao_id}"
    master = system.procs["web"].pid
    rss_before = worker_rss_kb(master)
    clients = [Viewer(system.web_port, path, token) for _ in range(viewers)]
    started = time.monotonic()
    greenlets = [gevent.spawn(c.run) for c in clients]
    for client in clients:
        client.connected.wait(120)
    connect_s = time.monotonic() - started
    gevent.sleep(1.0)
    rss_open = worker_rss_kb(master)
    page_started = time.monotonic()
    page_status = requests.get(system.base_url + "/login", timeout=30).status_code
    page_ms = (time.monotonic() - page_started) * 1000
    pubsub_clients = sum(1 for c in redis.Redis.from_url(system.env["REDIS_URL"]).client_list(_type="pubsub")
                         if c.get("name", "").startswith("sse-hub"))
    probe = Probe(system.env["REDIS_URL"], f"execucao:{uuid.UUID(execucao_id)}")
    before = rpa_requests(system)
    pids = worker_pids(master)
    cpu_server, cpu_client = cpu_seconds(pids), client_cpu_seconds()
    start(app, execucao_id)
    gevent.joinall(greenlets, timeout=timeout)
    cpu_server, cpu_client = cpu_seconds(pids) - cpu_server, client_cpu_seconds() - cpu_client
    gevent.sleep(1.5)  # the worker's last downloads land after the terminal event
    after = rpa_requests(system)
    probe.stop()
    published = sorted(probe.published)
    latencies = [(c.received[s] - probe.published[s]) * 1000 for c in clients for s in published if s in c.received]
    complete = sum(1 for c in clients if c.done and sorted(c.received) == published)
    return {
        "viewers": viewers, "connect_s": connect_s, "errors": [c.error for c in clients if c.error][:3],
        "lines": len(published), "complete": complete, "latencies": latencies,
        "rss_before_kb": rss_before, "rss_open_kb": rss_open, "page_ms": page_ms, "page_status": page_status,
        "pubsub_clients": pubsub_clients, "cpu_server": cpu_server, "cpu_client": cpu_client,
        "frames": sum(len(c.received) for c in clients),
        "rpa": {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)},
    }


def report(one: dict, many: dict) -> None:
    lat = many["latencies"] or [float("nan")]
    per_stream = (many["rss_open_kb"] - many["rss_before_kb"]) / max(many["viewers"], 1)
    one_total, many_total = sum(one["rpa"].values()), sum(many["rpa"].values())
    print("\n=== SSE fan-out (gunicorn-cfg.py: gevent, default workers/worker_connections) ===")
    print(f"viewers connected ............ {many['viewers']} in {many['connect_s']:.1f} s"
          f"{'  errors: ' + str(many['errors']) if many['errors'] else ''}")
    print(f"lines published .............. {many['lines']}")
    print(f"viewers with every line ...... {many['complete']} / {many['viewers']}")
    print(f"publish->receive latency ..... p50 {percentile(lat, .5):.1f} ms   p95 {percentile(lat, .95):.1f} ms"
          f"   p99 {percentile(lat, .99):.1f} ms   max {max(lat):.1f} ms   (n={len(many['latencies'])})")
    frames = max(many["frames"], 1)
    print(f"CPU while streaming .......... gunicorn workers {many['cpu_server']:.1f} s"
          f" = {many['cpu_server'] / frames * 1e6:.0f} us per delivered line; this client {many['cpu_client']:.1f} s"
          f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"worker RSS ................... {many['rss_before_kb'] / 1024:.1f} MB -> {many['rss_open_kb'] / 1024:.1f} MB"
          f"  = {per_stream:.1f} KB per open stream")
    print(f"page while streams open ...... GET /login {many['page_status']} in {many['page_ms']:.0f} ms")
    print(f"Redis pub/sub connections .... {many['pubsub_clients']} (one per gunicorn worker, whatever the viewers)")
    print(f"RPA API requests, 1 viewer ... {one_total}  {one['rpa']}")
    print(f"RPA API requests, {many['viewers']} viewers {many_total}  {many['rpa']}")
    ratio = many_total / one_total if one_total else float("nan")
    print(f"ratio ........................ {ratio:.2f}  (only the worker talks to the RPA API; a"
          f" difference would come from poll timing, never from viewers)")
    print(f"1-viewer run: {one['complete']}/1 complete, {one['lines']} lines,"
          f" latency p50 {statistics.median(one['latencies'] or [float('nan')]):.1f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds the simulated robot runs")
    parser.add_argument("--lines", type=int, default=60, help="log lines the robot writes while running")
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args(argv)
    knobs = {"job_duration": args.duration, "queue_wait": 0.5, "log_lines": args.lines, "seed": 3}
    print("starting gunicorn, RQ worker, simulator, Redis (127.0.0.1 only)...", flush=True)
    system = start_system("sqlite", web_workers=None, sim_knobs=knobs)
    try:
        token = requests.post(system.base_url + "/api/v1/auth/token", timeout=30,
                              json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}).json()["access"]
        app = system.app()
        print("run 1: one viewer...", flush=True)
        one = follow(system, app, token, 1, "Cliente Bench Um", knobs, args.timeout)
        print(f"run 2: {args.viewers} viewers...", flush=True)
        many = follow(system, app, token, args.viewers, "Cliente Bench Muitos", knobs, args.timeout)
        report(one, many)
        ok = one["complete"] == 1 and many["complete"] == many["viewers"]
        return 0 if ok else 1
    finally:
        system.stop()
        remove_workdir(system)


if __name__ == "__main__":
    sys.exit(main())
