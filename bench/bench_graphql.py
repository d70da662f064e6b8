"""Bench GraphQL's 100-processo query (cliente, operadora, last run) beside the REST list of the same page.

Run: `.venv/bin/python bench/bench_graphql.py [--processos 10000] [--requests 25] [--postgres]`
One migrated database of `--processos` processos (bench_list's loader), an admin's Bearer token, and for
each endpoint the median response time of `--requests` requests (after warm-up, interleaved) and the SQL
statements of one request. Printed: both medians, their ratio, both statement counts.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_list import QueryCounter, open_site  # noqa: E402

from apps.core.types import db  # noqa: E402
from tests.conftest import PASSWORD  # noqa: E402

QUERY = """{ processos(first: 100) { edges { node { id status competencia
  cliente { nome cnpj operadora { codigo nome } } ultimaExecucao { status dataFim } } }
  pageInfo { hasNextPage endCursor } } }"""


def _graphql(client, headers):
    response = client.post("/api/graphql", json={"query": QUERY}, headers=headers)
    assert response.status_code == 200 and "errors" not in response.get_json(), response.get_data(as_text=True)[:300]
    assert len(response.get_json()["data"]["processos"]["edges"]) == 100


def _rest(client, headers):
    response = client.get("/api/v1/processos?per_page=100", headers=headers)
    assert response.status_code == 200 and len(response.get_json()["items"]) == 100


def _timed(call, *args) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def run(url: str, size: int, requests: int) -> None:
    app, client = open_site(url, size)
    token = client.post("/api/v1/auth/token", json={"username": "medidor", "password": PASSWORD}).get_json()["access"]
    headers = {"Authorization": f"Bearer {token}"}
    calls = {"GraphQL (100 processos + cliente, operadora, última execução)": _graphql,
             "REST GET /api/v1/processos?per_page=100": _rest}
    timings = {name: [] for name in calls}
    for _ in range(3):
        for call in calls.values():
            call(client, headers)
    for _ in range(requests):
        for name, call in calls.items():
            timings[name].append(_timed(call, client, headers))
    counts = {}
    for name, call in calls.items():
        with app.app_context(), QueryCounter(db.engine) as counter:
            call(client, headers)
        counts[name] = counter.count
    (g_name, g_times), (r_name, r_times) = timings.items()
    g, r = statistics.median(g_times), statistics.median(r_times)
    print(f"  {g_name:<62} {g:7.1f} ms  {counts[g_name]} statements")
    print(f"  {r_name:<62} {r:7.1f} ms  {counts[r_name]} statements")
    print(f"  ratio GraphQL / REST: {g / r:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processos", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", args.processos, args.requests)
    if args.postgres:
        from tests.support.servers import postgres_server

        with postgres_server() as url:
            run(url, args.processos, args.requests)


if __name__ == "__main__":
    main()
