"""Bench the portal page (every serviço's form built from its schema and rendered server-side) against a
plain page of the app of similar size.

Run: `.venv/bin/python bench/bench_portal.py [--requests 60] [--clientes 40] [--postgres]`
One database with the demo data (40 clientes, the catalogue's serviços plus one with a field of every type);
the candidate plain pages are fetched once and the one whose HTML is closest in size to the portal's is the
reference. Then requests alternate (portal, reference, portal, ...), after warm-up, and the medians are
compared (aim: at most 2.0), with the SQL statements of one request of each; a refused submission
(server-side validation, re-rendering the portal with the messages) is timed the same way.
"""
import argparse
import copy
import gc
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import apps.models  # noqa: E402,F401  (the whole schema first)
from apps import create_app  # noqa: E402
from apps.auth.models import Role  # noqa: E402
from apps.auth.services import create_user  # noqa: E402
from apps.core.demo import seed_demo  # noqa: E402
from apps.core.types import db  # noqa: E402
from apps.portal.models import Dominio, Servico  # noqa: E402
from bench.bench_list import QueryCounter  # noqa: E402
from tests.conftest import PASSWORD, CSRFClient  # noqa: E402
from tests.portal_support import EVERY_TYPE, EVERY_TYPE_RUN  # noqa: E402

CANDIDATES = ("/clientes", "/operadoras", "/processos", "/clientes/novo", "/operadoras/nova", "/usuarios",
              "/auditoria", "/agendamentos")
LIMIT = 2.0


def open_site(database_url: str, clientes: int):
    folder = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_DIR": folder,
                      "RATELIMIT_STORAGE_URI": "memory://", "DASHBOARD_CACHE_SECONDS": 0})
    app.test_client_class = CSRFClient
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        seed_demo(n_clientes=clientes)
        dominio = db.session.scalar(db.select(Dominio))
        db.session.add(Servico(id=uuid.uuid4(), dominio_id=dominio.id, ativo=True, nome="Todos os tipos",
                               papeis=list(Role.ALL), form_schema_json=copy.deepcopy(EVERY_TYPE),
                               run_template_json=copy.deepcopy(EVERY_TYPE_RUN)))
        create_user("medidor", "medidor@example.com", PASSWORD, role=Role.ADMIN)
        db.session.commit()
        servico_id = db.session.scalar(db.select(Servico.id).where(Servico.nome == "Todos os tipos"))
    client = app.test_client()
    assert client.post("/login", data={"login": "medidor", "password": PASSWORD}).status_code == 302
    return app, client, servico_id


def timed(client, method, url, **kwargs):
    started = time.perf_counter()
    response = client.open(url, method=method, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, response


def statements(app, client, method, url, **kwargs) -> int:
    with app.app_context(), QueryCounter(db.engine) as counter:
        client.open(url, method=method, **kwargs)
    return counter.count


def bench(database_url: str, requests: int, clientes: int) -> float:
    app, client, servico_id = open_site(database_url, clientes)
    _, portal = timed(client, "GET", "/portal")
    assert portal.status_code == 200
    size = len(portal.data)
    sizes = {}
    for url in CANDIDATES:
        _, response = timed(client, "GET", url)
        if response.status_code == 200:
            sizes[url] = len(response.data)
    reference = min(sizes, key=lambda url: abs(sizes[url] - size))
    refused = {"method": "POST", "url": f"/portal/servicos/{servico_id}/solicitar",
               "data": {f"s{servico_id.hex[:8]}-titulo": "x", f"s{servico_id.hex[:8]}-quantidade": "muitos"}}
    cases = {"GET /portal": {"method": "GET", "url": "/portal"},
             f"GET {reference}": {"method": "GET", "url": reference},
             "POST solicitar (recusado, 422)": refused}
    timings = {name: [] for name in cases}
    gc.collect()
    for _ in range(5):
        for case in cases.values():
            timed(client, **case)
    for _ in range(requests):
        for name, case in cases.items():
            elapsed, response = timed(client, **case)
            assert response.status_code in (200, 422), (name, response.status_code)
            timings[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    base = medians[f"GET {reference}"]
    print(f"{database_url.split(':', 1)[0]}: portal {size:,} bytes "
          f"({sum(1 for _ in portal.data.decode().split('<input'))-1} inputs, "
          f"{portal.data.decode().count('<select')} selects); reference {reference} {sizes[reference]:,} bytes")
    print(f"  {'request':<34} {'median':>10} {'ratio':>7} {'queries':>8}")
    for name, case in cases.items():
        print(f"  {name:<34} {medians[name]:7.1f} ms {medians[name] / base:7.2f} "
              f"{statements(app, client, **case):>8}")
    ratio = medians["GET /portal"] / base
    print(f"  portal / {reference}: {ratio:.2f} (limit {LIMIT})" + ("" if ratio <= LIMIT else "  <- over the limit"))
    return ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clientes", type=int, default=40)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/portal.db", args.requests, args.clientes)
    if args.postgres:
        from tests.support.servers import postgres_server

        with postgres_server() as url:
            bench(url, args.requests, args.clientes)


if __name__ == "__main__":
    main()
