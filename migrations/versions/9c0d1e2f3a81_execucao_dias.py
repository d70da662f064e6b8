"""execucao_dias: finished runs per UTC day and status, kept by triggers on execucoes beside execucao_horas,
so the dashboard's runs per local day read a day's row and only the hours a local midnight cuts off

Revision ID: 9c0d1e2f3a81
Revises: 9c0d1e2f3a74
Create Date: 2026-12-02 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c0d1e2f3a81'
down_revision = '9c0d1e2f3a74'
branch_labels = None
depends_on = None

# The same runs as execucao_horas (CONCLUIDO, FALHOU with data_fim), by the UTC day of data_fim (its midnight),
# so a day's row is the sum of its 24 hours there. Keys taken in order (ORDER BY), as in 9c0d1e2f3a74.
DIA = {
    "sqlite": "strftime('%Y-%m-%d 00:00:00.000000', d.data_fim)",
    "postgresql": "(date_trunc('day', d.data_fim AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
}
FINISHED = "d.status IN ('CONCLUIDO', 'FALHOU') AND d.data_fim IS NOT NULL"


def apply(dialect: str, deltas: str) -> str:
    return (f"INSERT INTO execucao_dias (dia, status, total) "
            f"SELECT {DIA[dialect]}, d.status, sum(d.delta) FROM ({deltas}) AS d WHERE {FINISHED} "
            f"GROUP BY 1, 2 HAVING sum(d.delta) <> 0 ORDER BY 1, 2 "
            f"ON CONFLICT (dia, status) DO UPDATE SET total = execucao_dias.total + excluded.total;")


def row(side: str, delta: int) -> str:
    return f"SELECT {side}.status AS status, {side}.data_fim AS data_fim, {delta} AS delta"


COLUMNS = "status, data_fim"
CHANGED = "OLD.status IS {ne} NEW.status OR OLD.data_fim IS {ne} NEW.data_fim"


def sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER trg_execucoes_dias_insert AFTER INSERT ON execucoes "
        f"WHEN NEW.status IN ('CONCLUIDO', 'FALHOU') BEGIN {apply('sqlite', row('NEW', 1))} END",
        f"CREATE TRIGGER trg_execucoes_dias_delete AFTER DELETE ON execucoes "
        f"WHEN OLD.status IN ('CONCLUIDO', 'FALHOU') BEGIN {apply('sqlite', row('OLD', -1))} END",
        f"CREATE TRIGGER trg_execucoes_dias_update AFTER UPDATE OF {COLUMNS} ON execucoes "
        f"WHEN {CHANGED.format(ne='NOT')} "
        f"BEGIN {apply('sqlite', row('OLD', -1) + ' UNION ALL ' + row('NEW', 1))} END",
    ]


# PostgreSQL: as for the other summaries, statement triggers over transition tables for INSERT and DELETE, a
# row trigger with a WHEN for UPDATE. A processo deleted takes its runs through trg_processos_resumo_delete,
# which fires these DELETE triggers too.
PG_FUNCTIONS = {
    "execucao_dias_insert": apply("postgresql", f"SELECT {COLUMNS}, 1 AS delta FROM novos"),
    "execucao_dias_delete": apply("postgresql", f"SELECT {COLUMNS}, -1 AS delta FROM antigos"),
    "execucao_dias_update": apply("postgresql", row("OLD", -1) + " UNION ALL " + row("NEW", 1)),
}
PG_TRIGGERS = [
    "CREATE TRIGGER trg_execucoes_dias_insert AFTER INSERT ON execucoes REFERENCING NEW TABLE AS novos "
    "FOR EACH STATEMENT EXECUTE FUNCTION execucao_dias_insert()",
    "CREATE TRIGGER trg_execucoes_dias_delete AFTER DELETE ON execucoes REFERENCING OLD TABLE AS antigos "
    "FOR EACH STATEMENT EXECUTE FUNCTION execucao_dias_delete()",
    f"CREATE TRIGGER trg_execucoes_dias_update AFTER UPDATE OF {COLUMNS} ON execucoes FOR EACH ROW "
    f"WHEN ({CHANGED.format(ne='DISTINCT FROM')}) EXECUTE FUNCTION execucao_dias_update()",
]
TRIGGERS = ("trg_execucoes_dias_insert", "trg_execucoes_dias_delete", "trg_execucoes_dias_update")


def upgrade():
    op.create_table('execucao_dias',
    sa.Column('dia', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('dia', 'status', name=op.f('pk_execucao_dias')),
    sqlite_with_rowid=False,  # SQLite: rows stored in key order, the dashboard reads them by range
    )
    dialect = "postgresql" if op.get_bind().dialect.name == "postgresql" else "sqlite"
    if dialect == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
                       f"RETURN NULL; END $$")
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in sqlite_triggers():
            op.execute(statement)
    op.execute(apply(dialect, f"SELECT {COLUMNS}, 1 AS delta FROM execucoes").rstrip(";"))


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}" + (" ON execucoes" if postgres else ""))
    if postgres:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table('execucao_dias')
