"""audit_log: the record's readable name (registro) and its search key (registro_busca), filled for existing rows

Revision ID: d6f4b8c0e2a5
Revises: c5e3a7b9d2f4
Create Date: 2026-12-02 10:00:00

"""
import uuid

import sqlalchemy as sa
from alembic import op

from apps.core.text import search_key

# revision identifiers, used by Alembic.
revision = 'd6f4b8c0e2a5'
down_revision = 'c5e3a7b9d2f4'
branch_labels = None
depends_on = None

LENGTH = 300
BATCH = 500

audit = sa.table('audit_log', sa.column('entity_type', sa.String), sa.column('entity_id', sa.String),
                 sa.column('action', sa.String), sa.column('registro', sa.String),
                 sa.column('registro_busca', sa.String))
processos = sa.table('processos', sa.column('id', sa.Uuid), sa.column('cliente_id', sa.Uuid),
                     sa.column('competencia', sa.String))
clientes = sa.table('clientes', sa.column('id', sa.Uuid), sa.column('nome', sa.String))
operadoras = sa.table('operadoras', sa.column('id', sa.Uuid), sa.column('codigo', sa.String))
users = sa.table('users', sa.column('id', sa.Uuid), sa.column('username', sa.String))
importacoes = sa.table('importacoes', sa.column('id', sa.Uuid), sa.column('arquivo_nome', sa.String))

# Each record's name as apps.core.audit.describe() gave it when this revision was written.
SOURCES = {
    'processos': (processos, sa.select(processos.c.id, clientes.c.nome + ' · ' + processos.c.competencia)
                  .select_from(processos.join(clientes, clientes.c.id == processos.c.cliente_id))),
    'clientes': (clientes, sa.select(clientes.c.id, clientes.c.nome)),
    'operadoras': (operadoras, sa.select(operadoras.c.id, operadoras.c.codigo)),
    'users': (users, sa.select(users.c.id, users.c.username)),
    'importacoes': (importacoes, sa.select(
        importacoes.c.id, sa.literal('Importação ') + sa.func.coalesce(importacoes.c.arquivo_nome, 'sem nome'))),
}


def _fill(bind, entity_type, table, query):
    """Name the entries of one record type whose record still exists, a batch of records at a time."""
    raw_ids = bind.execute(sa.select(audit.c.entity_id).distinct().where(
        audit.c.entity_type == entity_type, audit.c.entity_id.is_not(None))).scalars().all()
    by_uuid = {}
    for raw in raw_ids:
        try:
            by_uuid[uuid.UUID(raw)] = raw
        except ValueError:
            continue
    wanted = list(by_uuid)
    change = (audit.update().where(audit.c.entity_type == entity_type, audit.c.entity_id == sa.bindparam('ref'))
              .values(registro=sa.bindparam('nome'), registro_busca=sa.bindparam('chave')))
    for start in range(0, len(wanted), BATCH):
        rows = bind.execute(query.where(table.c.id.in_(wanted[start:start + BATCH]))).all()
        names = [{'ref': by_uuid[row[0]], 'nome': row[1][:LENGTH], 'chave': search_key(row[1])[:LENGTH]}
                 for row in rows if row[1]]
        if names:
            bind.execute(change, names)


def upgrade():
    # ADD COLUMN (… NOT NULL DEFAULT '') in place on both databases: no table rebuild.
    op.add_column('audit_log', sa.Column('registro', sa.String(length=LENGTH), nullable=True))
    op.add_column('audit_log', sa.Column('registro_busca', sa.String(length=LENGTH), server_default='', nullable=False))
    bind = op.get_bind()
    for entity_type, (table, query) in SOURCES.items():
        _fill(bind, entity_type, table, query)
    # The month's batch actions name their competência ('2026-05'), not one processo.
    op.execute("UPDATE audit_log SET registro = 'Processos de ' || entity_id, "
               "registro_busca = 'processos de ' || entity_id "
               "WHERE entity_type = 'processos' AND action IN ('processos_gerados', 'downloads_enfileirados') "
               "AND entity_id IS NOT NULL")


def downgrade():
    # DROP COLUMN: SQLite 3.35+ drops a plain column in place (no index names these).
    op.drop_column('audit_log', 'registro_busca')
    op.drop_column('audit_log', 'registro')
