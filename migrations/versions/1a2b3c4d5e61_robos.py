"""robos: the robot registry, the versions each reported, pinned versions; execucoes.robo_id

Revision ID: 1a2b3c4d5e61
Revises: 3c4d5e6f7a83
Create Date: 2026-12-02 02:00:00

"""
import sqlalchemy as sa
from alembic import op

from apps.core.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e61'
down_revision = '3c4d5e6f7a83'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'robos',
        sa.Column('nome', sa.String(length=120), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('tags', sa.String(length=500), nullable=False),
        sa.Column('capacidade', sa.Integer(), nullable=False),
        sa.Column('ativo', sa.Boolean(), nullable=False),
        sa.Column('drenando', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('versao', sa.String(length=80), nullable=True),
        sa.Column('ultimo_contato', UTCDateTime(timezone=True), nullable=True),
        sa.Column('latencia_ms', sa.Integer(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_robos')),
        sa.UniqueConstraint('nome', name=op.f('uq_robos_nome')),
        sa.UniqueConstraint('url', name=op.f('uq_robos_url')),
    )
    op.create_table(
        'robo_versoes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('robo_id', sa.Uuid(), nullable=False),
        sa.Column('versao', sa.String(length=80), nullable=False),
        sa.Column('primeiro_visto', UTCDateTime(timezone=True), nullable=False),
        sa.Column('ultimo_visto', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['robo_id'], ['robos.id'], name=op.f('fk_robo_versoes_robo_id_robos'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_robo_versoes')),
        sa.UniqueConstraint('robo_id', 'versao', name='uq_robo_versoes_robo_versao'),
    )
    op.create_table(
        'robo_versoes_ativas',
        sa.Column('tag', sa.String(length=30), nullable=False),
        sa.Column('versao', sa.String(length=80), nullable=False),
        sa.Column('definida_por_id', sa.Uuid(), nullable=True),
        sa.Column('definida_em', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['definida_por_id'], ['users.id'],
                                name=op.f('fk_robo_versoes_ativas_definida_por_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('tag', name=op.f('pk_robo_versoes_ativas')),
    )
    with op.batch_alter_table('execucoes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('robo_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_execucoes_robo_id'), ['robo_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_execucoes_robo_id_robos'), 'robos', ['robo_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('execucoes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_execucoes_robo_id_robos'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_execucoes_robo_id'))
        batch_op.drop_column('robo_id')
    op.drop_table('robo_versoes_ativas')
    op.drop_table('robo_versoes')
    op.drop_table('robos')
