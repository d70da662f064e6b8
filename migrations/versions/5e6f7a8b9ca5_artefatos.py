"""artefatos: every file a run produces (invoices, logs, SAT receipts, service files), with retention

Revision ID: 5e6f7a8b9ca5
Revises: 8b9cadbecfd8
Create Date: 2026-12-02 12:00:00

Existing faturas get their FATURA artefato (same storage key as the fatura's file, kept 5 years from
the fatura's creation).
"""
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import apps.core.types

# revision identifiers, used by Alembic.
revision = '5e6f7a8b9ca5'
down_revision = '8b9cadbecfd8'
branch_labels = None
depends_on = None

FATURA_DAYS = 5 * 365 + 1
BATCH = 1000


def upgrade():
    artefatos = op.create_table(
        'artefatos',
        sa.Column('execucao_id', sa.Uuid(), nullable=True),
        sa.Column('processo_id', sa.Uuid(), nullable=True),
        sa.Column('fatura_id', sa.Uuid(), nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=120), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=255), nullable=False),
        sa.Column('created_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expira_em', apps.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('removido_em', apps.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('FATURA', 'LOG', 'PROTOCOLO', 'ARQUIVO')", name=op.f('ck_artefatos_kind_valid')),
        sa.ForeignKeyConstraint(['execucao_id'], ['execucoes.id'], name=op.f('fk_artefatos_execucao_id_execucoes'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['fatura_id'], ['faturas.id'], name=op.f('fk_artefatos_fatura_id_faturas'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['processo_id'], ['processos.id'], name=op.f('fk_artefatos_processo_id_processos'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_artefatos')),
        sa.UniqueConstraint('storage_key', name=op.f('uq_artefatos_storage_key')),
    )
    with op.batch_alter_table('artefatos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_artefatos_execucao_id'), ['execucao_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_artefatos_fatura_id'), ['fatura_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_artefatos_processo_id'), ['processo_id'], unique=False)
        batch_op.create_index('ix_artefatos_expira', ['expira_em'], unique=False,
                              postgresql_where=sa.text('removido_em IS NULL'),
                              sqlite_where=sa.text('removido_em IS NULL'))
    _backfill_faturas(artefatos)


def _backfill_faturas(artefatos):
    """One FATURA artefato per existing fatura, in batches (a big history never sits in memory)."""
    bind = op.get_bind()
    faturas = sa.table('faturas', sa.column('id', sa.Uuid()), sa.column('processo_id', sa.Uuid()),
                       sa.column('execucao_id', sa.Uuid()), sa.column('numero', sa.String()),
                       sa.column('arquivo', sa.String()), sa.column('nome_original', sa.String()),
                       sa.column('sha256', sa.String()), sa.column('tamanho', sa.Integer()),
                       sa.column('created_at', apps.core.types.UTCDateTime(timezone=True)))
    last = None
    while True:
        query = sa.select(faturas).order_by(faturas.c.id).limit(BATCH)
        if last is not None:
            query = query.where(faturas.c.id > last)
        rows = bind.execute(query).all()
        if not rows:
            return
        last = rows[-1].id
        bind.execute(artefatos.insert(), [{
            'id': uuid.uuid4(), 'execucao_id': row.execucao_id, 'processo_id': row.processo_id, 'fatura_id': row.id,
            'kind': 'FATURA', 'name': (row.nome_original or f"{row.numero}.pdf")[:255],
            'content_type': 'application/pdf', 'size': row.tamanho, 'sha256': row.sha256,
            'storage_key': row.arquivo, 'created_at': row.created_at or datetime.now(UTC),
            'expira_em': (row.created_at or datetime.now(UTC)) + timedelta(days=FATURA_DAYS), 'removido_em': None,
        } for row in rows])


def downgrade():
    with op.batch_alter_table('artefatos', schema=None) as batch_op:
        batch_op.drop_index('ix_artefatos_expira', postgresql_where=sa.text('removido_em IS NULL'),
                            sqlite_where=sa.text('removido_em IS NULL'))
        batch_op.drop_index(batch_op.f('ix_artefatos_processo_id'))
        batch_op.drop_index(batch_op.f('ix_artefatos_fatura_id'))
        batch_op.drop_index(batch_op.f('ix_artefatos_execucao_id'))
    op.drop_table('artefatos')
