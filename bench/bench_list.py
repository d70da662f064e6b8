"""Bench the processo list and the home dashboard with 1,000 processos beside 1,000,000, and page 5,000 of
the large month beside its page 1.

Run: `.venv/bin/python bench/bench_list.py [--small 1000] [--large 1000000] [--requests 15] [--postgres]`
Two databases, one per size, are loaded first; then for each page the requests alternate between
them and the median response time (after warm-up requests) of each size is taken, with their ratio (aim:
at most 1.5) and the number of SQL statements per request, counted with a SQLAlchemy
`before_cursor_execute` listener (must be the same at both sizes: no N+1). The statements of one
request at the large size are listed with their times. The dashboard is measured uncached
(DASHBOARD_CACHE_SECONDS=0), and ANALYZE (VACUUM ANALYZE on PostgreSQL, as autovacuum does after a bulk
insert) runs after each load. Aims: list pages ≤ 1.5, dashboard ≤ 2.

Page 5,000 (rows 124,976-125,000) against page 1 of the large month, requests interleaved on the same site
(aim ≤ 1.5, same statement count): reached as a person does, by the link on page 4,999 (which carries its
last row), and by a bare `?page=5000` (typed, or an old bookmark: from the anchor before it, and once before
its anchors are read); and the JSON API's `?page=5000` against its page 1 (a bearer token; the same rows as
the list's page), of the month (`competencia=`, anchored as the list) and of every month (the API has no
default month).
Clientes load in one INSERT … SELECT (bench/seed.py).
"""
import argparse
import gc
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, insert, select, text, update  # noqa: E402

import apps.models  # noqa: E402,F401  (the whole schema first: apps.home and apps.processos import each other)
from apps import create_app  # noqa: E402
from apps.auth.models import Role  # noqa: E402
from apps.auth.services import create_user  # noqa: E402
from apps.clientes.models import Cliente  # noqa: E402
from apps.core.clock import current_competencia  # noqa: E402
from apps.core.queues import get_redis  # noqa: E402
from apps.core.types import db, utcnow  # noqa: E402
from apps.operadoras.models import Operadora  # noqa: E402
from apps.processos import ancoras  # noqa: E402
from apps.processos.models import Execucao, Processo, StatusExecucao, StatusProcesso, TipoExecucao  # noqa: E402
from apps.processos.services import gerar_processos  # noqa: E402
from bench.seed import add_clientes  # noqa: E402
from tests.conftest import PASSWORD, CSRFClient  # noqa: E402
from tests.support.servers import redis_server  # noqa: E402

OPERADORAS = ("VIVO", "CLARO", "TIM", "OI", "EMBRATEL")
# The last digit of the cliente's codigo decides the processo's status: 40/20/20/20 %.
STATUS_BY_DIGIT = {StatusProcesso.AGUARDANDO_APROVACAO: "45", StatusProcesso.AGUARDANDO_ENVIO_SAT: "67",
                   StatusProcesso.UPLOAD_REALIZADO: "89"}
CHUNK = 50_000
REDIS = {"url": None}  # the bench's own redis-server (the anchors of deep pages are kept there, as in production)


def _spread_statuses() -> None:
    for status, digits in STATUS_BY_DIGIT.items():
        clientes = select(Cliente.id).where(func.substr(Cliente.codigo, func.length(Cliente.codigo)).in_(list(digits)))
        db.session.execute(update(Processo).where(Processo.cliente_id.in_(clientes)).values(status=status))
    db.session.commit()


def _add_execucoes() -> None:
    """One finished download per processo past AGUARDANDO_DOWNLOAD, 1 in 20 failed, over 30 days."""
    pending = select(Processo.id).where(Processo.status != StatusProcesso.AGUARDANDO_DOWNLOAD,
                                        ~select(Execucao.id).where(Execucao.processo_id == Processo.id).exists())
    ids = list(db.session.scalars(pending))
    now = utcnow()
    for first in range(0, len(ids), CHUNK):
        rows = []
        for n, processo_id in enumerate(ids[first:first + CHUNK], start=first):
            fim = now - timedelta(minutes=(n * 37) % (30 * 24 * 60))
            rows.append({"id": uuid.uuid4(), "processo_id": processo_id, "tipo": TipoExecucao.DOWNLOAD,
                         "status": StatusExecucao.FALHOU if n % 20 == 0 else StatusExecucao.CONCLUIDO,
                         "created_at": fim - timedelta(seconds=60 + n % 600), "updated_at": fim,
                         "data_inicio": fim - timedelta(seconds=55 + n % 600), "data_fim": fim, "ultimo_seq": 0})
        db.session.execute(insert(Execucao), rows)
    db.session.commit()


def grow_to(total: int, operadora_ids: list) -> None:
    """Clientes up to `total`, this month's processos (gerar_processos), statuses and runs."""
    have = db.session.scalar(select(func.count()).select_from(Cliente))
    add_clientes(have, total, operadora_ids)
    gerar_processos(current_competencia())
    _spread_statuses()
    _add_execucoes()
    # Current planner statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) keep them. Without
    # them SQLite may drive a correlated EXISTS on execucoes by ix_execucoes_status_created instead of
    # processo_id, and a query that takes 11 ms takes 0.75 s at 10,000 processos (and grows as N x F).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE"))


class QueryCounter:
    """Counts (and times) the SQL statements sent through the engine while active."""

    def __init__(self, engine):
        self.engine, self.statements = engine, []

    @property
    def count(self) -> int:
        return len(self.statements)

    def _before(self, conn, cursor, statement, *args):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, *args):
        elapsed = (time.perf_counter() - conn.info.pop("bench_started")) * 1000
        self.statements.append((elapsed, " ".join(statement.split())[:110]))

    def __enter__(self):
        self.statements = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def timed_get(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, url
    return elapsed


def timed_pair(sites, first: tuple, second: tuple, requests: int) -> tuple:
    """Medians of two (size, url) requests, interleaved."""
    timings = {first: [], second: []}
    for n in range(3 + requests):
        for key in (first, second):
            elapsed = timed_get(sites[key[0]][1], key[1])
            if n >= 3:
                timings[key].append(elapsed)
    return statistics.median(timings[first]), statistics.median(timings[second])


def deep_against_first(site, label: str, first: str, deep: str, requests: int) -> tuple:
    """Time page `deep` against page `first` on one site ((app, client), requests interleaved), print the line
    with both statement counts, and return (page 1's time, the deep page's statements)."""
    app, client = site
    t1, t_deep = timed_pair({0: site}, (0, first), (0, deep), requests)
    q1, listed = len(statements(app, client, first)), statements(app, client, deep)
    flag = "" if q1 == len(listed) else "  <- query count differs"
    print(f"  {label:<42} page 1 {t1:7.1f} ms, page 5,000 {t_deep:7.1f} ms, ratio {t_deep / t1:5.2f} "
          f"(aim ≤ 1.5), queries {q1} / {len(listed)}{flag}")
    return t1, listed


def statements(app, client, url: str) -> list:
    """The (timed) SQL statements of one request."""
    with app.app_context(), QueryCounter(db.engine) as counter:
        client.get(url)
    return counter.statements


def open_site(database_url: str, size: int):
    """A migrated database with `size` processos and a logged-in admin's client."""
    folder = Path(tempfile.mkdtemp(prefix="bench-list-"))
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_DIR": folder,
                      "REDIS_URL": REDIS["url"],
                      "RATELIMIT_STORAGE_URI": "memory://", "DASHBOARD_CACHE_SECONDS": 0})  # the real cost
    app.test_client_class = CSRFClient
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        operadoras = [Operadora(codigo=codigo, nome=codigo.title()) for codigo in OPERADORAS]
        db.session.add_all(operadoras)
        create_user("medidor", "medidor@example.com", PASSWORD, role=Role.ADMIN)
        db.session.commit()
        started = time.perf_counter()
        grow_to(size, [o.id for o in operadoras])
        processos = db.session.scalar(select(func.count()).select_from(Processo))
        execucoes = db.session.scalar(select(func.count()).select_from(Execucao))
        print(f"{db.engine.dialect.name}: {processos:,} processos, {execucoes:,} execucoes "
              f"(loaded in {time.perf_counter() - started:.1f} s)")
    client = app.test_client()
    assert client.post("/login", data={"login": "medidor", "password": PASSWORD}).status_code == 302
    return app, client


def bench(small_url: str, large_url: str, small: int, large: int, requests: int) -> None:
    """Both sizes side by side, their requests interleaved (small, large, small, ...), so a change in
    the machine's load during the run weighs on both medians alike."""
    sites = {small: open_site(small_url, small), large: open_site(large_url, large)}
    gc.collect()
    with sites[large][0].app_context():
        competencia = current_competencia()
    # ultima_falhou: 1 in 20 runs failed (counted directly); q: a search folded to its key ("CLIÊNTE" finds them all).
    pages = ["/processos", f"/processos?competencia={competencia}", "/processos?status=AGUARDANDO_APROVACAO",
             "/processos?ultima_falhou=1", "/processos?q=CLI%C3%8ANTE", "/"]
    print(f"  {'page':<42} {'median ' + format(small, ','):>14} {'median ' + format(large, ','):>16} "
          f"{'ratio':>6} {'queries':>9}")
    listed = {}
    for url in pages:
        timings = {small: [], large: []}
        for _ in range(3):  # warm-up
            for _app, client in sites.values():
                timed_get(client, url)
        for _ in range(requests):
            for size, (_app, client) in sites.items():
                timings[size].append(timed_get(client, url))
        t_small, t_large = statistics.median(timings[small]), statistics.median(timings[large])
        q_small, listed[url] = len(statements(*sites[small], url)), statements(*sites[large], url)
        flag = "" if q_small == len(listed[url]) else "  <- query count differs"
        print(f"  {url:<42} {t_small:11.1f} ms {t_large:13.1f} ms {t_large / t_small:6.2f} "
              f"{q_small:>4} / {len(listed[url]):<4}{flag}")
    # Page 5,000 of the large month against its page 1 (same site, interleaved).
    client = sites[large][1]
    html = client.get("/processos?page=4999").get_data(as_text=True)
    link = re.search(r'<a class="page-link" href="([^"]*)">Próxima</a>', html).group(1).replace("&amp;", "&")
    assert "page=5000" in link and "ref=" in link, link
    page1 = "/processos?page=1"
    for label, url in (("page 5,000 by page 4,999's link", link), ("page 5,000 typed (?page=5000)", "/processos?page=5000")):
        t1, listed[url] = deep_against_first(sites[large], label, page1, url, requests)
        pages.append(url)
    # The first ?page=5000 after the month changed (its anchors dropped before each request): the anchors are
    # read from the list as far as the page, a seek every 1,000 rows (apps.processos.ancoras).
    redis = get_redis(REDIS["url"])
    first_visit = []
    for _ in range(5):
        redis.delete(ancoras.KEY.format(scope=competencia))
        first_visit.append(timed_get(client, "/processos?page=5000"))
    print(f"  {'page 5,000 typed, anchors not yet read':<42} page 1 {t1:7.1f} ms, page 5,000 "
          f"{statistics.median(first_visit):7.1f} ms, ratio {statistics.median(first_visit) / t1:5.2f} "
          f"(once per change of the month's rows)")
    body = client.get(link).get_data(as_text=True)
    first_row = re.search(r"Cliente (\d{8})", body).group(1)
    assert int(first_row) - 10_000_000 == 124_975, first_row  # the 124,976th cliente: the page is right
    # The JSON API's page 5,000 (25 a page, as the list) against its page 1, with a bearer token.
    app = sites[large][0]
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "medidor", "password": PASSWORD}).get_json()["access"]
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    # The month's list (as the page above, anchored) and every month's (no default month in the API: not
    # anchored, found from the nearer end), the same rows here since the large site holds one month.
    for label, query in (("API page 5,000 of the month", f"competencia={competencia}&"), ("API page 5,000, every month", "")):
        api1, api5000 = f"/api/v1/processos?{query}per_page=25&page=1", f"/api/v1/processos?{query}per_page=25&page=5000"
        _, listed[api5000] = deep_against_first((app, api), label, api1, api5000, requests)
        items = api.get(api5000).get_json()["items"]
        assert items[0]["cliente_nome"].endswith(first_row), items[0]  # the same rows as the list's page 5,000
        pages.append(api5000)
    print(f"  statements at {large:,} (one request each):")
    for url in pages:
        print(f"    {url}")
        for elapsed, statement in listed[url]:
            print(f"      {elapsed:8.1f} ms  {statement}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, redis_server() as (REDIS["url"], _proc):
        bench(f"sqlite:///{tmp}/small.db", f"sqlite:///{tmp}/large.db", args.small, args.large, args.requests)
    if args.postgres:
        from sqlalchemy import create_engine

        from tests.support.servers import postgres_server

        with postgres_server() as url, redis_server() as (REDIS["url"], _proc):
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("CREATE DATABASE rpa_small"))
            engine.dispose()
            bench(url.rsplit("/", 1)[0] + "/rpa_small", url, args.small, args.large, args.requests)


if __name__ == "__main__":
    main()
