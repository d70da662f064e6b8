"""The home dashboard: aggregates checked against hand-made data, a fixed number of queries, the page."""
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.home import services
from apps.processos.models import StatusExecucao, StatusProcesso, TipoExecucao
from tests.factories import ClienteFactory, ExecucaoFactory, OperadoraFactory, ProcessoFactory

NOW = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)
S = StatusProcesso


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class MayProcessoFactory(ProcessoFactory):
    """A processo created (and, unless a test says otherwise, last touched) on 2026-05-01."""

    created_at = MAY_1
    updated_at = MAY_1


def entered_approval(processo, when, action="processo_download_concluido"):
    """As state.move leaves it: the audit entry, and aprovacao_desde at the newest entry."""
    db.session.add(AuditLog(action=action, entity_type="processos", entity_id=str(processo.id), created_at=when))
    processo.aprovacao_desde = max(filter(None, (processo.aprovacao_desde, when)))


@pytest.fixture
def operadoras():
    vivo = OperadoraFactory(codigo="VIVO", nome="Vivo S.A.")
    claro = OperadoraFactory(codigo="CLARO", nome="Claro S.A.")
    return {"VIVO": vivo, "CLARO": claro}


@pytest.fixture
def month(operadoras):
    """A month of hand-made data; the expected figures are written next to each test."""
    vivo, claro = operadoras["VIVO"], operadoras["CLARO"]
    vivo_procs = [MayProcessoFactory(cliente__operadora=vivo, status=status) for status in
                  [S.AGUARDANDO_DOWNLOAD, S.AGUARDANDO_DOWNLOAD, S.UPLOAD_REALIZADO, S.AGUARDANDO_ENVIO_SAT]]
    # Approval backlog: entered 05-15 12:00 by the audit trail (updated_at was touched later).
    p1 = MayProcessoFactory(cliente__operadora=vivo, status=S.AGUARDANDO_APROVACAO, updated_at=utc(2026, 5, 19))
    # No audit entry: updated_at (05-17) is the fallback.
    p2 = MayProcessoFactory(cliente__operadora=claro, status=S.AGUARDANDO_APROVACAO, updated_at=utc(2026, 5, 17))
    # Entered twice (rejected in between): the newest entry (05-16) counts, not 05-01.
    p3 = MayProcessoFactory(cliente__operadora=claro, status=S.AGUARDANDO_APROVACAO, competencia="2026-04",
                            updated_at=utc(2026, 5, 16, 6))
    # Not waiting any more: its old entry must not count.
    p4 = MayProcessoFactory(cliente__operadora=claro, status=S.AGUARDANDO_ENVIO_SAT, updated_at=utc(2026, 5, 2))
    db.session.flush()
    entered_approval(p1, utc(2026, 5, 15, 12))
    entered_approval(p3, utc(2026, 5, 1), "processo_faturas_enviadas")
    entered_approval(p3, utc(2026, 5, 16, 6))
    entered_approval(p4, utc(2026, 5, 1))
    # VIVO downloads: 10, 20, ..., 200 s, all ending 05-10 12:00 UTC (09:00 local).
    for i in range(20):
        ExecucaoFactory(processo=vivo_procs[i % 4], status=StatusExecucao.CONCLUIDO, fim=utc(2026, 5, 10, 12),
                        segundos=10.0 * (i + 1))
    # CLARO: one download of 42 s ending 05-18 02:30 UTC = 05-17 23:30 in São Paulo.
    ExecucaoFactory(processo=p2, status=StatusExecucao.CONCLUIDO, fim=utc(2026, 5, 18, 2, 30), segundos=42)
    # Failures (not in the durations): two on 05-18, one on 05-20; one success 40 days ago, outside.
    ExecucaoFactory(processo=p2, status=StatusExecucao.FALHOU, fim=utc(2026, 5, 18, 15), segundos=5)
    ExecucaoFactory(processo=p2, status=StatusExecucao.FALHOU, fim=utc(2026, 5, 18, 16), segundos=7)
    ExecucaoFactory(processo=p1, status=StatusExecucao.FALHOU, fim=utc(2026, 5, 20, 10), segundos=9)
    ExecucaoFactory(processo=p1, status=StatusExecucao.CONCLUIDO, fim=utc(2026, 4, 10, 12), segundos=9999)
    ExecucaoFactory(processo=p1, status=StatusExecucao.CONCLUIDO, fim=utc(2026, 5, 12, 12), segundos=77,
                    tipo=TipoExecucao.ENVIO_SAT)
    db.session.commit()


def test_status_by_operadora_and_summary_of_the_competencia(month):
    data = services.dashboard(now=NOW)
    assert data["summary"]["competencia"] == "2026-05"
    rows = {row["codigo"]: row for row in data["por_operadora"]}
    assert rows["VIVO"]["counts"] == {S.AGUARDANDO_DOWNLOAD: 2, S.AGUARDANDO_APROVACAO: 1,
                                      S.AGUARDANDO_ENVIO_SAT: 1, S.UPLOAD_REALIZADO: 1}
    assert rows["CLARO"]["counts"] == {S.AGUARDANDO_DOWNLOAD: 0, S.AGUARDANDO_APROVACAO: 1,
                                       S.AGUARDANDO_ENVIO_SAT: 1, S.UPLOAD_REALIZADO: 0}  # p3 is 2026-04
    assert data["summary"]["total"] == 7
    assert data["summary"]["counts"][S.AGUARDANDO_APROVACAO] == 2
    assert data["summary"]["done_pct"] == 14  # 1 of 7


def test_approval_backlog_uses_the_audit_trail_then_updated_at(month):
    backlog = services.approval_backlog(now=NOW)
    assert backlog["total"] == 3  # every competência
    assert backlog["desde"] == utc(2026, 5, 15, 12)
    assert backlog["idade"] == timedelta(days=5, hours=3)
    assert backlog["idade_texto"] == "5 dias e 3 h"


def test_entering_approval_stamps_aprovacao_desde_and_the_backlog_reads_it(operadoras):
    from apps.processos import state

    processo = MayProcessoFactory(cliente__operadora=operadoras["VIVO"], status=S.AGUARDANDO_DOWNLOAD,
                                  updated_at=utc(2026, 5, 1))
    db.session.commit()
    assert processo.aprovacao_desde is None
    state.move(processo, "download_concluido")
    db.session.commit()
    entered = processo.aprovacao_desde
    assert entered is not None and entered == processo.updated_at
    backlog = services.approval_backlog(now=entered + timedelta(hours=2))
    assert (backlog["total"], backlog["desde"], backlog["idade_texto"]) == (1, entered, "2 h 00 min")


def test_backlog_falls_back_to_updated_at_without_audit_entries(operadoras):
    MayProcessoFactory(cliente__operadora=operadoras["VIVO"], status=S.AGUARDANDO_APROVACAO,
                       updated_at=utc(2026, 5, 20, 13, 50))
    db.session.commit()
    backlog = services.approval_backlog(now=NOW)
    assert (backlog["total"], backlog["desde"], backlog["idade_texto"]) == (1, utc(2026, 5, 20, 13, 50), "1 h 10 min")


def test_executions_per_local_day_and_failure_rate(month):
    per_day = services.executions_per_day(now=NOW)
    assert len(per_day["dias"]) == 30
    assert per_day["dias"][0] == "2026-04-21" and per_day["dias"][-1] == "2026-05-20"
    concluido = dict(zip(per_day["dias"], per_day["concluido"], strict=True))
    falhou = dict(zip(per_day["dias"], per_day["falhou"], strict=True))
    assert {d: n for d, n in concluido.items() if n} == {"2026-05-10": 20, "2026-05-12": 1, "2026-05-17": 1}
    assert {d: n for d, n in falhou.items() if n} == {"2026-05-18": 2, "2026-05-20": 1}
    assert (per_day["concluidas"], per_day["falhas"]) == (22, 3)
    assert per_day["taxa_falha"] == pytest.approx(100 * 3 / 25)


def test_mean_and_p95_duration_per_operadora_and_tipo(month):
    rows = {(d["operadora"], d["tipo"]): d for d in services.durations(now=NOW)}
    assert set(rows) == {("VIVO", "DOWNLOAD"), ("CLARO", "DOWNLOAD"), ("VIVO", "ENVIO_SAT")}
    vivo = rows[("VIVO", "DOWNLOAD")]
    assert vivo["n"] == 20
    assert vivo["media"] == pytest.approx(105.0, abs=0.01)
    # percentile_cont(0.95) over 10..200: rank 0.95 * 19 = 18.05 → 190 + 0.05 * 10
    assert vivo["p95"] == pytest.approx(190.5, abs=0.01)
    assert rows[("CLARO", "DOWNLOAD")]["media"] == pytest.approx(42.0, abs=0.01)
    assert rows[("CLARO", "DOWNLOAD")]["p95"] == pytest.approx(42.0, abs=0.01)
    assert rows[("VIVO", "ENVIO_SAT")]["p95"] == pytest.approx(77.0, abs=0.01)


@pytest.mark.parametrize("values, expected", [([5, 1], 4.8), ([3, 1, 2], 2.9), ([7] * 4 + [100], 81.4)])
def test_p95_interpolates_like_percentile_cont(operadoras, values, expected):
    cliente = ClienteFactory(operadora=operadoras["VIVO"])
    processo = MayProcessoFactory(cliente=cliente)
    for seconds in values:
        ExecucaoFactory(processo=processo, status=StatusExecucao.CONCLUIDO, fim=utc(2026, 5, 19), segundos=seconds)
    db.session.commit()
    (row,) = services.durations(now=NOW)
    assert row["p95"] == pytest.approx(expected, abs=0.01)
    assert row["media"] == pytest.approx(sum(values) / len(values), abs=0.01)


def _count_queries(fn) -> int:
    statements = []

    def listener(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(statements)


def test_the_dashboard_runs_the_same_four_queries_whatever_the_volume(operadoras):
    db.session.commit()
    empty = _count_queries(lambda: services.dashboard(now=NOW))
    for i in range(30):
        processo = MayProcessoFactory(cliente__operadora=operadoras["VIVO" if i % 2 else "CLARO"], status=S.ALL[i % 4])
        ExecucaoFactory(processo=processo, status=StatusExecucao.CONCLUIDO if i % 3 else StatusExecucao.FALHOU,
                        fim=utc(2026, 5, 1 + i % 19, 12), segundos=i + 1)
    db.session.commit()
    assert empty == 4
    assert _count_queries(lambda: services.dashboard(now=NOW)) == 4


@pytest.fixture
def no_cache(app, monkeypatch):
    monkeypatch.setitem(app.config, "DASHBOARD_CACHE_SECONDS", 0)


def test_page_shows_the_figures_and_embeds_chart_data(client, users, login, month, no_cache):
    login(users[Role.VISUALIZADOR])
    page = client.get("/").get_data(as_text=True)
    assert 'id="backlog-total">3<' in page
    assert "vendor/chartjs/chart.umd.min.js" in page and "js/home.js" in page
    assert "cdn" not in page.lower()
    assert "O p95 é estimado pelo histograma de durações (faixas de 1 s até 1 min" in page
    raw = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(raw)
    assert len(data["por_dia"]["dias"]) == 30
    assert {s["status"] for s in data["status"]} == set(S.ALL)
    assert "<script>" not in page  # no inline script


def test_json_endpoint_for_viewers(client, users, login, month, no_cache):
    assert client.get("/dashboard.json").status_code == 302  # anonymous → login
    login(users[Role.VISUALIZADOR])
    response = client.get("/dashboard.json")
    assert response.status_code == 200
    body = response.get_json()
    assert body["aprovacao"]["total"] == 3
    assert {row["codigo"] for row in body["por_operadora"]} <= {"VIVO", "CLARO"}
    assert set(body["status"]) == set(S.ALL)


def test_the_page_reuses_the_figures_for_the_cache_period(app, client, users, login, operadoras, monkeypatch):
    monkeypatch.setitem(app.config, "DASHBOARD_CACHE_SECONDS", 60)
    app.extensions.pop("home_dashboard", None)
    login(users[Role.VISUALIZADOR])
    assert client.get("/dashboard.json").get_json()["aprovacao"]["total"] == 0
    MayProcessoFactory(cliente__operadora=operadoras["VIVO"], status=S.AGUARDANDO_APROVACAO)
    db.session.commit()
    queries = _count_queries(lambda: client.get("/dashboard.json"))
    assert client.get("/dashboard.json").get_json()["aprovacao"]["total"] == 0  # still the cached figures
    assert queries < 4
    monkeypatch.setitem(app.config, "DASHBOARD_CACHE_SECONDS", 0)
    assert client.get("/dashboard.json").get_json()["aprovacao"]["total"] == 1
