"""importacao_erros: the bad row as the file had it (conteudo), so the report shows what to fix

Revision ID: e7a5c9d1f3b6
Revises: d6f4b8c0e2a5
Create Date: 2026-12-02 11:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e7a5c9d1f3b6'
down_revision = 'd6f4b8c0e2a5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('importacao_erros', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conteudo', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('importacao_erros', schema=None) as batch_op:
        batch_op.drop_column('conteudo')
