"""processos_lista: the list's sort key (cliente_nome), the indexes it is read through, and
processo_totais (counts per competência, status and operadora kept by triggers)

Revision ID: 7c2e9a41d5b3
Revises: 264262af5780
Create Date: 2026-11-22 00:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c2e9a41d5b3'
down_revision = '264262af5780'
branch_labels = None
depends_on = None


# SQLite: row triggers (one writer at a time, so no lock order to mind).
SQLITE_ADD = """INSERT INTO processo_totais (competencia, status, operadora_id, total)
    SELECT {row}.competencia, {row}.status, clientes.operadora_id, 1 FROM clientes WHERE clientes.id = {row}.cliente_id
    ON CONFLICT (competencia, status, operadora_id) DO UPDATE SET total = total + 1;"""
SQLITE_REMOVE = """UPDATE processo_totais SET total = total - 1
    WHERE competencia = {row}.competencia AND status = {row}.status
    AND operadora_id = (SELECT clientes.operadora_id FROM clientes WHERE clientes.id = {row}.cliente_id);"""
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER trg_processos_totais_insert AFTER INSERT ON processos BEGIN {SQLITE_ADD.format(row='NEW')} END",
    f"CREATE TRIGGER trg_processos_totais_delete AFTER DELETE ON processos BEGIN {SQLITE_REMOVE.format(row='OLD')} END",
    f"""CREATE TRIGGER trg_processos_totais_update AFTER UPDATE OF competencia, status, cliente_id ON processos
    WHEN OLD.competencia IS NOT NEW.competencia OR OLD.status IS NOT NEW.status OR OLD.cliente_id IS NOT NEW.cliente_id
    BEGIN {SQLITE_REMOVE.format(row='OLD')} {SQLITE_ADD.format(row='NEW')} END""",
    """CREATE TRIGGER trg_clientes_totais_operadora AFTER UPDATE OF operadora_id ON clientes
    WHEN OLD.operadora_id IS NOT NEW.operadora_id
    BEGIN
    UPDATE processo_totais SET total = total - (
        SELECT count(*) FROM processos WHERE processos.cliente_id = NEW.id
        AND processos.competencia = processo_totais.competencia AND processos.status = processo_totais.status)
    WHERE operadora_id = OLD.operadora_id;
    INSERT INTO processo_totais (competencia, status, operadora_id, total)
    SELECT competencia, status, NEW.operadora_id, count(*) FROM processos WHERE cliente_id = NEW.id GROUP BY competencia, status
    ON CONFLICT (competencia, status, operadora_id) DO UPDATE SET total = total + excluded.total;
    END""",
]

# PostgreSQL: statement triggers over transition tables, so the month's INSERT … SELECT costs one grouped
# upsert, and each statement takes its counter rows in key order (ORDER BY), so two moves cannot deadlock.
PG_APPLY = """INSERT INTO processo_totais (competencia, status, operadora_id, total)
    SELECT d.competencia, d.status, clientes.operadora_id, sum(d.delta)
    FROM ({deltas}) AS d JOIN clientes ON clientes.id = d.cliente_id
    GROUP BY 1, 2, 3 HAVING sum(d.delta) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (competencia, status, operadora_id) DO UPDATE SET total = processo_totais.total + EXCLUDED.total;"""
PG_NEW = "SELECT competencia, status, cliente_id, 1 AS delta FROM novos"
PG_OLD = "SELECT competencia, status, cliente_id, -1 AS delta FROM antigos"
PG_FUNCTIONS = {
    "processo_totais_insert": PG_APPLY.format(deltas=PG_NEW),
    "processo_totais_delete": PG_APPLY.format(deltas=PG_OLD),
    "processo_totais_update": PG_APPLY.format(deltas=f"{PG_NEW} UNION ALL {PG_OLD}"),
    "processo_totais_operadora": """INSERT INTO processo_totais (competencia, status, operadora_id, total)
    SELECT competencia, status, operadora_id, sum(delta) FROM (
        SELECT competencia, status, OLD.operadora_id AS operadora_id, -1 AS delta FROM processos WHERE cliente_id = NEW.id
        UNION ALL
        SELECT competencia, status, NEW.operadora_id, 1 FROM processos WHERE cliente_id = NEW.id) AS d
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (competencia, status, operadora_id) DO UPDATE SET total = processo_totais.total + EXCLUDED.total;""",
}
PG_TRIGGERS = [
    "CREATE TRIGGER trg_processos_totais_insert AFTER INSERT ON processos REFERENCING NEW TABLE AS novos "
    "FOR EACH STATEMENT EXECUTE FUNCTION processo_totais_insert()",
    "CREATE TRIGGER trg_processos_totais_delete AFTER DELETE ON processos REFERENCING OLD TABLE AS antigos "
    "FOR EACH STATEMENT EXECUTE FUNCTION processo_totais_delete()",
    "CREATE TRIGGER trg_processos_totais_update AFTER UPDATE ON processos REFERENCING OLD TABLE AS antigos "
    "NEW TABLE AS novos FOR EACH STATEMENT EXECUTE FUNCTION processo_totais_update()",
    "CREATE TRIGGER trg_clientes_totais_operadora AFTER UPDATE OF operadora_id ON clientes FOR EACH ROW "
    "WHEN (OLD.operadora_id IS DISTINCT FROM NEW.operadora_id) EXECUTE FUNCTION processo_totais_operadora()",
]
RECOUNT = """INSERT INTO processo_totais (competencia, status, operadora_id, total)
    SELECT processos.competencia, processos.status, clientes.operadora_id, count(*)
    FROM processos JOIN clientes ON clientes.id = processos.cliente_id WHERE true GROUP BY 1, 2, 3"""


def upgrade():
    # ADD COLUMN … NOT NULL DEFAULT '' is allowed by both databases without rebuilding the table.
    op.add_column('processos', sa.Column('cliente_nome', sa.String(length=200), server_default='', nullable=False))
    op.execute("UPDATE processos SET cliente_nome = (SELECT clientes.nome FROM clientes WHERE clientes.id = processos.cliente_id)")
    with op.batch_alter_table('processos', schema=None) as batch_op:
        batch_op.drop_index('ix_processos_competencia_status')
        batch_op.create_index('ix_processos_lista', [sa.text('competencia DESC'), 'cliente_nome', 'id'], unique=False)
        batch_op.create_index('ix_processos_lista_status', ['status', sa.text('competencia DESC'), 'cliente_nome', 'id'],
                              unique=False)

    op.create_table('processo_totais',
    sa.Column('competencia', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('operadora_id', sa.Uuid(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['operadora_id'], ['operadoras.id'], name=op.f('fk_processo_totais_operadora_id_operadoras'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('competencia', 'status', 'operadora_id', name=op.f('pk_processo_totais'))
    )
    if op.get_bind().dialect.name == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(RECOUNT)


def downgrade():
    for trigger, table in (("trg_processos_totais_insert", "processos"), ("trg_processos_totais_delete", "processos"),
                           ("trg_processos_totais_update", "processos"), ("trg_clientes_totais_operadora", "clientes")):
        op.execute(f"DROP TRIGGER {trigger}" + (f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table('processo_totais')
    with op.batch_alter_table('processos', schema=None) as batch_op:
        batch_op.drop_index('ix_processos_lista_status')
        batch_op.drop_index('ix_processos_lista')
        batch_op.create_index('ix_processos_competencia_status', ['competencia', 'status'], unique=False)
    with op.batch_alter_table('processos', schema=None) as batch_op:
        batch_op.drop_column('cliente_nome')
