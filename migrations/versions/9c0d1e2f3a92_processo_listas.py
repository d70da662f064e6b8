"""processo_listas: a version per competência, raised by triggers whenever a row enters, leaves or moves in the
processo list's order (insert, delete, a change of competência or cliente nome), so positions read from the
list once (apps.processos.ancoras) are known to hold while the version holds; a status move leaves it alone

Revision ID: 9c0d1e2f3a92
Revises: 9c0d1e2f3a81
Create Date: 2026-12-02 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c0d1e2f3a92'
down_revision = '9c0d1e2f3a81'
branch_labels = None
depends_on = None

KEY_CHANGED = ("OLD.competencia IS DISTINCT FROM NEW.competencia OR OLD.cliente_nome_busca IS DISTINCT FROM "
               "NEW.cliente_nome_busca OR OLD.cliente_nome IS DISTINCT FROM NEW.cliente_nome")
BUMP = ("INSERT INTO processo_listas (competencia, versao) {rows} "
        "ON CONFLICT (competencia) DO UPDATE SET versao = processo_listas.versao + 1;")
# A delete raises only a version that exists (a month without one has no anchors to make stale).
RAISE = "UPDATE processo_listas SET versao = versao + 1 WHERE competencia IN ({months});"

# SQLite: row triggers (one writer at a time).
SQLITE_TRIGGERS = {
    "trg_processos_listas_insert": f"AFTER INSERT ON processos BEGIN {BUMP.format(rows='VALUES (NEW.competencia, 1)')} END",
    "trg_processos_listas_delete": f"AFTER DELETE ON processos BEGIN {RAISE.format(months='OLD.competencia')} END",
    "trg_processos_listas_update": (
        f"AFTER UPDATE OF competencia, cliente_nome_busca, cliente_nome ON processos "
        f"WHEN {KEY_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN "
        f"{BUMP.format(rows='SELECT OLD.competencia, 1 WHERE true')} "
        f"{BUMP.format(rows='SELECT NEW.competencia, 1 WHERE NEW.competencia IS NOT OLD.competencia')} END"),
}
# PostgreSQL: the month's INSERT … SELECT raises its version once (a statement trigger over the new rows); an
# update is a row trigger whose WHEN spares every status move the call. Keys taken in order (ORDER BY).
PG_FUNCTIONS = {
    "processo_listas_insert": BUMP.format(rows="SELECT DISTINCT competencia, 1 FROM novos ORDER BY 1"),
    "processo_listas_delete": RAISE.format(months="SELECT competencia FROM antigos"),
    "processo_listas_update": BUMP.format(
        rows="SELECT DISTINCT c, 1 FROM (VALUES (OLD.competencia), (NEW.competencia)) AS v (c) ORDER BY 1"),
}
PG_TRIGGERS = {
    "trg_processos_listas_insert": "AFTER INSERT ON processos REFERENCING NEW TABLE AS novos FOR EACH STATEMENT "
                                   "EXECUTE FUNCTION processo_listas_insert()",
    "trg_processos_listas_delete": "AFTER DELETE ON processos REFERENCING OLD TABLE AS antigos FOR EACH STATEMENT "
                                   "EXECUTE FUNCTION processo_listas_delete()",
    "trg_processos_listas_update": f"AFTER UPDATE OF competencia, cliente_nome_busca, cliente_nome ON processos "
                                   f"FOR EACH ROW WHEN ({KEY_CHANGED}) EXECUTE FUNCTION processo_listas_update()",
}


def upgrade():
    op.create_table('processo_listas',
    sa.Column('competencia', sa.String(length=7), nullable=False),
    sa.Column('versao', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('competencia', name=op.f('pk_processo_listas'))
    )
    op.execute("INSERT INTO processo_listas (competencia, versao) SELECT DISTINCT competencia, 1 FROM processos")
    if op.get_bind().dialect.name == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
        for name, body in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}" + (" ON processos" if postgresql else ""))
    if postgresql:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table('processo_listas')
