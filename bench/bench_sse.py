"""SSE fan-out benchmark: N viewers of running robot jobs' live logs, over one or more web instances.

Starts the whole system on 127.0.0.1 (RQ worker, RPA simulator, Redis, SQLite or PostgreSQL; see
tests/browser/system.py) with `--instances` gunicorn servers (gunicorn-cfg.py's own settings:
gevent workers, WEB_CONCURRENCY workers each) sharing that Redis and database, behind nginx rendered
from deploy/nginx.conf (as the cluster lane does) with deploy/nginx-main.conf's limits when there is
more than one instance. Then:
  1. `--jobs` jobs, one viewer each: RPA API requests counted (the simulator's /_sim/stats);
  2. `--jobs` new jobs, `--viewers` viewers spread evenly over them, read by `--client-procs` client
     processes (gevent in each; one Python process cannot read 10,000 streams): every viewer must
     receive every line, in order, once, then the end event; publish-to-receive latency (a Redis
     probe notes when each line is published); RSS of every gunicorn worker per open stream; a
     signed-in page (GET /processos) timed while the lines flow; CPU of servers, nginx and clients;
     Redis pub/sub connections; RPA API requests again, and the ratio to run 1 (should be ~1.0).
The robot's log rate is `--lines` lines over `--duration` seconds per job (default 60 in 30 s: 2
lines/s per job, what a robot writes), fetched by the worker every RPA_POLL_INTERVAL (production's
2 s by default). The per-user and per-address stream caps are raised for the
bench through the environment (SSE_MAX_STREAMS_PER_USER/ADDRESS), their defaults unchanged.

Run: .venv/bin/python bench/bench_sse.py                       # 1 instance, 1,000 viewers, 1 job
     flock /tmp/bench.lock .venv/bin/python bench/bench_sse.py --viewers 10000 --instances 2 --jobs 10
Aims (10,000 viewers): every line delivered; p95 publish->receive <= 250 ms; <= 30 KB of worker RSS
per open stream; the page answered in <= 100 ms (median and p95) while the streams are open.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import array  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.lock  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TERMINAL = (b"event: job_completed\n", b"event: job_failed\n")
AIMS = {"p95_ms": 250.0, "kb_per_stream": 30.0, "page_ms": 100.0}


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit towards `wanted`, up to the hard limit (a container's root may
    not raise that one); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the client side (one process of many) ----------------------------------------------------------
class Viewer:
    """One SSE client on a raw socket (HTTP/1.1, chunked): notes when each line arrives."""

    __slots__ = ("done", "error", "job", "path", "port", "seqs", "times", "connected")

    def __init__(self, port: int, path: str, job: int):
        self.port, self.path, self.job = port, path, job
        self.connected, self.done, self.error = False, False, None
        self.seqs, self.times = array.array("i"), array.array("d")

    def run(self, token: str, on_connect) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=300) as sock:
                sock.sendall((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                              f"Authorization: Bearer {token}\r\n\r\n").encode())
                self._read(sock, on_connect)
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            self.error = repr(exc)[:200]
        finally:
            self._connected(on_connect)

    def _connected(self, on_connect) -> None:
        if not self.connected:
            self.connected = True
            on_connect()

    def _read(self, sock, on_connect) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += _recv(sock)
        head, buf = buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status:
            raise RuntimeError(status.decode())
        text = b""
        for data in _dechunk(sock, buf):
            text += data
            if b"\n\n" not in text:
                continue
            *frames, text = text.split(b"\n\n")
            for frame in frames:
                if frame.startswith(b"id: "):
                    self.times.append(time.monotonic())
                    self.seqs.append(int(frame[4:frame.index(b"\n")]))
                elif b"event: connection\n" in frame:
                    self._connected(on_connect)
                elif TERMINAL[0] in frame or TERMINAL[1] in frame:
                    self.done = True
                    return


def _recv(sock) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("stream closed before the end")
    return data


def _dechunk(sock, buf: bytes):
    """The body of a chunked response, as it arrives."""
    remaining = 0
    while True:
        if remaining == 0:
            while b"\r\n" not in buf:
                buf += _recv(sock)
            line, buf = buf.split(b"\r\n", 1)
            if not line:
                continue  # the CRLF after a chunk's data
            remaining = int(line.split(b";")[0], 16)
            if remaining == 0:
                return
        if not buf:
            buf = _recv(sock)
        data, buf = buf[:remaining], buf[remaining:]
        remaining -= len(data)
        yield data


def client_main(spec_path: str) -> int:
    """A client process: open its viewers, say when all are connected, read them to the end, dump results."""
    spec = json.loads(Path(spec_path).read_text())
    raise_fd_limit(len(spec["viewers"]) + 512)
    viewers = [Viewer(port, path, job) for port, path, job in spec["viewers"]]
    left = [len(viewers)]

    def on_connect():
        left[0] -= 1
        if left[0] == 0:
            print("connected", flush=True)

    opening = gevent.lock.Semaphore(spec["connect_concurrency"])  # connections opening at once

    def connected():
        opening.release()
        on_connect()

    greenlets = []
    for viewer in viewers:
        opening.acquire()
        greenlets.append(gevent.spawn(viewer.run, spec["token"], connected))
    gevent.joinall(greenlets, timeout=spec["timeout"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results = [(v.job, v.seqs.tobytes(), v.times.tobytes(), v.done, v.error) for v in viewers]
    Path(spec["out"]).write_bytes(pickle.dumps({"viewers": results, "cpu": usage.ru_utime + usage.ru_stime}))
    return 0


# -- the server side ----------------------------------------------------------------------------------
class Probe:
    """A Redis subscriber that notes when each log line of every execucao is published."""

    def __init__(self, redis_url: str):
        self.pubsub = redis.Redis.from_url(redis_url).pubsub()
        self.pubsub.psubscribe("execucao:*")
        self.published: dict[str, dict[int, float]] = {}
        self.greenlet = gevent.spawn(self._listen)

    def _listen(self) -> None:
        for message in self.pubsub.listen():
            if message["type"] != "pmessage":
                continue
            body = json.loads(message["data"])
            if body["event"] == "log":
                channel = message["channel"].decode().split(":", 1)[1]
                self.published.setdefault(channel, {}).setdefault(body["data"]["seq"], time.monotonic())

    def stop(self) -> None:
        self.greenlet.kill()
        self.pubsub.close()


def children(pid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            pids.append(int(stat.parent.name))
    return pids


def rss_kb(pids) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def cpu_seconds(pids) -> float:
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def new_execucoes(app, nome: str, count: int) -> list[str]:
    """`count` PENDENTE execucoes of fresh processos (one operadora allowing them all at once)."""
    from apps.clientes.cnpj import check_digits
    from apps.clientes.models import Cliente
    from apps.core.types import db
    from apps.operadoras.models import Operadora
    from apps.processos.models import Execucao, Processo

    with app.app_context():
        operadora = db.session.scalar(db.select(Operadora).where(Operadora.codigo == "VIVO")) \
            or Operadora(codigo="VIVO", nome="Vivo", possui_rpa=True)
        operadora.limite_concorrencia = max(operadora.limite_concorrencia or 1, count)
        rows = []
        for index in range(count):
            base = str(abs(hash(f"{nome}-{index}")))[:8].rjust(8, "1") + "0001"
            processo = Processo(cliente=Cliente(nome=f"{nome} {index}", cnpj=base + check_digits(base),
                                                operadora=operadora), competencia="2026-03")
            rows.append(Execucao(processo=processo, tipo="DOWNLOAD", status="PENDENTE"))
        db.session.add_all([operadora, *rows])
        db.session.commit()
        ids = [str(row.id) for row in rows]
        db.session.remove()
        return ids


def start_jobs(app, execucao_ids) -> None:
    """What services.executar does after creating the rows: admit them (throttle) and queue their start."""
    from apps.core.types import db
    from apps.processos.models import Execucao
    from apps.rpa.throttle import dispatch

    with app.app_context():
        operadora_id = db.session.get(Execucao, uuid.UUID(execucao_ids[0])).processo.cliente.operadora_id
        if len(dispatch(operadora_id)) != len(execucao_ids):
            raise RuntimeError("nem todas as execuções foram admitidas (limite de concorrência da operadora?)")
        db.session.remove()


class Bench:
    """The running system: the base one (web instance 1, worker, simulator, Redis, database), more
    gunicorn instances, nginx in front of them."""

    def __init__(self, args):
        from tests.browser.system import start_system

        self.args = args
        self.knobs = {"job_duration": args.duration, "queue_wait": 0.5, "log_lines": args.lines, "seed": 3,
                      "failure_rate": 0}
        cap = str(max(args.viewers * 2, 100))
        os.environ.update({"SSE_MAX_STREAMS_PER_USER": cap, "SSE_MAX_STREAMS_PER_ADDRESS": cap})
        self.system = start_system(args.database, web_workers=None, sim_knobs=self.knobs)
        # The worker polls the RPA API as often as in production (tests/browser/system.py's 0.3 s
        # is for quick tests): a poll publishes the lines written since the last one.
        self.system.env["RPA_POLL_INTERVAL"] = str(args.poll_interval)
        self.system._stop(self.system.procs.pop("worker"))
        self.system.spawn("worker", [sys.executable, "-m", "apps.worker", "--name", f"bench-sse-{os.getpid()}"])
        self.webs = [self.system.procs["web"]]
        self.ports = [self.system.web_port]
        self.nginx = None
        from tests.support.servers import free_port, wait_for_port

        for index in range(1, args.instances):
            port = free_port()
            self.ports.append(port)
            self.webs.append(self.system.spawn(f"web{index}", [sys.executable, "-m", "gunicorn", "-c",
                                                               str(ROOT / "gunicorn-cfg.py"), "-b", f"127.0.0.1:{port}"]))
        for port in self.ports:
            self.system.wait_http(f"http://127.0.0.1:{port}/login", 60)
        if args.instances > 1 or args.nginx:
            self.entry_port = free_port()
            self.nginx = self._start_nginx()
            wait_for_port(self.entry_port, 30)
        else:
            self.entry_port = self.ports[0]
        self.entry = f"http://127.0.0.1:{self.entry_port}"

    def _start_nginx(self):
        """deploy/nginx.conf rendered by the cluster lane's own function, in a main config with the
        limits of deploy/nginx-main.conf (docker compose's): each viewer is two connections."""
        from tests.cluster.harness import render_nginx

        workdir = self.system.workdir / "nginx"
        workdir.mkdir()
        conf = render_nginx(workdir, self.entry_port, [f"127.0.0.1:{p}" for p in self.ports])
        if raise_fd_limit(1 << 30) < self.args.viewers * 2 + 1024:  # this machine: hard limit 20,000 per process
            site = workdir / "site.conf"  # spread the viewers evenly over nginx's workers, so none runs out
            site.write_text(site.read_text().replace(f"listen 127.0.0.1:{self.entry_port};",
                                                     f"listen 127.0.0.1:{self.entry_port} reuseport;"))
        deployed = (ROOT / "deploy" / "nginx-main.conf").read_text()
        limits = {name: re.search(rf"^\s*{name}\s+(\S+);", deployed, re.MULTILINE)[1]
                  for name in ("worker_processes", "worker_rlimit_nofile", "worker_connections")}
        text = conf.read_text().replace("worker_processes 1;", f"worker_processes {limits['worker_processes']};\n"
                                                               f"worker_rlimit_nofile {limits['worker_rlimit_nofile']};")
        text = text.replace("worker_connections 4096;", f"worker_connections {limits['worker_connections']}; multi_accept on;")
        conf.write_text(text)
        return self.system.spawn("nginx", [shutil.which("nginx"), "-c", str(conf), "-p", str(workdir)])

    def web_workers(self) -> list[int]:
        return [pid for web in self.webs for pid in children(web.pid)]

    def stop(self) -> None:
        from tests.browser.system import remove_workdir

        for name in [n for n in self.system.procs if n.startswith("web") and n != "web"] + (["nginx"] if self.nginx else []):
            self.system._stop(self.system.procs.pop(name))
        self.system.stop()
        remove_workdir(self.system)


def signed_in_session(base: str, user: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    answer = session.post(base + "/login", data={"login": user, "password": password, "csrf_token": token.group(1)},
                          timeout=30, allow_redirects=False)
    if answer.status_code != 302:
        raise RuntimeError(f"login falhou: {answer.status_code}")
    return session


def time_pages(session, url: str, stop: gevent.event.Event, out: list, every: float = 0.25) -> None:
    while not stop.is_set():
        started = time.monotonic()
        status = session.get(url, timeout=30).status_code
        out.append(((time.monotonic() - started) * 1000, status))
        stop.wait(every)


def follow(bench: Bench, token: str, session, viewers: int, nome: str) -> dict:
    """Open `viewers` streams over `--jobs` new execucoes, run them, and return what was measured."""
    args, system = bench.args, bench.system
    system.restart_simulator(bench.knobs)  # same seed: both runs get the same job plans
    app = system.app()
    ids = new_execucoes(app, nome, args.jobs)
    procs = max(1, min(args.client_procs, viewers))
    specs = [[] for _ in range(procs)]
    for index in range(viewers):  # viewer i watches job i % jobs, through nginx or instance i % instances
        port = bench.entry_port if bench.nginx else bench.ports[index % len(bench.ports)]
        specs[index % procs].append((port, f"/api/v2/logs-tempo-real/stream/{ids[index % len(ids)]}", index % len(ids)))
    workers = bench.web_workers()
    rss_before = rss_kb(workers)
    clients = []
    started = time.monotonic()
    for number, viewer_specs in enumerate(specs):
        spec_path = system.workdir / f"client-{nome[-4:]}-{number}.json"
        spec_path.write_text(json.dumps({"viewers": viewer_specs, "token": token, "timeout": args.timeout,
                                         "connect_concurrency": args.connect_concurrency,
                                         "out": str(spec_path.with_suffix(".pickle"))}))
        clients.append((subprocess.Popen([sys.executable, __file__, "--client", str(spec_path)], stdout=subprocess.PIPE,
                                         cwd=ROOT), spec_path.with_suffix(".pickle")))
    for proc, _ in clients:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("a client process ended before connecting")
    connect_s = time.monotonic() - started
    gevent.sleep(2.0)
    rss_open = rss_kb(workers)
    pubsub_clients = sum(1 for c in redis.Redis.from_url(system.env["REDIS_URL"]).client_list(_type="pubsub")
                         if c.get("name", "").startswith("sse-hub"))
    probe = Probe(system.env["REDIS_URL"])
    before = dict(system.sim_stats()["requests"])
    pages, stop_pages = [], gevent.event.Event()
    pager = gevent.spawn(time_pages, session, bench.entry + "/processos", stop_pages, pages)
    nginx_pids = children(bench.nginx.pid) if bench.nginx else []
    others = [system.procs["worker"].pid]
    cpu = {"web": cpu_seconds(workers), "nginx": cpu_seconds(nginx_pids),
           "rq": cpu_seconds(others), "wall": time.monotonic()}
    start_jobs(app, ids)
    for proc, _ in clients:
        proc.wait(args.timeout + 60)
    cpu = {"web": cpu_seconds(workers) - cpu["web"], "nginx": cpu_seconds(nginx_pids) - cpu["nginx"],
           "rq": cpu_seconds(others) - cpu["rq"], "wall": time.monotonic() - cpu["wall"]}
    stop_pages.set()
    pager.join(30)
    gevent.sleep(1.5)  # the worker's last downloads land after the terminal event
    after = dict(system.sim_stats()["requests"])
    probe.stop()
    published = {key: sorted(lines) for key, lines in probe.published.items()}
    latencies, complete, errors, frames, client_cpu = [], 0, [], 0, 0.0
    for _, path in clients:
        result = pickle.loads(path.read_bytes())  # noqa: S301 - written by our own client process
        client_cpu += result["cpu"]
        for job, seqs_raw, times_raw, done, error in result["viewers"]:
            seqs, times = array.array("i"), array.array("d")
            seqs.frombytes(seqs_raw)
            times.frombytes(times_raw)
            sent = probe.published.get(str(uuid.UUID(ids[job])), {})
            frames += len(seqs)
            if error:
                errors.append(error)
            if done and list(seqs) == published.get(str(uuid.UUID(ids[job])), [None]):
                complete += 1
            latencies.extend((t - sent[s]) * 1000 for s, t in zip(seqs, times, strict=True) if s in sent)
    cpu["clients"] = client_cpu
    return {
        "viewers": viewers, "connect_s": connect_s, "errors": errors[:3], "error_count": len(errors),
        "lines": sum(len(v) for v in published.values()), "jobs": len(ids), "complete": complete,
        "latencies": latencies, "rss_before_kb": rss_before, "rss_open_kb": rss_open, "workers": len(workers),
        "pages": pages, "pubsub_clients": pubsub_clients, "cpu": cpu, "frames": frames,
        "rpa": {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)},
    }


def report(args, one: dict, many: dict) -> bool:
    lat = many["latencies"] or [float("nan")]
    per_stream = (many["rss_open_kb"] - many["rss_before_kb"]) / max(many["viewers"], 1)
    page_ms = [ms for ms, _ in many["pages"]] or [float("nan")]
    statuses = sorted({status for _, status in many["pages"]})
    p95, page_p95 = percentile(lat, .95), percentile(page_ms, .95)
    one_total, many_total = sum(one["rpa"].values()), sum(many["rpa"].values())
    cpu, wall = many["cpu"], many["cpu"]["wall"]
    proxy = ", nginx (deploy/nginx.conf)" if args.instances > 1 or args.nginx else ""
    print(f"\n=== SSE fan-out: {many['viewers']} viewers, {many['jobs']} jobs, {args.instances} instance(s)"
          f" x {many['workers'] // args.instances} gevent workers (gunicorn-cfg.py){proxy},"
          f" {args.database}, {args.client_procs} client processes ===")
    print(f"log rate ..................... {args.lines} lines in {args.duration:g} s per job, polled every"
          f" {args.poll_interval:g} s"
          f" = {args.lines / args.duration:.1f} lines/s per job, {args.lines / args.duration * many['jobs']:.0f} lines/s in all,"
          f" {args.lines / args.duration * many['viewers']:.0f} deliveries/s")
    print(f"viewers connected ............ {many['viewers']} in {many['connect_s']:.1f} s"
          f"{'  errors: ' + str(many['error_count']) + ' ' + str(many['errors']) if many['errors'] else ''}")
    print(f"lines published .............. {many['lines']} over {many['jobs']} jobs")
    print(f"viewers with every line ...... {many['complete']} / {many['viewers']}  (in order, once, then the end event)")
    print(f"publish->receive latency ..... p50 {percentile(lat, .5):.1f} ms   p95 {p95:.1f} ms   p99 {percentile(lat, .99):.1f} ms"
          f"   max {max(lat):.1f} ms   (n={len(many['latencies'])})   aim p95 <= {AIMS['p95_ms']:.0f} ms")
    print(f"worker RSS ................... {many['rss_before_kb'] / 1024:.1f} MB -> {many['rss_open_kb'] / 1024:.1f} MB"
          f" over {many['workers']} workers = {per_stream:.1f} KB per open stream   aim <= {AIMS['kb_per_stream']:.0f} KB")
    print(f"page while streams open ...... GET /processos (signed in) median {statistics.median(page_ms):.0f} ms"
          f"   p95 {page_p95:.0f} ms   max {max(page_ms):.0f} ms   (n={len(page_ms)}, status {statuses})"
          f"   aim <= {AIMS['page_ms']:.0f} ms")
    print(f"CPU while streaming ({wall:.0f} s) .. gunicorn workers {cpu['web']:.1f} s"
          f" ({cpu['web'] / max(many['frames'], 1) * 1e6:.0f} us per delivered line), nginx {cpu['nginx']:.1f} s,"
          f" RQ worker {cpu['rq']:.1f} s, clients {cpu['clients']:.1f} s (whole life, connect included);"
          f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"Redis pub/sub connections .... {many['pubsub_clients']} (one per gunicorn worker, whatever the viewers)")
    print(f"RPA API requests, 1 viewer/job {one_total}  {one['rpa']}")
    print(f"RPA API requests, {many['viewers']} viewers {many_total}  {many['rpa']}")
    print(f"ratio ........................ {many_total / one_total if one_total else float('nan'):.2f}"
          f"  (only the worker talks to the RPA API)")
    print(f"1-viewer-per-job run: {one['complete']}/{one['viewers']} complete, {one['lines']} lines,"
          f" latency p50 {percentile(one['latencies'], .5):.1f} ms")
    return (one["complete"] == one["viewers"] and many["complete"] == many["viewers"] and p95 <= AIMS["p95_ms"]
            and per_stream <= AIMS["kb_per_stream"] and statistics.median(page_ms) <= AIMS["page_ms"]
            and page_p95 <= AIMS["page_ms"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: run as one client process
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=1, help="gunicorn servers (nginx in front when > 1)")
    parser.add_argument("--jobs", type=int, default=1, help="running jobs the viewers are spread over")
    parser.add_argument("--nginx", action="store_true", help="nginx in front of a single instance too")
    parser.add_argument("--client-procs", type=int, default=0, help="client processes (default: 1 per 2,500 viewers)")
    parser.add_argument("--connect-concurrency", type=int, default=100, help="connections opening at once, per client")
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds the simulated robot runs")
    parser.add_argument("--lines", type=int, default=60, help="log lines the robot writes while running")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--poll-interval", type=float, default=2.0,
                        help="RPA_POLL_INTERVAL of the worker (apps/config.py's default: 2 s)")
    args = parser.parse_args(argv)
    if args.client:
        return client_main(args.client)
    args.client_procs = args.client_procs or max(1, -(-args.viewers // 2500))
    raise_fd_limit(args.viewers * 2 + 4096)  # inherited by gunicorn and nginx (the clients raise their own)
    print(f"starting {args.instances} gunicorn instance(s), RQ worker, simulator, Redis (127.0.0.1 only)...", flush=True)
    from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER

    bench = Bench(args)
    try:
        token = requests.post(bench.entry + "/api/v1/auth/token", timeout=30,
                              json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}).json()["access"]
        session = signed_in_session(bench.entry, ADMIN_USER, ADMIN_PASSWORD)
        print(f"run 1: {args.jobs} job(s), one viewer each...", flush=True)
        one = follow(bench, token, session, args.jobs, "Cliente Bench Um")
        print(f"run 2: {args.viewers} viewers over {args.jobs} job(s)...", flush=True)
        many = follow(bench, token, session, args.viewers, "Cliente Bench Muitos")
        return 0 if report(args, one, many) else 1
    finally:
        bench.stop()


if __name__ == "__main__":
    sys.exit(main())
