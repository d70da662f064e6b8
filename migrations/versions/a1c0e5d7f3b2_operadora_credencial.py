"""operadora_credencial: an outsourced robot's own credential, encrypted at rest (Fernet token)

Revision ID: a1c0e5d7f3b2
Revises: 7c2e9a41d5b3
Create Date: 2026-12-01 22:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a1c0e5d7f3b2'
down_revision = '7c2e9a41d5b3'
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column: existing operadoras keep using the global token until an admin sets one.
    with op.batch_alter_table('operadoras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credencial_rpa_cifrada', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('operadoras', schema=None) as batch_op:
        batch_op.drop_column('credencial_rpa_cifrada')
