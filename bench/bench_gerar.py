"""Bench opening a month (`POST /api/v1/processos/gerar`, apps.processos.services.gerar_processos) for
100,000 and 1,000,000 active clientes beside a raw `INSERT … SELECT … ON CONFLICT DO NOTHING` of the same
rows and columns, in the same database and the same run. Aim: ratio at most 1.5 on SQLite and PostgreSQL.

Run: `.venv/bin/python bench/bench_gerar.py [--clientes 100000,1000000] [--rounds 2] [--postgres] [--no-sqlite]`
The schema is built by the migrations, so both inserts fire the processo_totais triggers. The product's side
goes through the API route with a real bearer token (Flask test client): route, permission check, the
service's INSERT, its totals, the audit row and the commit. The clientes load with one INSERT … SELECT per
size (bench/seed.py); each round times raw and the route back to back (order alternating), each into an
empty processos table (emptied between them), then the route again with nothing new.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, delete, func, select, text  # noqa: E402

import apps.models  # noqa: E402,F401
from apps import create_app  # noqa: E402
from apps.auth.models import Role  # noqa: E402
from apps.auth.services import create_user  # noqa: E402
from apps.clientes.models import Cliente  # noqa: E402
from apps.core.types import UTCDateTime, db, utcnow  # noqa: E402
from apps.operadoras.models import Operadora  # noqa: E402
from apps.processos.models import Processo  # noqa: E402
from bench.seed import add_clientes  # noqa: E402
from tests.conftest import PASSWORD  # noqa: E402

# The same nine columns gerar_processos writes, from the same clientes.
RAW = {
    "sqlite": """INSERT INTO processos (id, cliente_id, competencia, status, criado_por_id, created_at, updated_at,
                                        cliente_nome, cliente_nome_busca)
                 SELECT lower(hex(randomblob(16))), id, :c, 'AGUARDANDO_DOWNLOAD', :by, :now, :now, nome, nome_busca
                 FROM clientes WHERE ativo ON CONFLICT (cliente_id, competencia) DO NOTHING""",
    "postgresql": """INSERT INTO processos (id, cliente_id, competencia, status, criado_por_id, created_at, updated_at,
                                            cliente_nome, cliente_nome_busca)
                     SELECT gen_random_uuid(), id, :c, 'AGUARDANDO_DOWNLOAD', :by, :now, :now, nome, nome_busca
                     FROM clientes WHERE ativo ON CONFLICT (cliente_id, competencia) DO NOTHING""",
}


def _raw(dialect: str, user_id) -> float:
    stmt = text(RAW[dialect]).bindparams(bindparam("now", type_=UTCDateTime()),
                                         bindparam("by", type_=Processo.criado_por_id.type))
    started = time.perf_counter()
    db.session.execute(stmt, {"c": "2026-10", "now": utcnow(), "by": user_id})
    db.session.commit()
    return time.perf_counter() - started


def _api(client, headers) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.post("/api/v1/processos/gerar", json={"competencia": "2026-11"}, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.get_data(as_text=True)
    return elapsed, response.get_json()


def _empty() -> None:
    """Back to no processos (and no counts), planner statistics fresh: each insert starts from the same table."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE processos CASCADE"))  # the month's rows only: nothing else refers to them
        db.session.execute(text("DELETE FROM processo_totais"))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE processos"))
    else:
        db.session.execute(delete(Processo))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM"))
    assert db.session.scalar(select(func.count()).select_from(Processo)) == 0


def run(url: str, sizes: list[int], rounds: int, label: str) -> None:
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": "redis://127.0.0.1:1/0",
                      "RATELIMIT_STORAGE_URI": "memory://", "INSTANCE_DIR": tempfile.mkdtemp(prefix="bench-gerar-")})
    client = app.test_client()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()  # the production schema, triggers included: both inserts below pay for processo_totais
        operadora = Operadora(codigo="VIVO", nome="Vivo")
        db.session.add(operadora)
        user = create_user("medidor", "medidor@example.com", PASSWORD, role=Role.ADMIN)
        db.session.commit()
        user_id, operadora_id = user.id, operadora.id
    token = client.post("/api/v1/auth/token", json={"username": "medidor", "password": PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {token['access']}"}
    for n in sizes:
        with app.app_context():
            started = time.perf_counter()
            have = db.session.scalar(select(func.count()).select_from(Cliente))
            add_clientes(have, n, [operadora_id])
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
            loaded = time.perf_counter() - started
            dialect = db.engine.dialect.name
        results = []
        for r in range(rounds):
            with app.app_context():
                for side in (("raw", "route") if r % 2 == 0 else ("route", "raw")):  # each from an empty table
                    if side == "raw":
                        raw = _raw(dialect, user_id)
                        same = db.session.scalar(select(func.count()).select_from(Processo)
                                                 .where(Processo.competencia == "2026-10"))
                        assert same == n, same
                    else:
                        ours, first = _api(client, headers)
                        again, second = _api(client, headers)
                        assert first["criados"] == n, first
                        assert second == {"competencia": "2026-11", "criados": 0, "existentes": n}, second
                    _empty()
            results.append((raw, ours, again))
            print(f"[{label} {n:,}] round {r + 1}: raw {raw:.3f} s, route {ours:.3f} s "
                  f"(ratio {ours / raw:.2f}), 2nd run {again:.3f} s", flush=True)
        raw = statistics.median(r[0] for r in results)
        ours = statistics.median(r[1] for r in results)
        again = statistics.median(r[2] for r in results)
        print(f"[{label}] {n:,} clientes ativos (loaded in {loaded:.1f} s), median of {rounds} rounds")
        print(f"  raw INSERT … SELECT … ON CONFLICT DO NOTHING : {raw:.3f} s")
        print(f"  POST /api/v1/processos/gerar (1st run)       : {ours:.3f} s   ratio {ours / raw:.2f} (aim ≤ 1.5)")
        print(f"  POST /api/v1/processos/gerar (2nd run, 0 new): {again:.3f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clientes", default="100000,1000000", help="sizes, comma-separated, ascending")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL 15")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.clientes.split(","))
    if not args.no_sqlite:
        folder = tempfile.mkdtemp(prefix="bench-gerar-")
        run(f"sqlite:///{folder}/bench.db", sizes, args.rounds, "SQLite")
    if args.postgres:
        from tests.support.servers import postgres_server

        with postgres_server() as url:
            run(url, sizes, args.rounds, "PostgreSQL")


if __name__ == "__main__":
    main()
