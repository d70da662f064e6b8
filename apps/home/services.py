"""Figures for the home dashboard: a fixed number of set-based queries (GROUP BY), whatever the volume.

`dashboard()` runs four queries: processos of the competência by operadora and status (read from
processo_totais, a few rows), the approval backlog, finished execucoes per local day (execucao_dias, and the
hours of execucao_horas a local midnight cuts off) and duration means and p95 per operadora and tipo
(execucao_duracao_faixas, and the hours of execucao_duracoes where the window's start cuts a UTC day): summaries
kept by database triggers (apps.home.models), so the cost does not grow with the runs of the month, and each
reads a few rows per day of the window, not one per hour (a summary row is rewritten by every run that
finishes, so after a busy month its table is larger than its rows, and a read of all of them costs its size).
"""
from bisect import bisect_right
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic

from flask import current_app
from sqlalchemy import and_, case, func, literal, or_, select, type_coerce, union_all

from apps.core.clock import competencia_of, current_competencia, local_tz
from apps.core.types import UTCDateTime, db, utcnow
from apps.home.models import ExecucaoDia, ExecucaoDuracao, ExecucaoDuracaoFaixa, ExecucaoHora
from apps.operadoras.models import Operadora
from apps.processos import totais
from apps.processos.models import Execucao, Processo, ProcessoTotal, StatusExecucao, StatusProcesso

DAYS = 30
PERCENTILE = 95  # an integer, so the rank arithmetic is exact in SQL and in Python


def _dialect() -> str:
    return db.engine.dialect.name


def status_by_operadora(competencia: str) -> list[dict]:
    """Processos of a competência counted by operadora and status (from processo_totais)."""
    table: dict[str, dict] = {}
    for codigo, nome, status, n in totais.by_operadora_status(competencia):
        entry = table.setdefault(codigo, {"codigo": codigo, "nome": nome, "total": 0,
                                          "counts": {s: 0 for s in StatusProcesso.ALL}})
        entry["counts"][status] = n
        entry["total"] += n
    return [table[codigo] for codigo in sorted(table)]


def month_summary(competencia: str | None = None, por_operadora: list[dict] | None = None) -> dict:
    """Processos of a competência counted by status (from `por_operadora` when already loaded)."""
    competencia = competencia or current_competencia()
    if por_operadora is None:
        por_operadora = status_by_operadora(competencia)
    counts = {status: sum(row["counts"][status] for row in por_operadora) for status in StatusProcesso.ALL}
    total = sum(counts.values())
    pct = {status: (100 * n / total if total else 0) for status, n in counts.items()}
    return {"competencia": competencia, "counts": counts, "total": total, "pct": pct,
            "labels": StatusProcesso.LABELS,
            "done_pct": round(pct[StatusProcesso.UPLOAD_REALIZADO])}


def approval_backlog(now: datetime | None = None) -> dict:
    """Processos awaiting approval and since when the oldest one waits (one query).

    The count is read from processo_totais; the oldest is the smallest of two lookups at the head of
    ix_processos_aprovacao: the earliest aprovacao_desde (set by state.move when a processo enters
    AGUARDANDO_APROVACAO, filled from the audit trail by migration 9c0d1e2f3a41), and the earliest
    updated_at of those without one (data loaded by hand), which is close because nothing else updates a
    processo while it waits. Both cost the same at 1,000 processos or 1,000,000.
    """
    waiting = Processo.status == StatusProcesso.AGUARDANDO_APROVACAO
    entered = (select(Processo.aprovacao_desde).where(waiting, Processo.aprovacao_desde.is_not(None))
               .order_by(Processo.aprovacao_desde).limit(1).scalar_subquery())
    # Ordered by the index's own columns: PostgreSQL does not take `IS NULL` as fixing one, and would sort.
    unknown = (select(Processo.updated_at).where(waiting, Processo.aprovacao_desde.is_(None))
               .order_by(Processo.aprovacao_desde, Processo.updated_at).limit(1).scalar_subquery())
    total = (select(func.coalesce(func.sum(ProcessoTotal.total), 0))
             .where(ProcessoTotal.status == StatusProcesso.AGUARDANDO_APROVACAO).scalar_subquery())
    first, second, total = db.session.execute(select(type_coerce(entered, UTCDateTime()),
                                                     type_coerce(unknown, UTCDateTime()), total)).one()
    since = min((t for t in (first, second) if t is not None), default=None)
    age = (now or utcnow()) - since if since else None
    return {"total": total, "desde": since, "idade": age, "idade_texto": age_text(age)}


def age_text(age: timedelta | None) -> str:
    """'3 dias e 4 h', '5 h 10 min', '12 min' (or '—')."""
    if age is None:
        return "—"
    minutes = max(0, int(age.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} dia{'s' if days > 1 else ''} e {hours} h"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min"


def _window(now: datetime, days: int) -> tuple[list, datetime]:
    """The last `days` local dates (oldest first) and the UTC moment the first one starts."""
    today = now.astimezone(local_tz()).date()
    dates = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    start = datetime.combine(dates[0], time.min, tzinfo=local_tz()).astimezone(UTC)
    return dates, start


def executions_per_day(now: datetime | None = None, days: int = DAYS) -> dict:
    """Finished execucoes (CONCLUIDO, FALHOU) per local day by data_fim, and the failure rate.

    Exact counts from the summaries kept by triggers: each UTC hour (execucao_horas) belongs to the local day its
    first moment falls in. A UTC day's row (execucao_dias, the sum of its hours) is given to the local day that
    holds most of its hours, and only its other hours (those a local midnight cuts off: 3 a day in São Paulo)
    are read one by one and moved to their own day. About 8 rows a day, whatever the number of runs: the hourly
    rows of a busy month are rewritten by every run that finishes, and a read of all 720 costs what their
    table's size does.
    """
    now = now or utcnow()
    dates, _ = _window(now, days)
    midnights = [datetime.combine(d, time.min, tzinfo=local_tz()).astimezone(UTC)
                 for d in (*dates, dates[-1] + timedelta(days=1))]

    def local_day(moment: datetime) -> int | None:
        index = bisect_right(midnights, moment) - 1
        return index if 0 <= index < len(dates) else None

    day = datetime.combine(midnights[0].date(), time.min, tzinfo=UTC)
    utc_days, main_day, cut_off = [], {}, []
    while day < midnights[-1]:
        hours = [day + timedelta(hours=h) for h in range(24)]
        owners = [local_day(hour) for hour in hours]
        main_day[day] = max(set(owners), key=lambda owner: (owners.count(owner), owner is not None))
        cut_off += [hour for hour, owner in zip(hours, owners, strict=True) if owner != main_day[day]]
        utc_days.append(day)
        day += timedelta(days=1)
    whole = (select(literal(True).label("whole"), ExecucaoDia.dia, ExecucaoDia.status, ExecucaoDia.total)
             .where(ExecucaoDia.dia >= utc_days[0], ExecucaoDia.dia <= utc_days[-1], ExecucaoDia.total != 0))
    hourly = (select(literal(False), ExecucaoHora.hora, ExecucaoHora.status, ExecucaoHora.total)
              .where(ExecucaoHora.hora.in_(cut_off), ExecucaoHora.total != 0))
    per_day = [{StatusExecucao.CONCLUIDO: 0, StatusExecucao.FALHOU: 0} for _ in dates]

    def add(index: int | None, status: str, n: int) -> None:
        if index is not None and status in per_day[index]:
            per_day[index][status] += n

    for is_day, moment, status, n in db.session.execute(union_all(whole, hourly) if cut_off else whole).all():
        if is_day:
            add(main_day[moment], status, n)
        else:  # an hour the day's row gave to another local day: moved to its own
            add(main_day[datetime.combine(moment.date(), time.min, tzinfo=UTC)], status, -n)
            add(local_day(moment), status, n)
    concluidas = sum(v[StatusExecucao.CONCLUIDO] for v in per_day)
    falhas = sum(v[StatusExecucao.FALHOU] for v in per_day)
    finished = concluidas + falhas
    return {"dias": [d.isoformat() for d in dates],
            "concluido": [v[StatusExecucao.CONCLUIDO] for v in per_day],
            "falhou": [v[StatusExecucao.FALHOU] for v in per_day],
            "concluidas": concluidas, "falhas": falhas,
            "taxa_falha": (100 * falhas / finished) if finished else None}


def duration_seconds():
    """Execucao.data_fim - data_inicio in seconds, as SQL (PostgreSQL or SQLite); apps.core.metrics uses it."""
    if _dialect() == "postgresql":
        return func.extract("epoch", Execucao.data_fim - Execucao.data_inicio)
    return (func.julianday(Execucao.data_fim) - func.julianday(Execucao.data_inicio)) * 86400.0


# The duration histogram's buckets (execucao_duracao_faixas.faixa is a bucket's lower bound, in seconds):
# (up to, width). 1 s below 1 min, 10 s below 10 min, 1 min below 2 h, 10 min beyond. The triggers of
# migration 9c0d1e2f3a74 use the same bounds.
FAIXAS = ((60, 1), (600, 10), (7200, 60), (None, 600))
RESOLUCAO = "1 s até 1 min, 10 s até 10 min, 1 min até 2 h, 10 min acima"


def faixa_width(faixa: int) -> int:
    return next(width for limit, width in FAIXAS if limit is None or faixa < limit)


def durations(now: datetime | None = None, days: int = DAYS) -> list[dict]:
    """Mean and p95 duration of CONCLUIDO runs per operadora and tipo (one query over the summaries).

    The count and mean are exact, over the window's UTC hours (from its start on, as execucao_duracoes holds
    them). The p95 is interpolated like percentile_cont (linearly, at rank 0.95 * (n - 1)) from the duration
    histogram of the UTC days the window touches (execucao_duracao_faixas, read as about 8 aligned blocks):
    within a bucket its runs are taken as spread evenly around their mean, so it is exact when a bucket's runs
    are equal, and off by less than a bucket's width (RESOLUCAO) otherwise.

    The same blocks give the count and summed seconds of those UTC days (a block's buckets add up to all its
    runs), so the hourly rows are read only where the window differs from its days: the hours of its first UTC
    day before it starts (taken out) and any past its last day (put in). A few dozen rows, not one per hour
    of 30 days: the hourly rows of a busy month are rewritten by every run that finishes, and a read of all
    of them costs what their table's size does.
    """
    now = now or utcnow()
    _, start = _window(now, days)
    first, last = start.date(), now.astimezone(UTC).date()
    first_day = datetime.combine(first, time.min, tzinfo=UTC)
    after_last = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    before = ExecucaoDuracao.hora < start
    sign = case((before, -1), else_=1)
    # Grouped by operadora_id first (the table's own columns, no lookup per row), then named.
    edges = (select(ExecucaoDuracao.operadora_id.label("operadora_id"), ExecucaoDuracao.tipo.label("tipo"),
                    literal(-1).label("faixa"), func.sum(sign * ExecucaoDuracao.total).label("n"),
                    func.sum(sign * ExecucaoDuracao.soma).label("soma"))
             .where(or_(and_(ExecucaoDuracao.hora >= first_day, before), ExecucaoDuracao.hora >= after_last))
             .group_by(ExecucaoDuracao.operadora_id, ExecucaoDuracao.tipo))
    histogram = (select(ExecucaoDuracaoFaixa.operadora_id, ExecucaoDuracaoFaixa.tipo, ExecucaoDuracaoFaixa.faixa,
                        func.sum(ExecucaoDuracaoFaixa.total), func.sum(ExecucaoDuracaoFaixa.soma))
                 .where(or_(*(and_(ExecucaoDuracaoFaixa.nivel == nivel, ExecucaoDuracaoFaixa.bloco == bloco)
                              for nivel, bloco in day_blocks(first, last))))
                 .group_by(ExecucaoDuracaoFaixa.operadora_id, ExecucaoDuracaoFaixa.tipo, ExecucaoDuracaoFaixa.faixa))
    grouped = union_all(edges, histogram).subquery()
    query = (select(Operadora.codigo, grouped.c.tipo, grouped.c.faixa, grouped.c.n, grouped.c.soma)
             .join(Operadora, Operadora.id == grouped.c.operadora_id))
    groups: dict[tuple, dict] = defaultdict(lambda: {"n": 0, "soma": 0.0, "faixas": []})
    for operadora, tipo, faixa, n, soma in db.session.execute(query).all():
        if not n:
            continue
        entry = groups[(operadora, tipo)]
        entry["n"] += int(n)
        entry["soma"] += float(soma)
        if faixa != -1:
            entry["faixas"].append((int(faixa), int(n), float(soma)))
    result = []
    for (operadora, tipo), entry in sorted(groups.items()):
        if entry["n"] <= 0 or not entry["faixas"]:
            continue
        result.append({"operadora": operadora, "tipo": tipo, "n": entry["n"], "media": entry["soma"] / entry["n"],
                       "p95": histogram_percentile(entry["faixas"], PERCENTILE)})
    return result


EPOCH = date(1970, 1, 1)
NIVEIS = 5  # blocks of 1, 2, 4, 8, 16 days


def day_blocks(first: date, last: date) -> list[tuple[int, int]]:
    """(nivel, bloco) of the fewest aligned blocks of execucao_duracao_faixas covering the UTC days first..last."""
    day, end, blocks = (first - EPOCH).days, (last - EPOCH).days, []
    while day <= end:
        nivel = next(k for k in range(NIVEIS - 1, -1, -1) if day % 2 ** k == 0 and day + 2 ** k - 1 <= end)
        blocks.append((nivel, day))
        day += 2 ** nivel
    return blocks


def histogram_percentile(faixas: list[tuple[int, int, float]], percentile: int) -> float:
    """percentile_cont over a histogram of (lower bound, count, summed seconds) buckets.

    The k-th of a bucket's c runs is taken at m - h + 2h (k + 0.5) / c: spread evenly over [m - h, m + h]
    around their mean m, h as wide as the bucket allows (one run, or equal runs: exactly m).
    """
    faixas = sorted(faixas)
    n = sum(c for _, c, _ in faixas)
    low, fraction = divmod((n - 1) * percentile, 100)

    def value(index: int) -> float:
        before = 0
        for lower, count, soma in faixas:
            if index < before + count:
                mean = soma / count
                half = max(0.0, min(mean - lower, lower + faixa_width(lower) - mean))
                return mean - half + 2 * half * (index - before + 0.5) / count
            before += count
        return value(n - 1)

    lower = value(low)
    upper = value(low + 1) if low + 1 < n else lower
    return lower + (upper - lower) * fraction / 100


def dashboard(now: datetime | None = None) -> dict:
    """Everything the home page shows (four queries)."""
    now = now or utcnow()
    competencia = competencia_of(now, local_tz())
    por_operadora = status_by_operadora(competencia)
    return {"summary": month_summary(competencia, por_operadora), "por_operadora": por_operadora,
            "backlog": approval_backlog(now), "por_dia": executions_per_day(now),
            "duracoes": durations(now), "gerado_em": now}


def cached_dashboard() -> dict:
    """dashboard(), reused for DASHBOARD_CACHE_SECONDS (default 30) in this process.

    Every figure is read from rows kept by triggers (processo_totais, the execucao summaries) or an index
    lookup, so an uncached visit costs a few milliseconds at any volume; the cache still spares a busy
    page the work.
    """
    ttl = float(current_app.config.get("DASHBOARD_CACHE_SECONDS", 30))
    cache = current_app.extensions.setdefault("home_dashboard", {})
    if ttl > 0 and cache and monotonic() - cache["at"] < ttl:
        return cache["data"]
    data = dashboard()
    cache.update(at=monotonic(), data=data)
    return data


def chart_data(data: dict) -> dict:
    """The JSON-ready part of `dashboard()` that the charts draw."""
    summary = data["summary"]
    return {
        "competencia": summary["competencia"],
        "status": [{"status": s, "label": summary["labels"][s], "total": summary["counts"][s]}
                   for s in StatusProcesso.ALL],
        "por_dia": {key: data["por_dia"][key] for key in ("dias", "concluido", "falhou")},
        "duracoes": [{"grupo": f"{d['operadora']} · {d['tipo']}", "media": round(d["media"], 1),
                      "p95": round(d["p95"], 1)} for d in data["duracoes"]],
    }


def as_json(data: dict) -> dict:
    """`dashboard()` for the JSON endpoint: datetimes in ISO 8601, ages in seconds."""
    backlog = data["backlog"]
    return {
        "competencia": data["summary"]["competencia"],
        "status": data["summary"]["counts"], "total": data["summary"]["total"],
        "por_operadora": [{"codigo": r["codigo"], "nome": r["nome"], "counts": r["counts"], "total": r["total"]}
                          for r in data["por_operadora"]],
        "aprovacao": {"total": backlog["total"],
                      "desde": backlog["desde"].isoformat() if backlog["desde"] else None,
                      "idade_segundos": int(backlog["idade"].total_seconds()) if backlog["idade"] else None},
        "por_dia": data["por_dia"], "duracoes": data["duracoes"], "gerado_em": data["gerado_em"].isoformat(),
    }
