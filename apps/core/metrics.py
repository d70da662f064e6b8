"""Prometheus metrics at /metrics: HTTP requests of this app, and the domain read at scrape time.

HTTP requests are counted by request hooks, labelled by endpoint name (never the raw path, whose
ids would make a series per processo). Under gunicorn (several worker processes, one scrape lands
on one of them) prometheus-client's multiprocess mode is on: gunicorn-cfg.py sets
PROMETHEUS_MULTIPROC_DIR before any process imports prometheus_client, every worker writes its
counts to files there, and each scrape builds a fresh registry whose MultiProcessCollector sums
them (a dead worker's counters stay summed, so counters never go backwards). Without the variable
(tests, `flask run`) the counters live in the app's own registry.

Execucoes, processos and queues are NOT counted where they happen: the RQ worker is another process,
a job can die half-way or run twice (Retry), and a restart would zero the counts. The database is
the truth, so a Collector reads it when Prometheus scrapes: counts by operadora, tipo and status, a
duration histogram from data_inicio/data_fim (apps.home.services.duration_seconds), processos of the
current competência by status (processo_totais, apps.processos.totais), plus queue depths from Redis
(apps.home.filas). Like the rest of the app's wiring, this module reads the domain. A few GROUP BY
queries per scrape (cached for METRICS_CACHE_SECONDS); the counters only go down when rows are
deleted, which Prometheus reads as a reset. In multiprocess mode that cache is one file in
PROMETHEUS_MULTIPROC_DIR shared by the workers: a per-process cache would let a scrape on a worker
with an older copy read less than the scrape before it on another worker.

Access: a Bearer METRICS_TOKEN, or a client address inside METRICS_ALLOWED_IPS (comma-separated
CIDRs, empty by default: token only). Behind a proxy, set PROXY_FIX so remote_addr is the client's.
"""
import hmac
import ipaddress
import json
import os
import tempfile
import time
from pathlib import Path

import redis
from flask import Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client import values as prometheus_values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from rq import Worker
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from apps.auth.policy import PUBLIC, requires
from apps.clientes.models import Cliente
from apps.core.clock import current_competencia
from apps.core.types import db
from apps.home.filas import REGISTRIES, queue_depths
from apps.home.services import duration_seconds
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, Processo, StatusExecucao
from apps.processos.totais import by_status

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DURATION_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 21600.0)
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


DOMAIN_CACHE_FILE = "domain-cache.json"  # beside prometheus_client's *.db files (gunicorn-cfg.py empties both)


class DomainCollector:
    """Execucoes, processos and queues, read from the database and Redis when Prometheus scrapes.

    `shared_dir`: where the workers of one server share the cached families (multiprocess mode).
    """

    def __init__(self, shared_dir: str | None = None):
        self._cached_at, self._cached = float("-inf"), []
        self._shared = Path(shared_dir) / DOMAIN_CACHE_FILE if shared_dir else None

    def describe(self):
        return []  # names vary with the data; an empty description keeps registration from querying

    def collect(self):
        ttl = float(current_app.config.get("METRICS_CACHE_SECONDS", 0))
        if self._shared is not None:
            yield from self._collect_shared(ttl)
            return
        if time.monotonic() - self._cached_at >= ttl:
            families = _database_families() + _queue_families()
            self._cached_at, self._cached = time.monotonic(), families
        yield from self._cached

    def _collect_shared(self, ttl: float) -> list:
        """The families cached by any worker within `ttl` (wall clock: shared by processes), else fresh ones."""
        if ttl > 0:
            cached = _read_cache(self._shared)
            if cached is not None and 0 <= time.time() - cached[0] < ttl:
                return cached[1]
        started = time.time()
        families = _database_families() + _queue_families()
        if ttl > 0:
            _write_cache(self._shared, started, families)
        return families


def _read_cache(path: Path) -> tuple[float, list] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    families = []
    for item in data["families"]:
        family = Metric(item["name"], item["documentation"], item["type"])
        for name, labels, value in item["samples"]:
            family.add_sample(name, labels, value)
        families.append(family)
    return float(data["at"]), families


def _write_cache(path: Path, started: float, families: list) -> None:
    """Replace the shared cache atomically, unless another worker already stored a newer reading."""
    current = _read_cache(path)
    if current is not None and current[0] >= started:
        return
    data = {"at": started, "families": [
        {"name": f.name, "documentation": f.documentation, "type": f.type,
         "samples": [[s.name, s.labels, s.value] for s in f.samples]} for f in families]}
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".domain-", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(temporary, path)
    except OSError as exc:
        current_app.logger.warning("metrics: shared cache not written (%s)", exc.__class__.__name__)


def _up(dependency: str, ok: bool) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"rpa_{dependency}_up", f"1 quando {dependency} respondeu na coleta.")
    family.add_metric([], 1 if ok else 0)
    return family


def _execucao_families() -> list:
    labels = ["operadora", "tipo"]
    started = CounterMetricFamily("rpa_execucoes_iniciadas", "Execuções criadas (todas).", labels=labels)
    done = CounterMetricFamily("rpa_execucoes_concluidas", "Execuções concluídas.", labels=labels)
    failed = CounterMetricFamily("rpa_execucoes_falhas", "Execuções que falharam.", labels=labels)
    active = GaugeMetricFamily("rpa_execucoes_ativas", "Execuções pendentes ou em andamento.",
                               labels=labels + ["status"])
    rows = db.session.execute(
        select(Operadora.codigo, Execucao.tipo, Execucao.status, func.count())
        .select_from(Execucao).join(Processo, Execucao.processo_id == Processo.id)
        .join(Cliente, Processo.cliente_id == Cliente.id).join(Operadora, Cliente.operadora_id == Operadora.id)
        .group_by(Operadora.codigo, Execucao.tipo, Execucao.status)
    ).all()
    totals: dict[tuple, int] = {}
    for codigo, tipo, status, n in rows:
        totals[(codigo, tipo)] = totals.get((codigo, tipo), 0) + n
        if status == StatusExecucao.CONCLUIDO:
            done.add_metric([codigo, tipo], n)
        elif status == StatusExecucao.FALHOU:
            failed.add_metric([codigo, tipo], n)
        else:
            active.add_metric([codigo, tipo, status], n)
    for (codigo, tipo), n in sorted(totals.items()):
        started.add_metric([codigo, tipo], n)
    return [started, done, failed, active, _duration_family()]


def _duration_family() -> HistogramMetricFamily:
    duration = duration_seconds()
    family = HistogramMetricFamily("rpa_execucao_duracao_segundos", "Duração das execuções encerradas.",
                                   labels=["operadora", "tipo", "status"])
    rows = db.session.execute(
        select(Operadora.codigo, Execucao.tipo, Execucao.status, func.count(), func.sum(duration),
               *[func.sum(case((duration <= bound, 1), else_=0)) for bound in DURATION_BUCKETS])
        .select_from(Execucao).join(Processo, Execucao.processo_id == Processo.id)
        .join(Cliente, Processo.cliente_id == Cliente.id).join(Operadora, Cliente.operadora_id == Operadora.id)
        .where(Execucao.status.in_((StatusExecucao.CONCLUIDO, StatusExecucao.FALHOU)),
               Execucao.data_inicio.is_not(None), Execucao.data_fim.is_not(None))
        .group_by(Operadora.codigo, Execucao.tipo, Execucao.status)
    ).all()
    for codigo, tipo, status, count, total, *cumulative in rows:
        buckets = [(str(bound), int(n or 0)) for bound, n in zip(DURATION_BUCKETS, cumulative, strict=True)]
        family.add_metric([codigo, tipo, status], buckets + [("+Inf", int(count))], float(total or 0))
    return family


def _processo_family() -> GaugeMetricFamily:
    competencia = current_competencia()
    counts = by_status(competencia)  # processo_totais: a few rows, whatever the month's size
    family = GaugeMetricFamily("rpa_processos", "Processos da competência atual por status.",
                               labels=["competencia", "status"])
    for status, n in counts.items():
        family.add_metric([competencia, status], n)
    return family


def _database_families() -> list:
    try:
        families = _execucao_families() + [_processo_family()]
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.warning("metrics: database unavailable (%s)", exc.__class__.__name__)
        return [_up("database", False)]
    return families + [_up("database", True)]


def _queue_families() -> list:
    connection = redis.Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=2)
    try:
        depths, workers = queue_depths(connection), len(Worker.all(connection=connection))
    except redis.RedisError as exc:
        current_app.logger.warning("metrics: Redis unavailable (%s)", exc.__class__.__name__)
        return [_up("redis", False)]
    finally:
        connection.close()
    family = GaugeMetricFamily("rpa_fila_tarefas", "Tarefas RQ por fila e registro.", labels=["fila", "registro"])
    for depth in depths:
        for registry in REGISTRIES:
            family.add_metric([depth["nome"], registry], depth[registry])
    worker_family = GaugeMetricFamily("rpa_workers", "Workers RQ registrados.")
    worker_family.add_metric([], workers)
    return [family, worker_family, _up("redis", True)]


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR when prometheus_client chose multiprocess mode at import, else None."""
    if prometheus_values.ValueClass is prometheus_values.MutexValue:
        return None
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or ""


def _http_metrics(registry) -> tuple:
    requests = Counter("rpa_http_requests_total", "Requisições HTTP por endpoint, método e status.",
                       ["endpoint", "method", "status"], registry=registry)
    latency = Histogram("rpa_http_request_duration_seconds", "Tempo de resposta HTTP por endpoint.",
                        ["endpoint", "method"], buckets=HTTP_BUCKETS, registry=registry)
    return requests, latency


_PROCESS_HTTP_METRICS: list = []  # multiprocess mode: one pair per process, whatever the number of apps


def _process_http_metrics() -> tuple:
    # Two Counter objects with the same name in one process would write the same key of this
    # process's file, each from its own in-memory value: the file would go backwards.
    if not _PROCESS_HTTP_METRICS:
        _PROCESS_HTTP_METRICS.extend(_http_metrics(None))  # registered nowhere: the files are read per scrape
    return tuple(_PROCESS_HTTP_METRICS)


class AppMetrics:
    """The app's HTTP metrics and domain collector, and the registry a scrape reads."""

    def __init__(self, app):
        self.multiproc_dir = multiprocess_dir()
        self.domain = DomainCollector(self.multiproc_dir)
        if self.multiproc_dir is None:
            self.registry = CollectorRegistry()
            self.requests, self.latency = _http_metrics(self.registry)
            self.registry.register(self.domain)
        else:
            if not self.multiproc_dir:
                raise RuntimeError("PROMETHEUS_MULTIPROC_DIR está vazio: defina um diretório ou remova a variável.")
            os.makedirs(self.multiproc_dir, exist_ok=True)
            self.registry = None
            self.requests, self.latency = _process_http_metrics()
        self.networks = parse_networks(app.config.get("METRICS_ALLOWED_IPS", ""))

    def scrape_registry(self) -> CollectorRegistry:
        """The app's registry; in multiprocess mode a fresh one summing every process's files."""
        if self.registry is not None:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
        registry.register(self.domain)  # read once per scrape, not per process
        return registry


def parse_networks(value: str) -> list:
    """'10.0.0.0/8, 127.0.0.1/32' → networks; a bad entry stops the app at start."""
    networks = []
    for item in (value or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise RuntimeError(f"METRICS_ALLOWED_IPS inválido: {item.strip()!r} não é um endereço/CIDR.") from exc
    return networks


def _state() -> AppMetrics:
    return current_app.extensions["metrics"]


def _start_timer():
    g._metrics_started = time.perf_counter()


def _record(response):
    endpoint = request.endpoint or "unmatched"
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    state = _state()
    state.requests.labels(endpoint, method, str(response.status_code)).inc()
    started = g.pop("_metrics_started", None)
    if started is not None:
        state.latency.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _address_allowed(networks) -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in networks)


def refusal_status() -> int | None:
    """None when the scraper may read the metrics; else 401 (no token given) or 403."""
    expected = current_app.config.get("METRICS_TOKEN") or ""
    presented = _bearer()
    if expected and presented and hmac.compare_digest(presented.encode(), expected.encode()):
        return None
    if _address_allowed(_state().networks):
        return None
    return 403 if presented else 401


# PUBLIC for the session-based policy on purpose: Prometheus has no login session. The token or
# address check in refusal_status() is this route's own guard, and it refuses with an empty body.
@requires(PUBLIC)
def metrics_view():
    """The metrics in Prometheus' text format (token or allowed address only)."""
    status = refusal_status()
    if status is not None:
        headers = {"WWW-Authenticate": 'Bearer realm="metrics"'} if status == 401 else {}
        return Response(b"", status=status, headers=headers)
    response = Response(generate_latest(_state().scrape_registry()), mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    """Register the request hooks and /metrics (once per app)."""
    if "metrics" in app.extensions:
        return
    app.config.setdefault("METRICS_TOKEN", os.environ.get("METRICS_TOKEN", ""))
    app.config.setdefault("METRICS_ALLOWED_IPS", os.environ.get("METRICS_ALLOWED_IPS", ""))
    app.config.setdefault("METRICS_CACHE_SECONDS", float(os.environ.get("METRICS_CACHE_SECONDS", "10")))
    app.extensions["metrics"] = AppMetrics(app)
    # First of the before_request hooks, so requests refused by the access policy are timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_record)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view)
