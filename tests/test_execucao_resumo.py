"""The finished-run summaries the dashboard reads (execucao_horas, execucao_dias, execucao_duracoes,
execucao_duracao_faixas)
stay equal to a direct aggregation of the execucoes whatever writes them (triggers, on both databases), and
the p95 read from the histogram is within its resolution of the exact percentile."""
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, update

from apps.clientes.models import Cliente
from apps.core.types import db
from apps.home import services
from apps.home.models import ExecucaoDia, ExecucaoDuracao, ExecucaoDuracaoFaixa, ExecucaoHora
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao
from tests.factories import ExecucaoFactory, OperadoraFactory
from tests.test_state_machine import make_processo

E = StatusExecucao
NOW = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)


def faixa(seconds: float) -> int:
    d = max(round(seconds, 3), 0.0)
    for limit, width in services.FAIXAS:
        if limit is None or d < limit:
            return int(d // width) * width
    raise AssertionError


def direct() -> dict:
    """The summaries computed here from the execucoes themselves."""
    horas, dias = defaultdict(int), defaultdict(int)
    duracoes, faixas = defaultdict(lambda: [0, 0.0]), defaultdict(lambda: [0, 0.0])
    operadora_of = dict(db.session.execute(select(Processo.id, Cliente.operadora_id)
                                           .join(Cliente, Cliente.id == Processo.cliente_id)).all())
    for e in db.session.scalars(select(Execucao)):
        if e.status not in (E.CONCLUIDO, E.FALHOU) or e.data_fim is None:
            continue
        hora = e.data_fim.replace(minute=0, second=0, microsecond=0)
        horas[(hora, e.status)] += 1
        dias[(hora.replace(hour=0), e.status)] += 1
        if e.status == E.CONCLUIDO and e.data_inicio is not None and e.processo_id is not None:
            seconds = (e.data_fim - e.data_inicio).total_seconds()
            operadora = operadora_of[e.processo_id]
            day = (e.data_fim.date() - date(1970, 1, 1)).days
            for table, key in ((duracoes, (hora, operadora, e.tipo)),
                               *((faixas, (k, day - day % 2 ** k, operadora, e.tipo, faixa(seconds))) for k in range(5))):
                table[key][0] += 1
                table[key][1] += seconds
    return {"horas": dict(horas), "dias": dict(dias), "duracoes": {k: tuple(v) for k, v in duracoes.items()},
            "faixas": {k: tuple(v) for k, v in faixas.items()}}


def stored() -> dict:
    db.session.expire_all()
    horas = {(h, s): n for h, s, n in db.session.execute(
        select(ExecucaoHora.hora, ExecucaoHora.status, ExecucaoHora.total).where(ExecucaoHora.total != 0))}
    dias = {(d, s): n for d, s, n in db.session.execute(
        select(ExecucaoDia.dia, ExecucaoDia.status, ExecucaoDia.total).where(ExecucaoDia.total != 0))}
    duracoes = {(h, o, t): (n, s) for h, o, t, n, s in db.session.execute(
        select(ExecucaoDuracao.hora, ExecucaoDuracao.operadora_id, ExecucaoDuracao.tipo, ExecucaoDuracao.total,
               ExecucaoDuracao.soma).where(ExecucaoDuracao.total != 0))}
    faixas = {(k, b, o, t, f): (n, s) for k, b, o, t, f, n, s in db.session.execute(
        select(ExecucaoDuracaoFaixa.nivel, ExecucaoDuracaoFaixa.bloco, ExecucaoDuracaoFaixa.operadora_id, ExecucaoDuracaoFaixa.tipo,
               ExecucaoDuracaoFaixa.faixa, ExecucaoDuracaoFaixa.total, ExecucaoDuracaoFaixa.soma)
        .where(ExecucaoDuracaoFaixa.total != 0))}
    return {"horas": horas, "dias": dias, "duracoes": duracoes, "faixas": faixas}


def assert_in_step():
    have, want = stored(), direct()
    assert have["horas"] == want["horas"]
    assert have["dias"] == want["dias"]
    for table in ("duracoes", "faixas"):
        assert set(have[table]) == set(want[table]), table
        for key, (n, soma) in want[table].items():
            assert have[table][key][0] == n, (table, key)
            assert have[table][key][1] == pytest.approx(soma, rel=1e-7, abs=1e-3), (table, key)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_runs_are_counted_when_they_finish_and_moved_when_rewritten(app):
    vivo, claro = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="CLARO")
    p1, p2 = make_processo(operadora=vivo), make_processo(operadora=claro)
    running = ExecucaoFactory(processo=p1, status=E.EXECUTANDO)
    done = ExecucaoFactory(processo=p1, status=E.CONCLUIDO, fim=utc(2026, 5, 10, 12, 30), segundos=42)
    ExecucaoFactory(processo=p2, status=E.FALHOU, fim=utc(2026, 5, 11, 3), segundos=5)
    ExecucaoFactory(processo=None, tipo=TipoExecucao.SERVICO, status=E.CONCLUIDO, fim=utc(2026, 5, 11, 4))
    db.session.commit()
    assert_in_step()
    assert stored()["horas"] == {(utc(2026, 5, 10, 12), E.CONCLUIDO): 1, (utc(2026, 5, 11, 3), E.FALHOU): 1,
                                 (utc(2026, 5, 11, 4), E.CONCLUIDO): 1}
    # The worker's log counters on a running run change nothing; finishing it counts it.
    db.session.execute(update(Execucao).where(Execucao.id == running.id).values(ultimo_seq=7, log_linhas=7))
    db.session.commit()
    assert_in_step()
    running.status, running.data_fim = E.CONCLUIDO, utc(2026, 5, 12, 9, 15)
    running.data_inicio = utc(2026, 5, 12, 9, 0)
    db.session.commit()
    assert_in_step()
    # Re-dated, re-timed, turned into a failure, reopened, finished again, moved to another processo.
    done.data_fim = utc(2026, 5, 14, 23, 59)
    db.session.commit()
    assert_in_step()
    done.data_inicio = utc(2026, 5, 14, 20)
    db.session.commit()
    assert_in_step()
    done.status = E.FALHOU
    db.session.commit()
    assert_in_step()
    done.status, done.data_fim = E.EXECUTANDO, None
    db.session.commit()
    assert_in_step()
    done.status, done.data_fim, done.processo_id = E.CONCLUIDO, utc(2026, 5, 15, 1), p2.id
    db.session.commit()
    assert_in_step()
    assert sum(n for n, _ in stored()["duracoes"].values()) == 2


def test_bulk_inserts_updates_and_deletes_are_counted(app):
    rng = random.Random(7)
    operadoras = [OperadoraFactory(codigo=c) for c in ("VIVO", "CLARO", "TIM")]
    processos = [make_processo(operadora=operadoras[i % 3], competencia=f"2026-0{1 + i // 3}") for i in range(9)]
    db.session.commit()
    rows = []
    for n in range(400):
        fim = NOW - timedelta(minutes=rng.randrange(40 * 24 * 60))
        rows.append({"id": uuid.uuid4(), "processo_id": rng.choice(processos).id if n % 10 else None,
                     "tipo": rng.choice((TipoExecucao.DOWNLOAD, TipoExecucao.ENVIO_SAT)),
                     "status": E.EXECUTANDO if n % 20 == 0 else rng.choice((E.CONCLUIDO, E.CONCLUIDO, E.FALHOU)),
                     "created_at": fim - timedelta(hours=1), "updated_at": fim,
                     "data_inicio": fim - timedelta(seconds=rng.uniform(0, 9000)) if n % 17 else None,
                     "data_fim": fim if n % 23 else None, "ultimo_seq": 0})
    db.session.execute(insert(Execucao), rows)
    db.session.commit()
    assert_in_step()
    db.session.execute(update(Execucao).where(Execucao.status == E.FALHOU).values(status=E.CONCLUIDO))
    db.session.execute(update(Execucao).where(Execucao.tipo == TipoExecucao.ENVIO_SAT, Execucao.data_fim.is_not(None))
                       .values(data_fim=utc(2026, 5, 19, 23, 45), data_inicio=utc(2026, 5, 19, 23, 40)))
    db.session.commit()
    assert_in_step()
    db.session.execute(delete(Execucao).where(Execucao.processo_id == processos[0].id))
    db.session.commit()
    assert_in_step()
    # A processo deleted takes its runs with it, and out of the summaries.
    db.session.execute(delete(Processo).where(Processo.id.in_([processos[1].id, processos[2].id])))
    db.session.commit()
    assert_in_step()
    db.session.execute(delete(Execucao))
    db.session.commit()
    assert stored() == {"horas": {}, "dias": {}, "duracoes": {}, "faixas": {}}


def exact_percentile(values: list[float], percentile: int) -> float:
    values = sorted(values)
    low, fraction = divmod((len(values) - 1) * percentile, 100)
    upper = values[min(low + 1, len(values) - 1)]
    return values[low] + (upper - values[low]) * fraction / 100


def test_the_dashboard_matches_the_runs_the_p95_within_the_histograms_resolution(app):
    rng = random.Random(3)
    vivo = OperadoraFactory(codigo="VIVO")
    processo = make_processo(operadora=vivo)
    values = [rng.lognormvariate(5, 1) for _ in range(300)]
    for seconds in values:
        ExecucaoFactory(processo=processo, status=E.CONCLUIDO, segundos=seconds,
                        fim=NOW - timedelta(minutes=rng.randrange(20 * 24 * 60)))
    db.session.commit()
    (row,) = services.durations(now=NOW)
    exact = exact_percentile(values, services.PERCENTILE)
    assert row["n"] == 300
    assert row["media"] == pytest.approx(sum(values) / 300, abs=1e-3)
    assert abs(row["p95"] - exact) <= services.faixa_width(faixa(exact))


@pytest.mark.parametrize("timezone", ["America/Sao_Paulo", "Asia/Kolkata", "America/New_York", "UTC"])
def test_days_and_means_read_from_day_rows_equal_the_hourly_figures(app, monkeypatch, timezone):
    """Runs per local day and the mean durations, read from the day rows and the hours a local midnight or the
    window's start cuts off, are the figures of the hours themselves: each UTC hour in the local day of its
    first moment (half-hour offsets, daylight saving: New York moves its clocks on 2026-03-08), the means over
    the hours from the window's start on (runs finished later than now included)."""
    from zoneinfo import ZoneInfo

    monkeypatch.setitem(app.config, "TIMEZONE", timezone)
    tz = ZoneInfo(timezone)
    rng = random.Random(11)
    operadoras = [OperadoraFactory(codigo=c) for c in ("VIVO", "CLARO")]
    processos = [make_processo(operadora=operadoras[i % 2]) for i in range(4)]
    now = utc(2026, 3, 20, 1, 30)
    runs = []
    for n in range(600):
        fim = now - timedelta(minutes=rng.randrange(-3 * 24 * 60, 34 * 24 * 60))
        seconds = rng.uniform(1, 4000)
        runs.append((fim, seconds, E.FALHOU if n % 7 == 0 else E.CONCLUIDO, rng.choice(processos)))
        ExecucaoFactory(processo=runs[-1][3], status=runs[-1][2], fim=fim, segundos=seconds)
    db.session.commit()
    per_day = services.executions_per_day(now=now)
    _, start = services._window(now, services.DAYS)
    expected = defaultdict(int)
    for fim, _, status, _ in runs:
        expected[(fim.replace(minute=0, second=0, microsecond=0).astimezone(tz).date().isoformat(), status)] += 1
    assert per_day["concluido"] == [expected[(d, E.CONCLUIDO)] for d in per_day["dias"]]
    assert per_day["falhou"] == [expected[(d, E.FALHOU)] for d in per_day["dias"]]
    means = defaultdict(list)
    for fim, seconds, status, processo in runs:
        if status == E.CONCLUIDO and fim.replace(minute=0, second=0, microsecond=0) >= start:
            means[processo.cliente.operadora.codigo].append(seconds)
    hourly = {codigo: soma / n for codigo, n, soma in db.session.execute(
        select(Operadora.codigo, func.sum(ExecucaoDuracao.total), func.sum(ExecucaoDuracao.soma))
        .join(Operadora, Operadora.id == ExecucaoDuracao.operadora_id).where(ExecucaoDuracao.hora >= start)
        .group_by(Operadora.codigo))}
    rows = {row["operadora"]: row for row in services.durations(now=now)}
    assert {codigo: row["n"] for codigo, row in rows.items()} == {codigo: len(v) for codigo, v in means.items()}
    for codigo, values in means.items():
        assert rows[codigo]["media"] == pytest.approx(hourly[codigo], rel=1e-12)  # the hours' own mean
        assert rows[codigo]["media"] == pytest.approx(sum(values) / len(values), abs=1e-3)  # SQLite's julianday


@pytest.mark.parametrize("faixas, expected", [
    ([(10, 3, 31.5)], 10.8),  # three runs taken at 10.1667, 10.5, 10.8333: rank 1.9 → 10.5 + 0.9 / 3
    ([(60, 4, 240.0)], 60.0),  # equal runs: their value, exactly
    ([(1, 1, 1.0), (5, 1, 5.0)], 4.8),
])
def test_histogram_percentile(faixas, expected):
    assert services.histogram_percentile(faixas, 95) == pytest.approx(expected, abs=0.01)


def test_the_migration_fills_the_summaries_from_existing_runs_and_goes_back_down(app_config, empty_database_url,
                                                                                tmp_path):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from apps import create_app
    from tests.factories import ClienteFactory

    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=empty_database_url, INSTANCE_DIR=tmp_path))
    with old.app_context():
        upgrade(revision="9c0d1e2f3a63")
        cliente = ClienteFactory()
        processo_id = uuid.uuid4()
        db.session.execute(insert(Processo.__table__).values(
            id=processo_id, cliente_id=cliente.id, competencia="2026-05", status="AGUARDANDO_DOWNLOAD",
            cliente_nome=cliente.nome, cliente_nome_busca=cliente.nome_busca, created_at=NOW, updated_at=NOW))
        for n, (status, seconds) in enumerate([(E.CONCLUIDO, 42), (E.CONCLUIDO, 900), (E.FALHOU, 5), (E.CONCLUIDO, 61)]):
            fim = NOW - timedelta(hours=n * 7)
            db.session.execute(insert(Execucao.__table__).values(
                id=uuid.uuid4(), processo_id=processo_id, tipo=TipoExecucao.DOWNLOAD, status=status,
                data_inicio=fim - timedelta(seconds=seconds), data_fim=fim, created_at=fim, updated_at=fim,
                ultimo_seq=0))
        db.session.commit()
        upgrade()
        assert_in_step()
        assert sum(stored()["horas"].values()) == 4
        (row,) = services.durations(now=NOW)
        assert (row["n"], row["p95"]) == (3, pytest.approx(61 + 0.9 * (900 - 61), abs=0.01))
        db.session.remove()
        downgrade(revision="9c0d1e2f3a63")
        assert not {"execucao_horas", "execucao_dias"} & set(inspect(db.engine).get_table_names())
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("first, last", [(date(2026, 4, 21), date(2026, 5, 20)), (date(2026, 4, 20), date(2026, 5, 20)),
                                         (date(2026, 5, 20), date(2026, 5, 20))])
def test_day_blocks_cover_the_window_once(first, last):
    blocks = services.day_blocks(first, last)
    days = [b + i for k, b in blocks for i in range(2 ** k)]
    assert days == list(range((first - date(1970, 1, 1)).days, (last - date(1970, 1, 1)).days + 1))
    assert all(b % 2 ** k == 0 for k, b in blocks) and len(blocks) <= 10
