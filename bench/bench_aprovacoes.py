"""Bench the approval inbox with 10,000 open approvals against the processo list at the same size.

Run: `.venv/bin/python bench/bench_aprovacoes.py [--size 10000] [--requests 25] [--postgres]`
One database: `size` clientes with this month's processo waiting for approval (one fatura each, and three
past months of history for the "vs média de 3 meses" column), their tasks opened by the real
`apps.aprovacoes.tarefas.abrir` (timed: the batch the download hook would make) and assigned to three
approvers. Then the inbox's tabs, the API list and the processo list filtered on AGUARDANDO_APROVACAO are
requested in turn (after warm-up), each median is taken in the same run, and each inbox page's ratio to the
processo list is printed (aim: at most 1.5) with its SQL statements per request (must not depend on size).
"""
import argparse
import gc
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_list import statements, timed_get  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

import apps.models  # noqa: E402,F401
from apps import create_app  # noqa: E402
from apps.aprovacoes import tarefas  # noqa: E402
from apps.aprovacoes.models import TarefaAprovacao  # noqa: E402
from apps.auth.models import Role  # noqa: E402
from apps.auth.services import create_user  # noqa: E402
from apps.clientes.models import Cliente  # noqa: E402
from apps.core.clock import current_competencia  # noqa: E402
from apps.core.types import db, utcnow  # noqa: E402
from apps.operadoras.models import Operadora  # noqa: E402
from apps.processos.models import Fatura, Processo, StatusProcesso  # noqa: E402
from tests.conftest import PASSWORD, CSRFClient  # noqa: E402

OPERADORAS = ("VIVO", "CLARO", "TIM", "OI", "EMBRATEL")
CHUNK = 5_000


def _months_before(competencia: str, n: int) -> list:
    return tarefas.competencias_anteriores(competencia, n)


def load(size: int, operadora_ids: list, competencia: str) -> None:
    now = utcnow()
    meses = [competencia, *_months_before(competencia, 3)]
    for first in range(0, size, CHUNK):
        clientes, processos, faturas = [], [], []
        for i in range(first, min(size, first + CHUNK)):
            cid = uuid.uuid4()
            clientes.append({"id": cid, "nome": f"Cliente {i:06d}", "cnpj": f"{i:014d}", "codigo": str(i),
                             "operadora_id": operadora_ids[i % len(operadora_ids)], "ativo": True,
                             "created_at": now, "updated_at": now})
            for k, mes in enumerate(meses):
                pid = uuid.uuid4()
                processos.append({"id": pid, "cliente_id": cid, "competencia": mes, "cliente_nome": f"Cliente {i:06d}",
                                  "status": StatusProcesso.AGUARDANDO_APROVACAO if k == 0 else
                                  StatusProcesso.UPLOAD_REALIZADO, "created_at": now, "updated_at": now})
                faturas.append({"id": uuid.uuid4(), "processo_id": pid, "numero": f"F{i}-{k}",
                                "valor": Decimal(100 + (i * 7 + k * 13) % 90), "vencimento": date(2026, 12, 10),
                                "arquivo": f"bench/{pid.hex}.pdf", "sha256": "0" * 64, "tamanho": 1,
                                "rejeitada": False, "created_at": now, "updated_at": now})
        db.session.execute(insert(Cliente), clientes)
        db.session.execute(insert(Processo), processos)
        db.session.execute(insert(Fatura), faturas)
    db.session.commit()


def open_site(database_url: str, size: int):
    folder = Path(tempfile.mkdtemp(prefix="bench-aprovacoes-"))
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_DIR": folder,
                      "RATELIMIT_STORAGE_URI": "memory://", "DASHBOARD_CACHE_SECONDS": 0})
    app.test_client_class = CSRFClient
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        operadoras = [Operadora(codigo=codigo, nome=codigo.title()) for codigo in OPERADORAS]
        db.session.add_all(operadoras)
        medidor = create_user("medidor", "medidor@example.com", PASSWORD, role=Role.OPERADOR)
        colegas = [create_user(f"aprovador{i}", f"aprovador{i}@example.com", PASSWORD, role=Role.OPERADOR)
                   for i in range(2)]
        db.session.commit()
        for operadora in operadoras:
            tarefas.definir_aprovadores(operadora, [medidor.id, *(c.id for c in colegas)], by=None)
        db.session.commit()
        competencia = current_competencia()
        started = time.perf_counter()
        load(size, [o.id for o in operadoras], competencia)
        loaded = time.perf_counter() - started
        ids = list(db.session.scalars(select(Processo.id).where(Processo.status == StatusProcesso.AGUARDANDO_APROVACAO)))
        started = time.perf_counter()
        opened = tarefas.abrir(ids)
        db.session.commit()
        abrir = time.perf_counter() - started
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        mine = db.session.scalar(select(func.count()).select_from(TarefaAprovacao)
                                 .where(TarefaAprovacao.responsavel_id == medidor.id))
        print(f"{db.engine.dialect.name}: {size:,} processos waiting for approval (+{3 * size:,} past months, "
              f"loaded in {loaded:.1f} s); tarefas.abrir opened {opened:,} tasks in {abrir:.2f} s "
              f"({opened / abrir:,.0f}/s); medidor holds {mine:,}")
    client = app.test_client()
    assert client.post("/login", data={"login": "medidor", "password": PASSWORD}).status_code == 302
    token = client.post("/api/v1/auth/token", json={"username": "medidor", "password": PASSWORD}).get_json()["access"]
    return app, client, {"Authorization": f"Bearer {token}"}


def timed_api(client, url, headers) -> float:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return (time.perf_counter() - started) * 1000


def bench(database_url: str, size: int, requests: int) -> None:
    app, client, headers = open_site(database_url, size)
    gc.collect()
    baseline = "/processos?status=AGUARDANDO_APROVACAO"
    pages = [baseline, "/aprovacoes", "/aprovacoes?aba=grupo", "/aprovacoes?aba=vencidas", "/aprovacoes?aba=sem",
             "/aprovacoes?page=200", "/api/v1/aprovacoes?responsavel=me"]

    def get(url):
        return timed_api(client, url, headers) if url.startswith("/api/") else timed_get(client, url)

    for url in pages * 3:  # warm-up
        get(url)
    timings = {url: [] for url in pages}
    for _ in range(requests):  # interleaved: a change in the machine's load weighs on every page alike
        for url in pages:
            timings[url].append(get(url))
    base = statistics.median(timings[baseline])
    print(f"  {'page':<40} {'median':>10} {'vs list':>8} {'statements':>11}")
    for url in pages:
        median = statistics.median(timings[url])
        n = len(statements(app, client, url)) if not url.startswith("/api/") else "-"
        print(f"  {url:<40} {median:7.1f} ms {median / base:8.2f} {n!s:>11}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/aprovacoes.db", args.size, args.requests)
    if args.postgres:
        from tests.support.servers import postgres_server

        with postgres_server() as url:
            bench(url, args.size, args.requests)


if __name__ == "__main__":
    main()
