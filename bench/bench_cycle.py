"""Bench the whole monthly cycle: download → approval → SAT upload → UPLOAD_REALIZADO, in processos/s.

Run: `.venv/bin/python bench/bench_cycle.py [--processos 200] [--workers 2] [--empty-jobs 2000]
[--poll-interval S] [--timeout 300] [--postgres] [--latency S] [--profile DIR]`
Scaling: `... bench/bench_cycle.py --scaling 1,4 --latency 0.2 --processos 40` runs the whole cycle with 1 worker,
then with 4 (a new month of the same clientes each), and prints processos/s of each and their ratio.

Self-contained: its own redis-server, a SQLite file (or a throw-away PostgreSQL), the RPA simulator
in a subprocess at zero latency (job_duration=0, queue_wait=0) and N `python -m apps.worker`
processes. Beside the cycle it measures RQ's own rate for an empty job with the same workers
(same AppWorker class, same queue) in the same run, and prints both and their ratio.
"""
import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import postgres_server, redis_server  # noqa: E402

COMPETENCIA = "2026-10"
QUEUE = "bench"


PROFILED_WORKER = """
import cProfile, sys, time
from apps import worker
out = sys.argv.pop(1)
profile = cProfile.Profile(time.process_time)
try:
    profile.runcall(worker.main, sys.argv[1:])
finally:
    profile.dump_stats(out)
"""


def noop():
    """The empty job (imported by the workers as bench.bench_cycle.noop)."""


class Deadline:
    """One time budget for the whole run; `wait` polls a condition within it."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def wait(self, what, done, progress=lambda: "", interval=0.2):
        while not done():
            if time.monotonic() > self.end:
                raise SystemExit(f"timeout waiting for {what} ({progress()})")
            time.sleep(interval)


@contextmanager
def simulator(token, latency=0.0):
    """The RPA simulator in its own process (it must not share a GIL with the bench loop); `latency` seconds
    are added to every contract request."""
    cmd = [sys.executable, "-m", "simulator", "--port", "0", "--quiet", "--control", "--job-duration", "0",
           "--queue-wait", "0", "--token", token, "--seed", "7", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        if "http://" not in line:
            raise SystemExit(f"simulator did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1], proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def workers(n, env, folder, profile=None):
    """N worker processes (each in its own process group, with the scheduler it forks)."""
    procs = []
    for i in range(n):
        log = open(folder / f"worker-{i}.log", "wb")
        cmd = ["-m", "apps.worker", "--name", f"bench-{i}"]
        if profile:  # CPU time, not wall time: waiting on Redis, the simulator or fsync costs nothing here
            cmd = ["-c", PROFILED_WORKER, str(Path(profile) / f"worker-{i}.prof"), "--name", f"bench-{i}"]
        procs.append((subprocess.Popen([sys.executable, *cmd], cwd=ROOT, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
    try:
        yield [p for p, _ in procs]
    finally:
        for proc, _ in procs:
            _signal(proc, signal.SIGTERM)
        for proc, log in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            _signal(proc, signal.SIGKILL)
            proc.wait(5)
            log.close()


def cpu_seconds(*pids):
    """User + system CPU seconds used so far by these processes and their threads (Linux /proc)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _signal(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def seed(n, limite=None):
    """VIVO, n clientes, an admin (who approves) and the month's processos; returns (admin, ids)."""
    from apps.auth.models import Role
    from apps.auth.services import create_user
    from apps.clientes.cnpj import check_digits
    from apps.clientes.models import Cliente
    from apps.core.types import db
    from apps.operadoras.models import Operadora
    from apps.processos.models import Processo
    from apps.processos.services import gerar_processos

    operadora = Operadora(codigo="VIVO", nome="Vivo", possui_rpa=True)
    if limite:
        operadora.limite_concorrencia = limite
    db.session.add(operadora)
    for i in range(n):
        base = f"{i + 1:08d}0001"
        db.session.add(Cliente(nome=f"Cliente {i}", cnpj=base + check_digits(base), codigo=f"C{i}",
                               operadora=operadora))
    admin = create_user("bench", "bench@example.com", secrets.token_urlsafe(16), role=Role.ADMIN)
    db.session.commit()
    gerar_processos(COMPETENCIA)
    db.session.refresh(operadora)
    return admin, list(db.session.scalars(db.select(Processo.id))), operadora.limite_concorrencia


def count_status(status, competencia=COMPETENCIA):
    from apps.core.types import db
    from apps.processos.models import Processo

    db.session.rollback()
    return db.session.scalar(db.select(db.func.count()).select_from(Processo)
                             .where(Processo.status == status, Processo.competencia == competencia))


def failed_runs():
    from apps.core.types import db
    from apps.processos.models import Execucao, StatusExecucao

    return db.session.scalar(db.select(db.func.count()).select_from(Execucao)
                             .where(Execucao.status == StatusExecucao.FALHOU))


def finished_jobs(queue):
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    return (FinishedJobRegistry(queue=queue).count, FailedJobRegistry(queue=queue).count)


def empty_job_rate(queue, m, deadline, worker_pids):
    """Enqueue m empty jobs in one pipeline, time them until all are done; (jobs/s, worker CPU s per job)."""
    from rq import Queue

    before, cpu = finished_jobs(queue)[0], cpu_seconds(*worker_pids)
    jobs = [Queue.prepare_data("bench.bench_cycle.noop", result_ttl=600, timeout=300) for _ in range(m)]
    started = time.perf_counter()
    queue.enqueue_many(jobs)
    deadline.wait("the empty jobs", lambda: finished_jobs(queue)[0] - before >= m,
                  lambda: f"{finished_jobs(queue)[0] - before}/{m} done", interval=0.02)
    return m / (time.perf_counter() - started), (cpu_seconds(*worker_pids) - cpu) / m


def run_phase(label, action, status, n, deadline, competencia=COMPETENCIA):
    """Start a phase, wait until all n processos of the month reach `status`; return its seconds."""
    started = time.perf_counter()
    action()
    deadline.wait(label, lambda: count_status(status, competencia) >= n or failed_runs(),
                  lambda: f"{count_status(status, competencia)}/{n} in {status}, {failed_runs()} failed runs")
    if failed_runs():
        raise SystemExit(f"{label}: {failed_runs()} execucao(s) FALHOU; see the worker logs")
    return time.perf_counter() - started


def cycle(admin, ids, deadline, competencia=COMPETENCIA):
    """Download, approve and upload every processo (all of one month); return the seconds of each phase."""
    from apps.processos import services
    from apps.processos.models import StatusProcesso as S

    n = len(ids)
    return {
        "download": run_phase("downloads", lambda: services.executar_varios(ids, admin), S.AGUARDANDO_APROVACAO, n,
                              deadline, competencia),
        "approval": run_phase("approvals", lambda: services.aprovar_varios(ids, admin), S.AGUARDANDO_ENVIO_SAT, n,
                              deadline, competencia),
        "SAT upload": run_phase("SAT uploads", lambda: services.executar_varios(ids, admin), S.UPLOAD_REALIZADO, n,
                                deadline, competencia),
    }


def new_month(competencia):
    """The processos of one more month for every cliente; their ids."""
    from apps.core.types import db
    from apps.processos.models import Processo
    from apps.processos.services import gerar_processos

    gerar_processos(competencia)
    return list(db.session.scalars(db.select(Processo.id).where(Processo.competencia == competencia)))


def environment(args, folder, database_url, redis_url, sim_url, token):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPA_", "API_EXTERNA", "BRM_", "FLASK_"))}
    env.update({"APP_ENV": "development", "DATABASE_URL": database_url, "REDIS_URL": redis_url, "RQ_QUEUE": QUEUE,
                "INSTANCE_DIR": str(folder / "instance"), "FATURAS_DIR": str(folder / "faturas"),
                "API_EXTERNA_URL": sim_url, "API_EXTERNA_TOKEN": token, "RPA_ALLOW_PRIVATE_TARGETS": "true",
                "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    if args.poll_interval is not None:
        env["RPA_POLL_INTERVAL"] = str(args.poll_interval)
    return env


def report(args, db_name, phases, n_jobs, empty, sim_stats, poll_interval, cpu, limite):
    total = sum(phases.values())
    rate = args.processos / total
    print(f"\nWhole cycle, {args.processos} processos, {args.workers} workers (AppWorker = SimpleWorker), {db_name}, "
          f"simulator at zero latency, RPA_POLL_INTERVAL={poll_interval:g} s, limite_concorrencia={limite}")
    for label, seconds in phases.items():
        print(f"  {label:<11} {seconds:7.2f} s  {args.processos / seconds:8.1f} processos/s")
    print(f"  {'total':<11} {total:7.2f} s  {rate:8.1f} processos/s   "
          f"({n_jobs} RQ jobs = {n_jobs / args.processos:.1f} per processo, {n_jobs / total:.0f} jobs/s)")
    print(f"  robot runs started: {sim_stats['jobs_created']}, idempotent replays: {sim_stats['idempotent_replays']}")
    per = {k: v * 1000 / args.processos for k, v in cpu.items()}
    print(f"  CPU per processo: workers {per['workers']:.0f} ms, simulator {per['simulator']:.0f} ms, "
          f"bench process (executar/aprovar, as the web app would) {per['bench']:.0f} ms; "
          f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    empty_rate, empty_cpu = empty
    print(f"Empty RQ job, same {args.workers} workers and queue: {empty_rate:,.0f} jobs/s ({args.empty_jobs} jobs), "
          f"worker CPU {empty_cpu * 1000:.1f} ms per job")
    print(f"Worker CPU per processo = {cpu['workers'] / args.processos / empty_cpu:.1f} empty-job units "
          f"({per['workers']:.0f} ms / {empty_cpu * 1000:.1f} ms; aim <= 10)")
    print(f"Ratio: 1 processo through the whole cycle takes the time of {empty_rate / rate:.0f} empty jobs "
          f"(our jobs run at {n_jobs / total / empty_rate:.1%} of the empty-job rate); in worker CPU one of our "
          f"jobs costs {cpu['workers'] / n_jobs / empty_cpu:.1f} empty jobs")


class Rig:
    """Redis, the database (migrated, seeded), the simulator and the app context of one run; workers on demand."""

    def __init__(self, stack, args, deadline):
        self.stack, self.args, self.deadline = stack, args, deadline
        token = secrets.token_hex(16)
        self.folder = Path(tempfile.mkdtemp(prefix="bench-cycle-"))
        self.redis_url, _ = stack.enter_context(redis_server())
        database_url = (stack.enter_context(postgres_server()) if args.postgres
                        else f"sqlite:///{self.folder}/bench.db")
        self.sim_url, self.sim_pid = stack.enter_context(simulator(token, args.latency))
        self.env = environment(args, self.folder, database_url, self.redis_url, self.sim_url, token)
        os.environ.update(self.env)  # before apps is imported: the config is read from the environment
        from flask_migrate import upgrade

        from apps import create_app
        from apps.core.queues import get_queue

        self.app = create_app()
        stack.enter_context(self.app.app_context())
        upgrade()
        self.admin, self.ids, self.limite = seed(args.processos, args.limite)
        self.queue = get_queue()
        self.db_name = "PostgreSQL" if args.postgres else "SQLite"

    def workers(self, n, stack=None):
        """Start n workers (stopped when `stack`, default the run's, closes); wait until all are listening."""
        from rq import Worker

        procs = (stack or self.stack).enter_context(workers(n, self.env, self.folder, self.args.profile))
        self.deadline.wait("the workers", lambda: len(Worker.all(queue=self.queue)) >= n
                           or any(p.poll() is not None for p in procs))
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a worker died at start; see {self.folder}/worker-*.log")
        return procs


def add_common(parser):
    parser.add_argument("--processos", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=None, help="RPA_POLL_INTERVAL (default: the config's)")
    parser.add_argument("--timeout", type=float, default=300, help="budget of the whole run, seconds")
    parser.add_argument("--postgres", action="store_true", help="a throw-away PostgreSQL instead of SQLite")
    parser.add_argument("--limite", type=int, default=None,
                        help="the operadora's limite_concorrencia (default: the model's default)")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the simulator adds to every RPA request (default 0)")
    parser.add_argument("--profile", default=None, help="run the workers under cProfile, writing DIR/worker-N.prof")


def scaling(rig, counts):
    """The whole cycle with each worker count in turn (a new month each, same clientes); processos/s each."""
    rates = {}
    for k, n in enumerate(counts):
        competencia = f"2027-{k + 1:02d}"
        ids = new_month(competencia)
        with ExitStack() as stack:
            rig.workers(n, stack)
            phases = cycle(rig.admin, ids, rig.deadline, competencia)
        total = sum(phases.values())
        rates[n] = len(ids) / total
        print(f"  {n} worker(s): {len(ids)} processos in {total:.2f} s = {rates[n]:.2f} processos/s  "
              + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in phases.items()), flush=True)
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common(parser)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--empty-jobs", type=int, default=2000)
    parser.add_argument("--scaling", default=None, metavar="1,4",
                        help="instead: the whole cycle with 1 then 4 workers (or the counts given), and the ratio")
    args = parser.parse_args(argv)
    deadline = Deadline(args.timeout)
    with ExitStack() as stack:
        rig = Rig(stack, args, deadline)
        if args.scaling:
            counts = [int(n) for n in args.scaling.split(",")]
            print(f"\nScaling over workers: whole cycle of {args.processos} processos per count, {rig.db_name}, "
                  f"simulator latency {args.latency:g} s per request, limite_concorrencia={rig.limite}, "
                  f"RPA_POLL_INTERVAL={rig.app.config['RPA_POLL_INTERVAL']:g} s", flush=True)
            rates = scaling(rig, counts)
            first, last = counts[0], counts[-1]
            print(f"Ratio: {last} workers / {first} worker(s) = {rates[last] / rates[first]:.2f}x "
                  f"({rates[last]:.2f} vs {rates[first]:.2f} processos/s); machine load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            return 0
        procs = rig.workers(args.workers)
        queue = rig.queue
        empty = empty_job_rate(queue, args.empty_jobs, deadline, [p.pid for p in procs])
        jobs_before = sum(finished_jobs(queue))
        pids = {"workers": [p.pid for p in procs], "simulator": [rig.sim_pid], "bench": [os.getpid()]}
        cpu_before = {k: cpu_seconds(*v) for k, v in pids.items()}
        phases = cycle(rig.admin, rig.ids, deadline)
        cpu = {k: cpu_seconds(*v) - cpu_before[k] for k, v in pids.items()}
        import requests

        sim_stats = requests.get(f"{rig.sim_url}/_sim/stats", timeout=5).json()
        report(args, rig.db_name, phases, sum(finished_jobs(queue)) - jobs_before,
               empty, sim_stats, rig.app.config["RPA_POLL_INTERVAL"], cpu, rig.limite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
