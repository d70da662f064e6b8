"""Bench the CSV import of clientes: 100,000 generated rows, preview and import, rows/s and memory.

Run: `.venv/bin/python bench/bench_import.py [--rows 100000] [--postgres]`
Times are measured without tracemalloc; the peak of Python allocations is measured in a second
run of each phase with tracemalloc on (it slows Python down, so its times are not shown).
"""
import argparse
import csv
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, select  # noqa: E402

from apps import create_app  # noqa: E402
from apps.auth.models import Role  # noqa: E402
from apps.auth.services import create_user  # noqa: E402
from apps.clientes import importacao, importer  # noqa: E402
from apps.clientes.cnpj import check_digits, format_cnpj  # noqa: E402
from apps.clientes.models import Cliente  # noqa: E402
from apps.core.types import db  # noqa: E402
from apps.operadoras.models import Operadora  # noqa: E402

BAD_EVERY = 100  # one row in 100 has a wrong check digit, so the report is exercised too


def write_csv(path: Path, rows: int) -> int:
    """A ';'-separated UTF-8 file like Excel's; returns how many rows are invalid."""
    bad = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["nome", "cnpj", "codigo", "operadora", "ativo"])
        for i in range(rows):
            base = f"{i + 1:08d}0001"
            digits = check_digits(base)
            if i % BAD_EVERY == BAD_EVERY - 1:
                digits, bad = f"{(int(digits) + 1) % 100:02d}", bad + 1
            writer.writerow([f"Cliente Ação {i}", format_cnpj(base + digits), f"C{i}", "VIVO", "sim"])
    return bad


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(label: str, rows: int, fn, traced: bool):
    """Run fn once; print rows/s (untraced) or the tracemalloc peak (traced)."""
    if traced:
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  {label:<26} peak Python memory {peak / 2**20:7.1f} MB")
        return
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    print(f"  {label:<26} {elapsed:6.2f} s  {rows / elapsed:9,.0f} rows/s  (process max RSS {rss_mb():.0f} MB)")


def stage(source: Path) -> str:
    """Copy the file where the import expects an upload; return its token."""
    token = uuid.uuid4().hex
    (importacao.imports_dir() / f"{token}.csv").write_bytes(source.read_bytes())
    return token


def bench(database_url: str, rows: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_DIR": folder,
                      "CLIENTES_IMPORT_BACKGROUND_ROWS": 10**9})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.session.add(Operadora(codigo="VIVO", nome="Vivo"))
        user = create_user("medidor", "medidor@example.com", "Senha-de-Teste-9", role=Role.OPERADOR)
        db.session.commit()
        source = folder / "source.csv"
        bad = write_csv(source, rows)
        print(f"{db.engine.dialect.name}: {rows:,} rows ({bad:,} invalid), {source.stat().st_size / 2**20:.1f} MB file")
        for traced in (False, True):
            run_once(source, rows, user, traced)


def run_once(source: Path, rows: int, user, traced: bool) -> None:
    """Preview then import one staged copy of the file; the clientes are removed afterwards."""
    token = stage(source)
    measure("preview (nothing written)", rows, lambda: importer.preview(importacao.path_for(token)), traced)
    result = {}
    measure("import (both passes)", rows,
            lambda: result.setdefault("imp", importacao.start(token, "bench.csv", by=user)), traced)
    imp = result["imp"]
    total = db.session.scalar(select(func.count()).select_from(Cliente))
    print(f"  -> {imp.status}: {imp.importadas:,} imported, {imp.invalidas:,} invalid, {total:,} clientes")
    db.session.execute(delete(Cliente))
    db.session.commit()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", args.rows)
    if args.postgres:
        from tests.support.servers import postgres_server

        with postgres_server() as url:
            bench(url, args.rows)


if __name__ == "__main__":
    main()
