"""lotes: mass runs from a CSV (lotes) and one row per line of its file (lote_linhas)

Revision ID: 2b3c4d5e6f72
Revises: 1a2b3c4d5e61
Create Date: 2026-12-02 02:10:00

"""
import sqlalchemy as sa
from alembic import op

import apps.core.types

# revision identifiers, used by Alembic.
revision = '2b3c4d5e6f72'
down_revision = '1a2b3c4d5e61'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lotes',
    sa.Column('chave', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('arquivo', sa.String(length=64), nullable=True),
    sa.Column('arquivo_nome', sa.String(length=255), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('gravadas', sa.Integer(), nullable=False),
    sa.Column('processos_criados', sa.Integer(), nullable=False),
    sa.Column('mensagem', sa.Text(), nullable=True),
    sa.Column('rq_job_id', sa.String(length=100), nullable=True),
    sa.Column('concluido_em', apps.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('criado_por_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('PROCESSANDO', 'IMPORTADO', 'FALHOU')", name=op.f('ck_lotes_status_valid')),
    sa.ForeignKeyConstraint(['criado_por_id'], ['users.id'], name=op.f('fk_lotes_criado_por_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lotes')),
    sa.UniqueConstraint('chave', name=op.f('uq_lotes_chave'))
    )
    with op.batch_alter_table('lotes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lotes_criado_por_id'), ['criado_por_id'], unique=False)

    op.create_table('lote_linhas',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lote_id', sa.Uuid(), nullable=False),
    sa.Column('linha', sa.Integer(), nullable=False),
    sa.Column('cnpj', sa.String(length=14), nullable=False),
    sa.Column('competencia', sa.String(length=7), nullable=False),
    sa.Column('acao', sa.String(length=20), nullable=False),
    sa.Column('cliente_id', sa.Uuid(), nullable=True),
    sa.Column('processo_id', sa.Uuid(), nullable=True),
    sa.Column('execucao_id', sa.Uuid(), nullable=True),
    sa.Column('mensagem', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['cliente_id'], ['clientes.id'], name=op.f('fk_lote_linhas_cliente_id_clientes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['execucao_id'], ['execucoes.id'], name=op.f('fk_lote_linhas_execucao_id_execucoes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lote_id'], ['lotes.id'], name=op.f('fk_lote_linhas_lote_id_lotes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['processo_id'], ['processos.id'], name=op.f('fk_lote_linhas_processo_id_processos'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lote_linhas')),
    sa.UniqueConstraint('lote_id', 'linha', name='uq_lote_linhas_lote_linha')
    )
    with op.batch_alter_table('lote_linhas', schema=None) as batch_op:
        batch_op.create_index('ix_lote_linhas_execucao_id', ['execucao_id'], unique=False)
        batch_op.create_index('ix_lote_linhas_processo_id', ['processo_id'], unique=False)


def downgrade():
    with op.batch_alter_table('lote_linhas', schema=None) as batch_op:
        batch_op.drop_index('ix_lote_linhas_processo_id')
        batch_op.drop_index('ix_lote_linhas_execucao_id')

    op.drop_table('lote_linhas')
    with op.batch_alter_table('lotes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lotes_criado_por_id'))

    op.drop_table('lotes')
