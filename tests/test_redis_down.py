"""Redis stopped mid-test: pages still render, worker actions refuse with a clear message and
change nothing, and /readyz says so."""
import pytest
from sqlalchemy import func, select

from apps import create_app
from apps.auth.models import Role
from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, Processo
from apps.processos.services import gerar_processos
from tests.conftest import PASSWORD, CSRFClient
from tests.support.servers import redis_server


@pytest.fixture
def own_redis_app(app_config):
    """An app on a Redis of its own, which the test can stop."""
    with redis_server() as (url, proc):
        application = create_app(dict(app_config, REDIS_URL=url))
        application.test_client_class = CSRFClient
        yield application, proc


def _processo():
    op = Operadora(codigo="VIVO", nome="Vivo", possui_rpa=True)
    db.session.add(op)
    db.session.flush()
    db.session.add(Cliente(nome="Cliente A", cnpj="11222333000181", operadora_id=op.id))
    db.session.commit()
    gerar_processos("2026-11")
    return db.session.scalar(select(Processo))


def test_redis_down_mid_session(own_redis_app, users):
    application, redis_proc = own_redis_app
    processo = _processo()
    client = application.test_client()
    assert client.post("/login", data={"login": "operador", "password": PASSWORD}).status_code == 302
    assert client.get("/readyz").status_code == 200

    redis_proc.terminate()
    redis_proc.wait(10)

    assert client.get(f"/processos/{processo.id}").status_code == 200
    assert client.get("/processos").status_code == 200
    response = client.post(f"/processos/{processo.id}/executar", follow_redirects=True)
    assert "indisponível" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Execucao)) == 0

    token = client.post("/api/v1/auth/token", json={"username": "operador", "password": PASSWORD})
    assert token.status_code == 200  # the login limiter fails open without Redis
    api = client.post(f"/api/v1/processos/{processo.id}/executar",
                      headers={"Authorization": f"Bearer {token.get_json()['access']}"})
    assert api.status_code == 503 and "indisponível" in api.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(Execucao)) == 0

    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["redis"] == "erro"
    assert users[Role.ADMIN].ativo  # the database side is untouched
