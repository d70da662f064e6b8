"""execucao_resumo: finished runs per UTC hour (counts, summed durations) and a duration histogram
per blocks of UTC days, kept by triggers on execucoes, so the dashboard reads a few thousand rows, not 30 days of runs

Revision ID: 9c0d1e2f3a74
Revises: 9c0d1e2f3a63
Create Date: 2026-12-02 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c0d1e2f3a74'
down_revision = '9c0d1e2f3a63'
branch_labels = None
depends_on = None

# Each apply statement reads `d`: (status, data_fim, data_inicio, tipo, processo_id, delta) rows, +1 for a run
# that now counts, -1 for one that no longer does (the old side of an UPDATE, a DELETE). Only finished runs
# (CONCLUIDO, FALHOU with data_fim) count; durations only CONCLUIDO runs of a processo with data_inicio.
# Keys are taken in order (ORDER BY), so two statements cannot deadlock on the summary rows.
EXPR = {
    "sqlite": {
        "hora": "strftime('%Y-%m-%d %H:00:00.000000', d.data_fim)",
        "dia": "CAST(julianday(date(d.data_fim)) - 2440587.5 AS INTEGER)",
        "dur": "((julianday(d.data_fim) - julianday(d.data_inicio)) * 86400.0)",
        "int": "CAST({x} AS INTEGER)",  # truncation, a floor for x >= 0
        "pos": "max(round({x}, 3), 0)",
    },
    "postgresql": {
        "hora": "(date_trunc('hour', d.data_fim AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
        "dia": "((d.data_fim AT TIME ZONE 'UTC')::date - DATE '1970-01-01')",
        "dur": "(extract(epoch FROM d.data_fim - d.data_inicio)::float8)",
        "int": "floor({x})::int",
        "pos": "greatest(round(extract(epoch FROM d.data_fim - d.data_inicio), 3)::float8, 0)",
    },
}
# The bucket of a duration rounded to the millisecond (SQLite's julianday arithmetic would put 900 s at 899.9999).
# Buckets: 1 s below 1 min, 10 s below 10 min, 1 min below 2 h, 10 min beyond (apps.home.services.FAIXAS):
# coarse enough that 30 days of an operadora's runs fill at most a few hundred of them a day.
FAIXA = ("(CASE WHEN {d} < 60 THEN {i1} WHEN {d} < 600 THEN {i10} * 10 WHEN {d} < 7200 THEN {i60} * 60 "
         "ELSE {i600} * 600 END)")
# The histogram is kept over blocks of 1, 2, 4, 8 and 16 UTC days (nivel 0-4, bloco: the number of the block's
# first day since 1970-01-01, a multiple of its length), so any 30-day window is read from about 8 blocks.
NIVEIS = " UNION ALL ".join(f"SELECT {k} AS nivel, {2 ** k} AS dias" for k in range(5))
FINISHED = "d.status IN ('CONCLUIDO', 'FALHOU') AND d.data_fim IS NOT NULL"
TIMED = ("d.status = 'CONCLUIDO' AND d.data_fim IS NOT NULL AND d.data_inicio IS NOT NULL "
         "AND d.processo_id IS NOT NULL")
COLUMNS = "status, data_fim, data_inicio, tipo, processo_id"


def apply(dialect: str, deltas: str) -> str:
    e = EXPR[dialect]
    d = e["pos"].format(x=e["dur"])
    faixa = FAIXA.format(d=d, i1=e["int"].format(x=d), i10=e["int"].format(x=f"{d} / 10"),
                         i60=e["int"].format(x=f"{d} / 60"), i600=e["int"].format(x=f"{d} / 600"))
    owner = (f"FROM ({deltas}) AS d JOIN processos ON processos.id = d.processo_id "
             f"JOIN clientes ON clientes.id = processos.cliente_id WHERE {TIMED}")
    changed = f"HAVING sum(d.delta) <> 0 OR sum(d.delta * {e['dur']}) <> 0"
    return f"""
    INSERT INTO execucao_horas (hora, status, total)
    SELECT {e['hora']}, d.status, sum(d.delta) FROM ({deltas}) AS d WHERE {FINISHED}
    GROUP BY 1, 2 HAVING sum(d.delta) <> 0 ORDER BY 1, 2
    ON CONFLICT (hora, status) DO UPDATE SET total = execucao_horas.total + excluded.total;
    INSERT INTO execucao_duracoes (hora, operadora_id, tipo, total, soma)
    SELECT {e['hora']}, clientes.operadora_id, d.tipo, sum(d.delta), sum(d.delta * {e['dur']}) {owner}
    GROUP BY 1, 2, 3 {changed} ORDER BY 1, 2, 3
    ON CONFLICT (hora, operadora_id, tipo) DO UPDATE SET total = execucao_duracoes.total + excluded.total,
        soma = execucao_duracoes.soma + excluded.soma;
    INSERT INTO execucao_duracao_faixas (nivel, bloco, operadora_id, tipo, faixa, total, soma)
    SELECT n.nivel, {e['dia']} - {e['dia']} % n.dias, clientes.operadora_id, d.tipo, {faixa}, sum(d.delta),
        sum(d.delta * {e['dur']}) {owner.replace(" WHERE ", f" CROSS JOIN ({NIVEIS}) AS n WHERE ")}
    GROUP BY 1, 2, 3, 4, 5 {changed} ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (nivel, bloco, operadora_id, tipo, faixa) DO UPDATE SET total = execucao_duracao_faixas.total + excluded.total,
        soma = execucao_duracao_faixas.soma + excluded.soma;"""


def row(side: str, delta: int) -> str:
    return (f"SELECT {side}.status AS status, {side}.data_fim AS data_fim, {side}.data_inicio AS data_inicio, "
            f"{side}.tipo AS tipo, {side}.processo_id AS processo_id, {delta} AS delta")


# An UPDATE counts only when it changes what the summaries read (not the log counters the worker bumps).
CHANGED = ("OLD.status IS {ne} NEW.status OR OLD.data_fim IS {ne} NEW.data_fim OR OLD.data_inicio IS {ne} "
           "NEW.data_inicio OR OLD.tipo IS {ne} NEW.tipo OR OLD.processo_id IS {ne} NEW.processo_id")
# A processo deleted takes its runs first (what its ON DELETE CASCADE does), while it still gives their operadora,
# so the DELETE trigger on execucoes can count them out (the cascade would run once it is gone). Clientes and
# operadoras with processos cannot be deleted (RESTRICT).
CASCADE = {"trg_processos_resumo_delete": ("processos", "DELETE FROM execucoes WHERE processo_id = OLD.id;")}


def sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER trg_execucoes_resumo_insert AFTER INSERT ON execucoes "
        f"WHEN NEW.status IN ('CONCLUIDO', 'FALHOU') BEGIN {apply('sqlite', row('NEW', 1))} END",
        f"CREATE TRIGGER trg_execucoes_resumo_delete AFTER DELETE ON execucoes "
        f"WHEN OLD.status IN ('CONCLUIDO', 'FALHOU') BEGIN {apply('sqlite', row('OLD', -1))} END",
        f"CREATE TRIGGER trg_execucoes_resumo_update AFTER UPDATE OF {COLUMNS} ON execucoes "
        f"WHEN {CHANGED.format(ne='NOT')} "
        f"BEGIN {apply('sqlite', row('OLD', -1) + ' UNION ALL ' + row('NEW', 1))} END",
        *(f"CREATE TRIGGER {name} BEFORE DELETE ON {table} BEGIN {body} END"
          for name, (table, body) in CASCADE.items()),
    ]


# PostgreSQL: statement triggers over transition tables for INSERT and DELETE (a bulk load is one grouped
# upsert); a row trigger for UPDATE, with a WHEN, so the worker's many updates of a running run cost nothing.
PG_FUNCTIONS = {
    "execucao_resumo_insert": apply("postgresql", f"SELECT {COLUMNS}, 1 AS delta FROM novos"),
    "execucao_resumo_delete": apply("postgresql", f"SELECT {COLUMNS}, -1 AS delta FROM antigos"),
    "execucao_resumo_update": apply("postgresql", row("OLD", -1) + " UNION ALL " + row("NEW", 1)),
    **{name.replace("trg_", ""): body for name, (_, body) in CASCADE.items()},
}
PG_TRIGGERS = [
    "CREATE TRIGGER trg_execucoes_resumo_insert AFTER INSERT ON execucoes REFERENCING NEW TABLE AS novos "
    "FOR EACH STATEMENT EXECUTE FUNCTION execucao_resumo_insert()",
    "CREATE TRIGGER trg_execucoes_resumo_delete AFTER DELETE ON execucoes REFERENCING OLD TABLE AS antigos "
    "FOR EACH STATEMENT EXECUTE FUNCTION execucao_resumo_delete()",
    f"CREATE TRIGGER trg_execucoes_resumo_update AFTER UPDATE OF {COLUMNS} ON execucoes FOR EACH ROW "
    f"WHEN ({CHANGED.format(ne='DISTINCT FROM')}) EXECUTE FUNCTION execucao_resumo_update()",
    *(f"CREATE TRIGGER {name} BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {name.replace('trg_', '')}()"
      for name, (table, _) in CASCADE.items()),
]
TRIGGERS = (("trg_execucoes_resumo_insert", "execucoes"), ("trg_execucoes_resumo_delete", "execucoes"),
            ("trg_execucoes_resumo_update", "execucoes"),
            *((name, table) for name, (table, _) in CASCADE.items()))


def fill(dialect: str) -> list[str]:
    """The summaries of the runs already there (one INSERT … SELECT per table)."""
    statements = apply(dialect, f"SELECT {COLUMNS}, 1 AS delta FROM execucoes").split(";")
    return [s for s in statements if s.strip()]


def upgrade():
    op.create_table('execucao_horas',
    sa.Column('hora', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hora', 'status', name=op.f('pk_execucao_horas')),
    sqlite_with_rowid=False,  # SQLite: rows stored in key order, the dashboard reads them by range
    )
    op.create_table('execucao_duracoes',
    sa.Column('hora', sa.DateTime(timezone=True), nullable=False),
    sa.Column('operadora_id', sa.Uuid(), nullable=False),
    sa.Column('tipo', sa.String(length=20), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('soma', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['operadora_id'], ['operadoras.id'], name=op.f('fk_execucao_duracoes_operadora_id_operadoras'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hora', 'operadora_id', 'tipo', name=op.f('pk_execucao_duracoes')),
    sqlite_with_rowid=False,  # SQLite: rows stored in key order, the dashboard reads them by range
    )
    op.create_table('execucao_duracao_faixas',
    sa.Column('nivel', sa.Integer(), nullable=False),
    sa.Column('bloco', sa.Integer(), nullable=False),
    sa.Column('operadora_id', sa.Uuid(), nullable=False),
    sa.Column('tipo', sa.String(length=20), nullable=False),
    sa.Column('faixa', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('soma', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['operadora_id'], ['operadoras.id'], name=op.f('fk_execucao_duracao_faixas_operadora_id_operadoras'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('nivel', 'bloco', 'operadora_id', 'tipo', 'faixa', name=op.f('pk_execucao_duracao_faixas')),
    sqlite_with_rowid=False,  # SQLite: rows stored in key order, the dashboard reads them by range
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
                       f"RETURN {'OLD' if name == 'processos_resumo_delete' else 'NULL'}; END $$")
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in sqlite_triggers():
            op.execute(statement)
    for statement in fill("postgresql" if dialect == "postgresql" else "sqlite"):
        op.execute(statement)


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for trigger, table in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}" + (f" ON {table}" if postgres else ""))
    if postgres:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table('execucao_duracao_faixas')
    op.drop_table('execucao_duracoes')
    op.drop_table('execucao_horas')
