"""/metrics (token or allowed address, the metric names and values) and the /healthz, /readyz probes."""
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from apps import create_app
from apps.clientes.models import Cliente
from apps.core import health, metrics
from apps.core.queues import get_queue
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao

TOKEN = "token-de-metricas-de-teste-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _app(app_config, **overrides):
    """An app with the metrics and probes wired (init_app is idempotent: a no-op once create_app wires it)."""
    application = create_app(dict(app_config, METRICS_TOKEN=TOKEN, METRICS_CACHE_SECONDS=0, **overrides))
    metrics.init_app(application)
    health.init_app(application)
    return application


@pytest.fixture(scope="module")
def metrics_app(app_config):
    return _app(app_config)


@pytest.fixture
def scrape(metrics_app):
    client = metrics_app.test_client()

    def _scrape():
        response = client.get("/metrics", headers=AUTH)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return _scrape


def _value(text: str, name: str, **labels) -> float | None:
    """The sample `name{labels}` in an exposition text (labels in any order), or None."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if match:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if found == {k: str(v) for k, v in labels.items()}:
                return float(match.group(2))
    return None


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer errado"}, 403),
    ({"Authorization": f"Basic {TOKEN}"}, 401),
])
def test_refused_without_the_right_token_and_without_detail(metrics_app, headers, status):
    response = metrics_app.test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    assert response.get_data() == b""


def test_no_token_configured_refuses_even_the_right_looking_header(app_config):
    application = _app(app_config)
    application.config["METRICS_TOKEN"] = ""
    assert application.test_client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    assert application.test_client().get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 403


def test_allowed_addresses_need_no_token(app_config):
    application = _app(app_config, METRICS_ALLOWED_IPS="10.1.0.0/16, 192.168.0.7")
    client = application.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.0.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.0.1"}).status_code == 401
    assert client.get("/metrics").status_code == 401  # 127.0.0.1 is not allowed by default


def test_a_bad_cidr_stops_the_app_at_start(app_config):
    with pytest.raises(RuntimeError, match="METRICS_ALLOWED_IPS"):
        _app(app_config, METRICS_ALLOWED_IPS="10.0.0.0/33")


def test_http_requests_are_labelled_by_endpoint_name_not_path(metrics_app, scrape):
    client = metrics_app.test_client()
    client.get("/healthz")
    client.get("/healthz")
    missing = f"/processos/{uuid.uuid4()}"
    client.get(missing)  # anonymous: redirected to the login page
    client.get("/nao-existe")
    text = scrape()
    assert _value(text, "rpa_http_requests_total", endpoint="healthz", method="GET", status="200") >= 2
    assert _value(text, "rpa_http_requests_total", endpoint="processos.detail", method="GET", status="302") >= 1
    assert _value(text, "rpa_http_requests_total", endpoint="unmatched", method="GET", status="404") >= 1
    assert _value(text, "rpa_http_request_duration_seconds_count", endpoint="healthz", method="GET") >= 2
    assert missing not in text


def _execucao(processo, status, seconds=None, tipo=TipoExecucao.DOWNLOAD):
    end = datetime(2026, 5, 10, 12, tzinfo=UTC)
    start = end - timedelta(seconds=seconds) if seconds is not None else None
    db.session.add(Execucao(processo=processo, tipo=tipo, status=status, data_inicio=start,
                            data_fim=end if seconds is not None else None))


def test_domain_metrics_come_from_the_database_and_redis(scrape):
    vivo = Operadora(codigo="VIVO", nome="Vivo")
    cliente = Cliente(nome="ACME", cnpj="11222333000181", operadora=vivo)
    processo = Processo(cliente=cliente, competencia="2026-05")
    db.session.add_all([vivo, cliente, processo])
    for seconds in (20, 90, 400):
        _execucao(processo, StatusExecucao.CONCLUIDO, seconds)
    _execucao(processo, StatusExecucao.FALHOU, 5000)
    _execucao(processo, StatusExecucao.EXECUTANDO)
    db.session.commit()
    get_queue().enqueue("builtins.int", "1")

    text = scrape()
    labels = {"operadora": "VIVO", "tipo": "DOWNLOAD"}
    assert _value(text, "rpa_execucoes_iniciadas_total", **labels) == 5
    assert _value(text, "rpa_execucoes_concluidas_total", **labels) == 3
    assert _value(text, "rpa_execucoes_falhas_total", **labels) == 1
    assert _value(text, "rpa_execucoes_ativas", status="EXECUTANDO", **labels) == 1
    done = dict(labels, status="CONCLUIDO")
    assert _value(text, "rpa_execucao_duracao_segundos_bucket", le="60.0", **done) == 1
    assert _value(text, "rpa_execucao_duracao_segundos_bucket", le="120.0", **done) == 2
    assert _value(text, "rpa_execucao_duracao_segundos_bucket", le="+Inf", **done) == 3
    assert _value(text, "rpa_execucao_duracao_segundos_sum", **done) == pytest.approx(510, abs=0.01)
    assert _value(text, "rpa_execucao_duracao_segundos_count", **dict(labels, status="FALHOU")) == 1
    assert _value(text, "rpa_fila_tarefas", fila="rpa", registro="queued") == 1
    assert _value(text, "rpa_database_up") == 1 and _value(text, "rpa_redis_up") == 1
    assert re.search(r'^rpa_processos\{competencia="\d{4}-\d{2}",status="AGUARDANDO_DOWNLOAD"\} ', text, re.M)
    assert "# TYPE rpa_workers gauge" in text


def test_metrics_say_redis_is_down_instead_of_failing(app_config):
    application = _app(app_config, REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI=app_config["REDIS_URL"])
    response = application.test_client().get("/metrics", headers=AUTH)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert _value(text, "rpa_redis_up") == 0 and _value(text, "rpa_database_up") == 1


def test_healthz_touches_nothing(metrics_app):
    response = metrics_app.test_client().get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_ok_when_database_and_redis_answer(metrics_app):
    response = metrics_app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_readyz_503_when_redis_is_unreachable(app_config):
    application = _app(app_config, REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI=app_config["REDIS_URL"])
    for path, status in (("/readyz", 503), ("/healthz", 200)):
        response = application.test_client().get(path)
        assert response.status_code == status, path
    body = application.test_client().get("/readyz").get_json()
    assert body == {"status": "erro", "database": "ok", "redis": "erro"}


def test_readyz_503_when_the_database_is_unreachable(app_config, tmp_path):
    application = _app(app_config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/nao/existe/db.sqlite")
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "erro", "database": "erro", "redis": "ok"}
    assert "Traceback" not in response.get_data(as_text=True)


def test_workers_share_one_domain_cache_so_no_scrape_reads_an_older_copy(app_config, tmp_path):
    """Multiprocess mode: each gunicorn worker has its own DomainCollector, all on one cache file."""
    from prometheus_client import CollectorRegistry, generate_latest

    application = _app(app_config)
    application.config["METRICS_CACHE_SECONDS"] = 60
    workers = [metrics.DomainCollector(str(tmp_path)) for _ in range(2)]
    registries = []
    for collector in workers:
        registries.append(CollectorRegistry())
        registries[-1].register(collector)
    labels = {"operadora": "VIVO", "tipo": "DOWNLOAD"}
    with application.app_context():
        vivo = Operadora(codigo="VIVO", nome="Vivo")
        processo = Processo(cliente=Cliente(nome="ACME", cnpj="11222333000181", operadora=vivo), competencia="2026-05")
        db.session.add_all([vivo, processo])
        _execucao(processo, StatusExecucao.CONCLUIDO, 90)
        db.session.commit()
        first = generate_latest(registries[0]).decode()
        _execucao(processo, StatusExecucao.CONCLUIDO, 30)
        db.session.commit()
        # The other worker, within the cache time: the same reading, never one older than the last scrape.
        assert generate_latest(registries[1]).decode() == first
        assert _value(first, "rpa_execucoes_iniciadas_total", **labels) == 1
        cache = tmp_path / metrics.DOMAIN_CACHE_FILE
        stored = json.loads(cache.read_text())
        cache.write_text(json.dumps(dict(stored, at=stored["at"] - 61)))  # expired
        fresh = generate_latest(registries[1]).decode()
        assert _value(fresh, "rpa_execucoes_iniciadas_total", **labels) == 2
        assert generate_latest(registries[0]).decode() == fresh
