"""execucoes: what each run's log has cost (lines, bytes) and how many lines past the limits were dropped

Revision ID: b4d2f6a8c1e3
Revises: a1c0e5d7f3b2
Create Date: 2026-12-01 22:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4d2f6a8c1e3'
down_revision = 'a1c0e5d7f3b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('execucoes') as batch:
        batch.add_column(sa.Column('log_linhas', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('log_bytes', sa.BigInteger(), server_default='0', nullable=False))
        batch.add_column(sa.Column('log_descartadas', sa.Integer(), server_default='0', nullable=False))
    # Runs recorded before this revision: their stored lines, counted once.
    op.execute("UPDATE execucoes SET log_linhas = (SELECT COUNT(*) FROM execucao_logs "
               "WHERE execucao_logs.execucao_id = execucoes.id)")


def downgrade():
    with op.batch_alter_table('execucoes') as batch:
        batch.drop_column('log_descartadas')
        batch.drop_column('log_bytes')
        batch.drop_column('log_linhas')
