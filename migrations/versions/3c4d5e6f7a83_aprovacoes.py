"""aprovacoes: approval tasks (responsável, prazo), approver groups, comments, operadora approval settings,
users' ausente_ate

Revision ID: 3c4d5e6f7a83
Revises: 4d5e6f7a8b94
Create Date: 2026-12-02 02:00:00

"""
import sqlalchemy as sa
from alembic import op

from apps.core.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '3c4d5e6f7a83'
down_revision = '4d5e6f7a8b94'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('operadoras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prazo_aprovacao_dias_uteis', sa.Integer(), server_default='2', nullable=False))
        batch_op.add_column(sa.Column('valor_dupla_aprovacao', sa.Numeric(14, 2), nullable=True))
        batch_op.add_column(sa.Column('variacao_alerta_pct', sa.Integer(), server_default='25', nullable=False))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ausente_ate', sa.Date(), nullable=True))

    op.create_table(
        'aprovadores',
        sa.Column('operadora_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['operadora_id'], ['operadoras.id'], name=op.f('fk_aprovadores_operadora_id_operadoras'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_aprovadores_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('operadora_id', 'user_id', name=op.f('pk_aprovadores')),
    )
    op.create_index(op.f('ix_aprovadores_user_id'), 'aprovadores', ['user_id'], unique=False)

    op.create_table(
        'aprovacao_tarefas',
        sa.Column('processo_id', sa.Uuid(), nullable=False),
        sa.Column('operadora_id', sa.Uuid(), nullable=False),
        sa.Column('responsavel_id', sa.Uuid(), nullable=True),
        sa.Column('atribuida_em', UTCDateTime(), nullable=True),
        sa.Column('prazo', sa.Date(), nullable=False),
        sa.Column('aberta', sa.Boolean(), nullable=False),
        sa.Column('enviado_por_id', sa.Uuid(), nullable=True),
        sa.Column('n_faturas', sa.Integer(), nullable=False),
        sa.Column('total', sa.Numeric(14, 2), nullable=False),
        sa.Column('media_anterior', sa.Numeric(14, 2), nullable=True),
        sa.Column('primeira_aprovacao_por_id', sa.Uuid(), nullable=True),
        sa.Column('primeira_aprovacao_em', UTCDateTime(), nullable=True),
        sa.Column('lembrete_em', sa.Date(), nullable=True),
        sa.Column('escalada_em', sa.Date(), nullable=True),
        sa.Column('fechada_em', UTCDateTime(), nullable=True),
        sa.Column('resultado', sa.String(length=20), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['processo_id'], ['processos.id'],
                                name=op.f('fk_aprovacao_tarefas_processo_id_processos'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['operadora_id'], ['operadoras.id'],
                                name=op.f('fk_aprovacao_tarefas_operadora_id_operadoras'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['responsavel_id'], ['users.id'],
                                name=op.f('fk_aprovacao_tarefas_responsavel_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['enviado_por_id'], ['users.id'],
                                name=op.f('fk_aprovacao_tarefas_enviado_por_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['primeira_aprovacao_por_id'], ['users.id'],
                                name=op.f('fk_aprovacao_tarefas_primeira_aprovacao_por_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_aprovacao_tarefas')),
    )
    op.create_index('uq_aprovacao_tarefas_processo_aberta', 'aprovacao_tarefas', ['processo_id'], unique=True,
                    sqlite_where=sa.text('aberta'), postgresql_where=sa.text('aberta'))
    op.create_index('ix_aprovacao_tarefas_processo', 'aprovacao_tarefas', ['processo_id', 'created_at'])
    op.create_index('ix_aprovacao_tarefas_fila', 'aprovacao_tarefas', ['aberta', 'prazo', 'created_at', 'id'])
    op.create_index('ix_aprovacao_tarefas_responsavel', 'aprovacao_tarefas',
                    ['responsavel_id', 'aberta', 'prazo', 'created_at', 'id'])
    op.create_index('ix_aprovacao_tarefas_operadora', 'aprovacao_tarefas',
                    ['operadora_id', 'aberta', 'prazo', 'created_at', 'id'])

    op.create_table(
        'comentarios',
        sa.Column('processo_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=True),
        sa.Column('texto', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['processo_id'], ['processos.id'], name=op.f('fk_comentarios_processo_id_processos'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_comentarios_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_comentarios')),
    )
    op.create_index('ix_comentarios_processo', 'comentarios', ['processo_id', 'created_at'])


def downgrade():
    op.drop_index('ix_comentarios_processo', table_name='comentarios')
    op.drop_table('comentarios')
    for name in ('ix_aprovacao_tarefas_operadora', 'ix_aprovacao_tarefas_responsavel', 'ix_aprovacao_tarefas_fila',
                 'ix_aprovacao_tarefas_processo', 'uq_aprovacao_tarefas_processo_aberta'):
        op.drop_index(name, table_name='aprovacao_tarefas')
    op.drop_table('aprovacao_tarefas')
    op.drop_index(op.f('ix_aprovadores_user_id'), table_name='aprovadores')
    op.drop_table('aprovadores')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('ausente_ate')
    with op.batch_alter_table('operadoras', schema=None) as batch_op:
        batch_op.drop_column('variacao_alerta_pct')
        batch_op.drop_column('valor_dupla_aprovacao')
        batch_op.drop_column('prazo_aprovacao_dias_uteis')
