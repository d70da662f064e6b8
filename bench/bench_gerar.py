"""Bench `gerar-mensal` (apps.processos.services.gerar_processos) for 100,000 active clientes
beside a raw `INSERT … SELECT … ON CONFLICT DO NOTHING` of the same rows, in the same database
and the same run. Aim: ratio at most 1.5.

Run: `.venv/bin/python bench/bench_gerar.py [--clientes 100000] [--postgres]`
The schema is built by the migrations, so both inserts fire the processo_totais triggers.
"""
import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datetime import UTC

from sqlalchemy import delete, func, insert, select, text  # noqa: E402

from apps import create_app  # noqa: E402
from apps.clientes.models import Cliente  # noqa: E402
from apps.core.types import db  # noqa: E402
from apps.operadoras.models import Operadora  # noqa: E402
from apps.processos.models import Processo  # noqa: E402
from apps.processos.services import gerar_processos  # noqa: E402

CHUNK = 10_000
RAW = {
    "sqlite": """INSERT INTO processos (id, cliente_id, competencia, status, criado_por_id, created_at, updated_at, cliente_nome)
                 SELECT lower(hex(randomblob(16))), id, :c, 'AGUARDANDO_DOWNLOAD', NULL, :now, :now, nome
                 FROM clientes WHERE ativo ON CONFLICT (cliente_id, competencia) DO NOTHING""",
    "postgresql": """INSERT INTO processos (id, cliente_id, competencia, status, criado_por_id, created_at, updated_at, cliente_nome)
                     SELECT gen_random_uuid(), id, :c, 'AGUARDANDO_DOWNLOAD', NULL, now(), now(), nome
                     FROM clientes WHERE ativo ON CONFLICT (cliente_id, competencia) DO NOTHING""",
}


def _seed(n: int) -> None:
    op = Operadora(codigo="VIVO", nome="Vivo")
    db.session.add(op)
    db.session.flush()
    for first in range(0, n, CHUNK):
        db.session.execute(insert(Cliente), [
            {"id": uuid.uuid4(), "nome": f"Cliente {i:06d}", "cnpj": f"{i:014d}", "operadora_id": op.id, "ativo": True}
            for i in range(first, min(n, first + CHUNK))])
    db.session.commit()


def _raw(dialect: str) -> float:
    from datetime import datetime

    started = time.perf_counter()
    db.session.execute(text(RAW[dialect]), {"c": "2026-12", "now": datetime.now(UTC).isoformat(" ")})
    db.session.commit()
    return time.perf_counter() - started


def _ours(competencia: str) -> tuple[float, dict]:
    started = time.perf_counter()
    result = gerar_processos(competencia)
    return time.perf_counter() - started, result


def run(url: str, n: int, label: str) -> None:
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": "redis://127.0.0.1:1/0",
                      "INSTANCE_DIR": tempfile.mkdtemp(prefix="bench-gerar-")})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()  # the production schema, triggers included: both inserts below pay for processo_totais
        _seed(n)
        dialect = db.engine.dialect.name
        rounds = []
        for _ in range(3):
            raw = _raw(dialect)
            ours, result = _ours("2026-11")
            again, second = _ours("2026-11")
            assert result["criados"] == n and second["criados"] == 0, (result, second)
            db.session.execute(delete(Processo))
            db.session.commit()
            rounds.append((raw, ours, again))
        raw, ours, again = min(rounds, key=lambda r: r[1])
        count = db.session.scalar(select(func.count()).select_from(Cliente))
        print(f"[{label}] {count:,} clientes ativos")
        print(f"  raw INSERT … SELECT          : {raw:.3f} s")
        print(f"  gerar_processos (1st run)    : {ours:.3f} s   ratio {ours / raw:.2f} (aim ≤ 1.5)")
        print(f"  gerar_processos (2nd run, 0 new): {again:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clientes", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL 15")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-gerar-")
    run(f"sqlite:///{folder}/bench.db", args.clientes, "SQLite")
    if args.postgres:
        from tests.support.servers import postgres_server

        with postgres_server() as url:
            run(url, args.clientes, "PostgreSQL")


if __name__ == "__main__":
    main()
