"""importacoes: background CSV imports of clientes and their per-line report

Revision ID: 264262af5780
Revises: 494daa048d57
Create Date: 2026-11-21 21:38:00.346211

"""
from alembic import op
import sqlalchemy as sa

import apps.core.types


# revision identifiers, used by Alembic.
revision = '264262af5780'
down_revision = '494daa048d57'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('importacoes',
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('progresso', sa.Integer(), nullable=False),
    sa.Column('arquivo', sa.String(length=64), nullable=True),
    sa.Column('arquivo_nome', sa.String(length=255), nullable=True),
    sa.Column('total_linhas', sa.Integer(), nullable=False),
    sa.Column('validas', sa.Integer(), nullable=False),
    sa.Column('invalidas', sa.Integer(), nullable=False),
    sa.Column('importadas', sa.Integer(), nullable=False),
    sa.Column('mensagem', sa.Text(), nullable=True),
    sa.Column('rq_job_id', sa.String(length=100), nullable=True),
    sa.Column('concluida_em', apps.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('criado_por_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('progresso BETWEEN 0 AND 100', name=op.f('ck_importacoes_progresso_range')),
    sa.CheckConstraint("status IN ('PROCESSANDO', 'CONCLUIDA', 'FALHOU')", name=op.f('ck_importacoes_status_valid')),
    sa.ForeignKeyConstraint(['criado_por_id'], ['users.id'], name=op.f('fk_importacoes_criado_por_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_importacoes'))
    )
    with op.batch_alter_table('importacoes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_importacoes_criado_por_id'), ['criado_por_id'], unique=False)

    op.create_table('importacao_erros',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('importacao_id', sa.Uuid(), nullable=False),
    sa.Column('linha', sa.Integer(), nullable=False),
    sa.Column('motivo', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['importacao_id'], ['importacoes.id'], name=op.f('fk_importacao_erros_importacao_id_importacoes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_importacao_erros'))
    )
    with op.batch_alter_table('importacao_erros', schema=None) as batch_op:
        batch_op.create_index('ix_importacao_erros_importacao_linha', ['importacao_id', 'linha'], unique=False)


def downgrade():
    with op.batch_alter_table('importacao_erros', schema=None) as batch_op:
        batch_op.drop_index('ix_importacao_erros_importacao_linha')

    op.drop_table('importacao_erros')
    with op.batch_alter_table('importacoes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_importacoes_criado_por_id'))

    op.drop_table('importacoes')