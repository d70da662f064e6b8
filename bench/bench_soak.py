"""Soak the worker path: Redis memory and key count, and worker RSS, over many finished robot runs.

Run: `.venv/bin/python bench/bench_soak.py [--runs 10000] [--batch 500] [--workers 2] [--budget 1500]
[--postgres] [--latency 0]`

The rig of bench_cycle (its own redis-server, SQLite or a throw-away PostgreSQL, the simulator, N
`python -m apps.worker` processes). Each batch is one more month of `--batch` clientes through the whole cycle
(download, approval, SAT upload: two finished runs per processo). After every batch it samples Redis
(`INFO memory` used_memory, every key by prefix, keys without a TTL) and each worker's RSS (/proc VmRSS).
It stops after `--runs` finished runs or, when `--budget` seconds run out, after the batch under way, and
then extrapolates to `--runs` from the growth after the warm-up batch, saying so.

Bound checked: after the first batch (warm-up), worker RSS grows by at most RSS_BOUND_MB per worker, and Redis
holds no key without a TTL that grows with the runs (the counts by prefix show which one would).
"""
import argparse
import re
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cycle import Deadline, Rig, add_common, cycle, new_month  # noqa: E402

RSS_BOUND_MB = 20  # growth per worker after warm-up, over the whole soak


def rss_mb(pid) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def prefix(key: str) -> str:
    """The key's family: its leading words, ids replaced (rq:job:<id> → rq:job:*, rpa:follow:<uuid> → …)."""
    parts = key.split(":")
    kept = []
    for part in parts:
        if re.fullmatch(r"[0-9a-f]{8,}(-[0-9a-f]{4,})*|[0-9a-f-]{32,}|\d+|rpa-(start|poll)-.*|bench-\d+.*", part):
            kept.append("*")
            break
        kept.append(part)
    return ":".join(kept)


def redis_sample(redis, sizes=None):
    """(used_memory, keys by family, keys without a TTL by family); `sizes` gets MEMORY USAGE of a few of each."""
    families, no_ttl = Counter(), Counter()
    for key in redis.scan_iter(count=1000):
        name = key.decode(errors="replace")
        family = prefix(name)
        families[family] += 1
        if redis.ttl(key) == -1:
            no_ttl[family] += 1
        if sizes is not None and len(sizes.setdefault(family, [])) < 20:
            sizes[family].append(redis.memory_usage(key) or 0)
    return redis.info("memory")["used_memory"], families, no_ttl


def finished_runs():
    from apps.core.types import db
    from apps.processos.models import Execucao, StatusExecucao

    db.session.rollback()
    return db.session.scalar(db.select(db.func.count()).select_from(Execucao)
                             .where(Execucao.status == StatusExecucao.CONCLUIDO))


def month(k: int) -> str:
    return f"{2030 + k // 12}-{k % 12 + 1:02d}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common(parser)
    parser.add_argument("--runs", type=int, default=10000, help="finished runs to reach (default 10,000)")
    parser.add_argument("--batch", type=int, default=500, help="processos per month (two runs each)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=float, default=1500, help="seconds; no new batch starts after them")
    args = parser.parse_args(argv)
    args.processos = args.batch  # the clientes seeded: one processo each per month
    deadline = Deadline(args.timeout if args.timeout != 300 else args.budget + 900)
    started = time.monotonic()
    with ExitStack() as stack:
        rig = Rig(stack, args, deadline)
        from apps.core.queues import get_redis

        redis = get_redis()
        procs = rig.workers(args.workers)
        print(f"\nSoak: {args.batch} processos per month, {args.workers} workers, {rig.db_name}, simulator latency "
              f"{args.latency:g} s, limite_concorrencia={rig.limite}; a sample after every month", flush=True)
        print(f"{'runs':>6} {'s':>6} {'used_memory':>12} {'keys':>6} {'no TTL':>6}  worker RSS MB", flush=True)
        samples, k = [], 0
        gerados = rig.ids  # the seed's own month first
        while True:
            if k:
                gerados = new_month(month(k))
            competencia = "2026-10" if k == 0 else month(k)
            cycle(rig.admin, gerados, deadline, competencia)
            k += 1
            runs = finished_runs()
            sizes = {}
            used, families, no_ttl = redis_sample(redis, sizes)
            rss = [rss_mb(p.pid) for p in procs]
            samples.append((runs, used, families, no_ttl, rss, sizes))
            print(f"{runs:>6} {time.monotonic() - started:>6.0f} {used / 1e6:>10.2f}MB {sum(families.values()):>6} "
                  f"{sum(no_ttl.values()):>6}  " + " ".join(f"{r:.1f}" for r in rss), flush=True)
            if runs >= args.runs or time.monotonic() - started > args.budget:
                break
        report(args, samples)
    return 0


def report(args, samples):
    runs0, used0, fam0, _, rss0, _ = samples[0]
    runs1, used1, fam1, no_ttl1, rss1, sizes = samples[-1]
    print("\nKeys by family at the warm-up sample → at the end (no-TTL count and mean MEMORY USAGE at the end):")
    for family in sorted(set(fam0) | set(fam1), key=lambda f: -fam1.get(f, 0)):
        mean = sum(sizes.get(family, [0])) / max(1, len(sizes.get(family, [])))
        print(f"  {family:<40} {fam0.get(family, 0):>6} → {fam1.get(family, 0):>6}   no TTL "
              f"{no_ttl1.get(family, 0):>3}   {mean:>8.0f} B each")
    span = runs1 - runs0
    growth = [b - a for a, b in zip(rss0, rss1, strict=True)]
    print(f"\nAfter {runs1:,} finished runs (warm-up: the first {runs0:,}):")
    print(f"  Redis used_memory {used0 / 1e6:.2f} MB → {used1 / 1e6:.2f} MB")
    print("  worker RSS growth after warm-up: " + ", ".join(f"{g:+.1f} MB" for g in growth)
          + f" (bound {RSS_BOUND_MB} MB per worker over {args.runs:,} runs)")
    if runs1 < args.runs and span > 0:
        scale = (args.runs - runs0) / span
        print(f"  NOT the full {args.runs:,} runs: {runs1:,} fitted in the budget. Extrapolated linearly to "
              f"{args.runs:,}: Redis {(used0 + (used1 - used0) * scale) / 1e6:.2f} MB, worker RSS growth "
              + ", ".join(f"{g * scale:+.1f} MB" for g in growth))
        growth = [g * scale for g in growth]
    verdict = "holds" if all(g <= RSS_BOUND_MB for g in growth) else "MISSES"
    print(f"  RSS bound ({RSS_BOUND_MB} MB per worker after warm-up): {verdict}")


if __name__ == "__main__":
    sys.exit(main())
