"""Bench the robots' dispatch (apps.robos.dispatch behind apps.rpa.throttle), two figures in the same run:

1. Overhead per run: admitting 1,000 waiting runs with three robots registered vs the same with none (today's
   path), beside a run's own work: admission, start job and polls until its invoices are stored, against a
   zero-latency simulator (a real robot run takes seconds to minutes on top). Aim: overhead ≤ 1/4 of it.
2. Spread: 1,000 runs through 3 robots of capacities 2/4/6, each run ending after a random duration on a
   virtual clock through the real end_run (→ free_slot → dispatch); each robot's share of the runs beside its
   share of the capacity. Aim: every share within 2 points of its capacity share, no robot ever over capacity.

Run: `.venv/bin/python bench/bench_dispatch.py [--runs 1000] [--postgres]`
Self-contained: its own redis-server, a SQLite file (or a throw-away PostgreSQL), the simulator in a thread.
No RQ worker runs: the start jobs are really enqueued and left in Redis.
"""
import argparse
import heapq
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import current_app  # noqa: E402
from sqlalchemy import delete, event, insert, select, update  # noqa: E402

from apps import create_app  # noqa: E402
from apps.clientes.models import Cliente  # noqa: E402
from apps.core.queues import get_redis  # noqa: E402
from apps.core.types import db, utcnow  # noqa: E402
from apps.operadoras.models import Operadora  # noqa: E402
from apps.processos.models import Execucao, Processo, StatusExecucao  # noqa: E402
from apps.robos import dispatch  # noqa: E402
from apps.robos.models import Robo, StatusRobo  # noqa: E402
from apps.rpa import follow, jobs, throttle  # noqa: E402
from apps.rpa.runs import end_run  # noqa: E402
from simulator import serve_in_thread  # noqa: E402
from tests.support.servers import postgres_server, redis_server  # noqa: E402


def _seed(n: int):
    operadora = Operadora(codigo="VIVO", nome="Vivo", limite_concorrencia=100)
    db.session.add(operadora)
    db.session.flush()
    clientes = [{"id": uuid.uuid4(), "nome": f"Cliente {i:05d}", "cnpj": f"{i:014d}", "operadora_id": operadora.id,
                 "ativo": True} for i in range(n)]
    db.session.execute(insert(Cliente), clientes)
    db.session.execute(insert(Processo), [{"id": uuid.uuid4(), "cliente_id": c["id"], "competencia": "2026-11",
                                           "status": "AGUARDANDO_DOWNLOAD", "cliente_nome": c["nome"]}
                                          for c in clientes])
    db.session.commit()
    return operadora


def _fresh_runs():
    """Every processo with one waiting run (PENDENTE, not admitted); Redis emptied of the last round's jobs."""
    db.session.execute(delete(Execucao))
    ids = db.session.scalars(select(Processo.id)).all()
    now = utcnow()
    db.session.execute(insert(Execucao), [{"id": uuid.uuid4(), "processo_id": pid, "tipo": "DOWNLOAD",
                                           "status": StatusExecucao.PENDENTE, "created_at": now, "updated_at": now}
                                          for pid in ids])
    db.session.commit()
    from apps.core.queues import get_redis

    get_redis().flushdb()


def _robots(capacities):
    db.session.execute(delete(Robo))
    for i, capacidade in enumerate(capacities):
        db.session.add(Robo(nome=f"robo-{i}", url=f"http://127.0.0.1:{9000 + i}", tags="*", capacidade=capacidade,
                            status=StatusRobo.DISPONIVEL, ultimo_contato=utcnow()))
    db.session.commit()
    return db.session.scalars(select(Robo).order_by(Robo.nome)).all()


def _admit_batch(operadora, batch) -> tuple[float, float]:
    """(seconds, SQL statements) per run to admit `batch` waiting runs in one throttle pass."""
    db.session.execute(update(Operadora).values(limite_concorrencia=batch))
    db.session.commit()
    statements = []
    listener = lambda *args: statements.append(1)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    started = time.perf_counter()
    admitted = throttle.dispatch(operadora.id)
    elapsed = time.perf_counter() - started
    event.remove(db.engine, "before_cursor_execute", listener)
    assert len(admitted) == batch, len(admitted)
    return elapsed / batch, len(statements) / batch


def overhead(operadora, n, batch=100) -> tuple[tuple, tuple, tuple]:
    """(s, statements) per run admitted: today's path (the robot check bypassed), no robot registered, three
    robots. Rounds of `batch` runs interleaved, n runs each way in all; the fastest round of each (a shared
    machine's bursts hit all three)."""
    today, plain, robots = [], [], []
    for _ in range(max(1, n // batch)):
        db.session.execute(delete(Robo))
        _fresh_runs()
        saved = throttle.robos.uses_robots
        throttle.robos.uses_robots = lambda operadora: False  # the admission before apps.robos existed
        try:
            today.append(_admit_batch(operadora, batch))
        finally:
            throttle.robos.uses_robots = saved
        _fresh_runs()
        plain.append(_admit_batch(operadora, batch))
        _robots([batch, batch, batch])
        _fresh_runs()
        robots.append(_admit_batch(operadora, batch))
    return min(today), min(plain), min(robots)


def run_cost(operadora, samples=20) -> float:
    """Seconds of one run's own work, no robots registered: its admission, the start job, the polls until it ends
    (status, logs stored, invoices fetched and stored, end_run), called in this process against a zero-latency
    simulator, the way a worker runs them (without RQ's own cost)."""
    sim = serve_in_thread(job_duration=0, queue_wait=0, static_token="bench", log_lines=4)
    app = current_app
    saved = {k: app.config[k] for k in ("API_EXTERNA_URL", "API_EXTERNA_TOKEN", "RPA_LOG_GRACE_SECONDS")}
    app.config.update(API_EXTERNA_URL=sim.url, API_EXTERNA_TOKEN="bench", RPA_LOG_GRACE_SECONDS=0)
    db.session.execute(delete(Robo))
    _fresh_runs()
    db.session.execute(update(Operadora).values(limite_concorrencia=1))
    db.session.commit()
    ids = db.session.scalars(select(Execucao.id).order_by(Execucao.created_at, Execucao.id).limit(samples)).all()
    times = []
    try:
        for execucao_id in ids:
            started = time.perf_counter()
            throttle.dispatch(operadora.id)
            jobs.start_execucao(str(execucao_id), follower=None)
            for _ in range(20):
                execucao = db.session.get(Execucao, execucao_id, populate_existing=True)
                if execucao.status not in StatusExecucao.ACTIVE:
                    break
                token = get_redis().get(follow.lease_key(execucao_id))
                jobs.poll_execucao(str(execucao_id), follower=token.decode() if token else None)
            times.append(time.perf_counter() - started)
            assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    finally:
        app.config.update(saved)
        sim.shutdown()
    return statistics.median(times)


def spread(operadora, n, capacities, seed=2026) -> dict:
    """Run `n` runs through robots of `capacities` on a virtual clock; {robot: runs}, and the most held at once."""
    robots = _robots(capacities)
    _fresh_runs()
    db.session.execute(update(Operadora).values(limite_concorrencia=sum(capacities)))
    db.session.commit()
    rng, clock, ending = random.Random(seed), 0.0, []
    seen = set()
    highest = {r.id: 0 for r in robots}

    def track():
        for robo_id, held in dispatch.loads().items():
            highest[robo_id] = max(highest[robo_id], held)
        for execucao in db.session.scalars(select(Execucao).where(dispatch.holding())):
            if execucao.id not in seen:
                seen.add(execucao.id)
                heapq.heappush(ending, (clock + rng.uniform(0.5, 1.5), str(execucao.id)))

    throttle.dispatch(operadora.id)
    track()
    while ending:
        clock, execucao_id = heapq.heappop(ending)
        end_run(db.session.get(Execucao, uuid.UUID(execucao_id)), error="fim simulado")
        track()
    per_robot = dict(db.session.execute(select(Execucao.robo_id, db.func.count()).group_by(Execucao.robo_id)).all())
    return {r: (per_robot.get(r.id, 0), highest[r.id]) for r in robots}


def main_for(url: str, redis_url: str, n: int, label: str) -> None:
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                      "INSTANCE_DIR": tempfile.mkdtemp(prefix="bench-dispatch-"), "JSON_LOGS": False,
                      "LOG_LEVEL": "WARNING"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        operadora = _seed(n)
        (today, today_sql), (plain, plain_sql), (robots, robots_sql) = overhead(operadora, n)
        cost = run_cost(operadora)
        extra = robots - today
        print(f"[{label}] {n:,} runs admitted each way, in rounds of 100 (fastest round shown)")
        print(f"  admission per run, before robots existed : {today * 1000:7.2f} ms  {today_sql:.1f} SQL statements")
        print(f"  admission per run, no robot registered   : {plain * 1000:7.2f} ms  {plain_sql:.1f} SQL statements")
        print(f"  admission per run, 3 robots (dispatch)   : {robots * 1000:7.2f} ms  {robots_sql:.1f} SQL statements")
        print(f"  dispatch overhead per run                : {extra * 1000:7.2f} ms  {robots_sql - today_sql:+.1f} statements")
        print(f"  a run's own work at zero robot latency   : {cost * 1000:7.2f} ms   "
              f"ratio overhead/run {extra / cost:.2f} (aim ≤ 0.25)")
        capacities = (2, 4, 6)
        started = time.perf_counter()
        result = spread(operadora, n, capacities)
        elapsed = time.perf_counter() - started
        total = sum(count for count, _ in result.values())
        print(f"  spread of {total:,} runs over capacities {'/'.join(map(str, capacities))} "
              f"({elapsed:.1f} s, each end through end_run → dispatch):")
        worst = 0.0
        for robo, (count, highest) in result.items():
            share, expected = 100 * count / total, 100 * robo.capacidade / sum(capacities)
            worst = max(worst, abs(share - expected))
            print(f"    {robo.nome} capacity {robo.capacidade}: {count:4d} runs = {share:5.1f}% "
                  f"(capacity share {expected:5.1f}%), most at once {highest}/{robo.capacidade}")
        print(f"  worst share gap {worst:.1f} points (aim ≤ 2); over capacity: "
              f"{'never' if all(h <= r.capacidade for r, (_, h) in result.items()) else 'YES'}")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL 15")
    args = parser.parse_args()
    with redis_server() as (redis_url, _proc):
        folder = tempfile.mkdtemp(prefix="bench-dispatch-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
        main_for(f"sqlite:///{folder}/bench.db", redis_url, args.runs, "SQLite")
        if args.postgres:
            with postgres_server() as url:
                main_for(url, redis_url, args.runs, "PostgreSQL")


if __name__ == "__main__":
    main()
