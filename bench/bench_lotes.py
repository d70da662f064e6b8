"""Bench a 100,000-row lote (apps.lotes: the preview's check, then `run`: check again, stage, create the
missing processos and queue a PENDENTE run per line, chunk by chunk) beside a raw `INSERT … SELECT` of the same
processos and execucoes, in the same database and the same run; and the peak memory (tracemalloc) of the
lote's run. Aim: ratio at most 10 (the lote reads and checks a CSV twice, the raw SQL reads nothing),
peak under 40 MB.

Run: `.venv/bin/python bench/bench_lotes.py [--linhas 100000] [--postgres]`
The schema is built by the migrations (processo_totais triggers included). Redis is a real server started
here, so the throttle admits runs as it does in production (no worker: admitted runs stay queued).
"""
import argparse
import csv
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, insert, select, text  # noqa: E402

from apps import create_app  # noqa: E402
from apps.clientes.cnpj import check_digits  # noqa: E402
from apps.clientes.models import Cliente  # noqa: E402
from apps.core.types import db  # noqa: E402
from apps.lotes import arquivo, previa, services  # noqa: E402
from apps.lotes.models import Lote, LoteLinha  # noqa: E402
from apps.operadoras.models import Operadora  # noqa: E402
from apps.processos.models import Execucao, Processo  # noqa: E402
from tests.support.servers import redis_server  # noqa: E402

CHUNK = 10_000
COMPETENCIA = "2026-10"
RAW = {
    "sqlite": [
        """INSERT INTO processos (id, cliente_id, competencia, status, created_at, updated_at, cliente_nome,
                                 cliente_nome_busca)
           SELECT lower(hex(randomblob(16))), id, :c, 'AGUARDANDO_DOWNLOAD', :now, :now, nome, nome_busca
           FROM clientes WHERE ativo ON CONFLICT (cliente_id, competencia) DO NOTHING""",
        """INSERT INTO execucoes (id, processo_id, tipo, status, ultimo_seq, created_at, updated_at)
           SELECT lower(hex(randomblob(16))), p.id, 'DOWNLOAD', 'PENDENTE', 0, :now, :now
           FROM processos p WHERE p.competencia = :c""",
    ],
    "postgresql": [
        """INSERT INTO processos (id, cliente_id, competencia, status, created_at, updated_at, cliente_nome,
                                 cliente_nome_busca)
           SELECT gen_random_uuid(), id, :c, 'AGUARDANDO_DOWNLOAD', now(), now(), nome, nome_busca
           FROM clientes WHERE ativo ON CONFLICT (cliente_id, competencia) DO NOTHING""",
        """INSERT INTO execucoes (id, processo_id, tipo, status, ultimo_seq, created_at, updated_at)
           SELECT gen_random_uuid(), p.id, 'DOWNLOAD', 'PENDENTE', 0, now(), now()
           FROM processos p WHERE p.competencia = :c""",
    ],
}


def cnpj(n: int) -> str:
    base = f"{n:08d}0001"
    return base + check_digits(base)


def _seed(n: int) -> None:
    op = Operadora(codigo="VIVO", nome="Vivo", limite_concorrencia=5)
    db.session.add(op)
    db.session.flush()
    for first in range(0, n, CHUNK):
        db.session.execute(insert(Cliente), [
            {"id": uuid.uuid4(), "nome": f"Cliente {i:06d}", "cnpj": cnpj(i), "operadora_id": op.id, "ativo": True}
            for i in range(first, min(n, first + CHUNK))])
    db.session.commit()


def _csv(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["CNPJ", "Competencia", "Acao"])
        for i in range(n):
            writer.writerow([cnpj(i), COMPETENCIA, "DOWNLOAD"])


def _clear() -> None:
    db.session.execute(delete(LoteLinha))
    db.session.execute(delete(Lote))
    db.session.execute(delete(Execucao))
    db.session.execute(delete(Processo))
    db.session.commit()


def _raw(dialect: str) -> float:
    from datetime import UTC, datetime

    started = time.perf_counter()
    for sql in RAW[dialect]:
        db.session.execute(text(sql), {"c": COMPETENCIA, "now": datetime.now(UTC).isoformat(" ")})
    db.session.commit()
    return time.perf_counter() - started


def _ours(n: int, measure_memory: bool) -> tuple[float, float, float, int]:
    """(preview s, run s, peak bytes of the run or 0, runs created)."""
    token = uuid.uuid4().hex
    _csv(arquivo.lotes_dir() / f"{token}.csv", n)
    started = time.perf_counter()
    result = previa.resumo(token)
    checked = time.perf_counter() - started
    assert (result.linhas, result.validas) == (n, n), (result.linhas, result.validas, list(previa.erros(token, 0, 3)))
    lote = Lote(chave=token, arquivo=token, arquivo_nome="bench.csv", total=n)
    db.session.add(lote)
    db.session.commit()
    if measure_memory:
        tracemalloc.start()
    started = time.perf_counter()
    services.run(lote)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if measure_memory else 0
    if measure_memory:
        tracemalloc.stop()
    assert lote.status == "IMPORTADO", lote.mensagem
    runs = db.session.scalar(select(func.count()).select_from(LoteLinha).where(
        LoteLinha.lote_id == lote.id, LoteLinha.execucao_id.is_not(None)))
    return checked, elapsed, peak, runs


def run(url: str, redis_url: str, n: int, label: str) -> None:
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                      "INSTANCE_DIR": tempfile.mkdtemp(prefix="bench-lotes-")})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        _seed(n)
        dialect = db.engine.dialect.name
        rounds = []
        for _ in range(2):
            raw = _raw(dialect)
            _clear()
            checked, ours, _, runs = _ours(n, measure_memory=False)
            assert runs == n, runs
            _clear()
            rounds.append((raw, checked, ours))
        raw, checked, ours = min(rounds, key=lambda r: r[1] + r[2])
        _, _, peak, _ = _ours(n, measure_memory=True)
        print(f"[{label}] {n:,} linhas (um DOWNLOAD por cliente, processos criados pelo lote)")
        print(f"  raw INSERT … SELECT (processos + execucoes): {raw:.3f} s")
        print(f"  prévia (verificação)                        : {checked:.3f} s")
        print(f"  lote run (verifica de novo + grava + fila)   : {ours:.3f} s")
        total = checked + ours
        print(f"  prévia + lote                               : {total:.3f} s   ratio {total / raw:.1f} (aim ≤ 10)")
        print(f"  pico de memória do run (tracemalloc)        : {peak / 2**20:.1f} MB (aim < 40 MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--linhas", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL 15")
    args = parser.parse_args()
    with redis_server() as (redis_url, _proc):
        folder = tempfile.mkdtemp(prefix="bench-lotes-")
        run(f"sqlite:///{folder}/bench.db", redis_url, args.linhas, "SQLite")
        if args.postgres:
            from tests.support.servers import postgres_server

            with postgres_server() as url:
                run(url, redis_url, args.linhas, "PostgreSQL")


if __name__ == "__main__":
    main()
