"""busca_normalizada: the search keys (case and accents folded) searches compare and lists sort by, filled
for existing rows; the processo list's indexes in Portuguese order; a processo's runs newest first

Revision ID: c5e3a7b9d2f4
Revises: b4d2f6a8c1e3
Create Date: 2026-12-01 23:00:00

"""
from alembic import op
import sqlalchemy as sa

# The application's own key (the one its models keep), so existing rows match what the searches compare.
from apps.core.records import search_key_of


# revision identifiers, used by Alembic.
revision = 'c5e3a7b9d2f4'
down_revision = 'b4d2f6a8c1e3'
branch_labels = None
depends_on = None

BATCH = 1000
# table: (key column, its length, the columns it is made of)
KEYS = {
    'clientes': ('nome_busca', 200, ('nome',)),
    'operadoras': ('nome_busca', 120, ('nome',)),
    'users': ('busca', 460, ('username', 'email', 'nome')),
}


def _fill(table_name: str) -> None:
    """Compute the key of every row in Python, BATCH rows at a time (keyset by id)."""
    key, length, sources = KEYS[table_name]
    table = sa.table(table_name, sa.column('id', sa.Uuid()), sa.column(key, sa.String()),
                     *(sa.column(source, sa.String()) for source in sources))
    bind = op.get_bind()
    update = (table.update().where(table.c.id == sa.bindparam('row_id'))
              .values({key: sa.bindparam('row_key')}))
    last = None
    while True:
        query = sa.select(table.c.id, *(table.c[s] for s in sources)).order_by(table.c.id).limit(BATCH)
        if last is not None:
            query = query.where(table.c.id > last)
        rows = bind.execute(query).all()
        if not rows:
            return
        bind.execute(update, [{'row_id': row[0], 'row_key': search_key_of(*row[1:], length=length)}
                              for row in rows])
        last = rows[-1][0]


def upgrade():
    # ADD COLUMN … NOT NULL DEFAULT '' is allowed by both databases without rebuilding the table (no batch
    # mode: rebuilding processos on SQLite would drop its processo_totais triggers).
    for table_name, (key, length, _) in KEYS.items():
        op.add_column(table_name, sa.Column(key, sa.String(length=length), server_default='', nullable=False))
    op.add_column('processos', sa.Column('cliente_nome_busca', sa.String(length=200), server_default='',
                                         nullable=False))
    for table_name in KEYS:
        _fill(table_name)
    # The processos' copy of the key, as the rename event keeps it (the totals' triggers see no counted change).
    op.execute("UPDATE processos SET cliente_nome_busca = (SELECT clientes.nome_busca FROM clientes "
               "WHERE clientes.id = processos.cliente_id)")

    op.drop_index('ix_clientes_nome', table_name='clientes')
    op.create_index('ix_clientes_nome_busca', 'clientes', ['nome_busca', 'nome', 'id'], unique=False)
    op.create_index('ix_users_busca', 'users', ['busca', 'username', 'id'], unique=False)
    op.drop_index('ix_processos_lista_status', table_name='processos')
    op.drop_index('ix_processos_lista', table_name='processos')
    op.create_index('ix_processos_lista', 'processos',
                    [sa.text('competencia DESC'), 'cliente_nome_busca', 'cliente_nome', 'id'], unique=False)
    op.create_index('ix_processos_lista_status', 'processos',
                    ['status', sa.text('competencia DESC'), 'cliente_nome_busca', 'cliente_nome', 'id'], unique=False)
    op.drop_index('ix_execucoes_processo_id', table_name='execucoes')
    op.create_index('ix_execucoes_processo_created', 'execucoes', ['processo_id', 'created_at'], unique=False)


def downgrade():
    op.drop_index('ix_execucoes_processo_created', table_name='execucoes')
    op.create_index('ix_execucoes_processo_id', 'execucoes', ['processo_id'], unique=False)
    op.drop_index('ix_processos_lista_status', table_name='processos')
    op.drop_index('ix_processos_lista', table_name='processos')
    op.create_index('ix_processos_lista', 'processos', [sa.text('competencia DESC'), 'cliente_nome', 'id'], unique=False)
    op.create_index('ix_processos_lista_status', 'processos',
                    ['status', sa.text('competencia DESC'), 'cliente_nome', 'id'], unique=False)
    op.drop_index('ix_users_busca', table_name='users')
    op.drop_index('ix_clientes_nome_busca', table_name='clientes')
    op.create_index('ix_clientes_nome', 'clientes', ['nome'], unique=False)
    # DROP COLUMN: SQLite 3.35+ drops a plain column in place (no index or trigger names it any more).
    op.drop_column('processos', 'cliente_nome_busca')
    for table_name, (key, _, _) in KEYS.items():
        op.drop_column(table_name, key)
