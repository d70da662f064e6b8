"""identidades_externas (OpenID Connect and GitHub sign-in) and users.break_glass

Revision ID: 7a8b9cadbec7
Revises: 6f7a8b9cadb6
Create Date: 2026-12-02 02:30:00

"""
import sqlalchemy as sa
from alembic import op

from apps.core.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '7a8b9cadbec7'
down_revision = '6f7a8b9cadb6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'identidades_externas',
        sa.Column('provider', sa.String(length=255), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('last_login_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'subject', name='uq_identidades_externas_provider_subject'),
    )
    with op.batch_alter_table('identidades_externas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identidades_externas_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('break_glass', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('break_glass')
    with op.batch_alter_table('identidades_externas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identidades_externas_user_id'))
    op.drop_table('identidades_externas')
