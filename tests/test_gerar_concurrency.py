"""Two monthly creations at the same moment (two cron processes, a click during the cron):
every cliente gets exactly one processo and the counts add up."""
import threading
import uuid

from sqlalchemy import func, insert, select

from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos import totais
from apps.processos.models import Processo
from apps.processos.services import gerar_processos

N = 2000


def test_two_runs_at_the_same_moment_create_each_processo_once(app):
    op = Operadora(codigo="VIVO", nome="Vivo")
    db.session.add(op)
    db.session.flush()
    db.session.execute(insert(Cliente), [{"id": uuid.uuid4(), "nome": f"C{i}", "cnpj": f"{i:014d}",
                                           "operadora_id": op.id, "ativo": True} for i in range(N)])
    db.session.commit()
    barrier, results, errors = threading.Barrier(2), [], []

    def run():
        with app.app_context():
            try:
                barrier.wait(10)
                results.append(gerar_processos("2026-12"))
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r["criados"] for r in results) == N
    assert db.session.scalar(select(func.count()).select_from(Processo)) == N
    assert db.session.scalar(select(func.count(func.distinct(Processo.cliente_id)))) == N
    assert totais.total("2026-12") == N  # each statement's trigger counted only the rows it inserted


def test_api_calls_are_rate_limited(app_config, users):
    from apps import create_app
    from tests.conftest import PASSWORD, CSRFClient

    limited = create_app(dict(app_config, API_RATE_LIMIT="5 per minute"))
    limited.test_client_class = CSRFClient
    client = limited.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}).get_json()["access"]
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [client.get("/api/v1/operadoras", headers=headers).status_code for _ in range(7)]
    assert statuses[:4] == [200] * 4 and statuses[-1] == 429
    assert "Limite de requisições" in client.get("/api/v1/operadoras", headers=headers).get_json()["error"]
