"""papeis: custom roles (named sets of permissions); users.role may hold their codes

Built-in roles (VISUALIZADOR, APROVADOR, OPERADOR, MANTENEDOR, ADMIN) live in code
(apps/auth/permissions.py), so the CHECK that listed the three old ones goes: the application
checks a role exists when it is given, and an unknown code grants nothing.

Revision ID: 8b9cadbecfd8
Revises: 7a8b9cadbec7
Create Date: 2026-12-02 02:00:00

"""
import sqlalchemy as sa
from alembic import op

import apps.core.types

# revision identifiers, used by Alembic.
revision = '8b9cadbecfd8'
down_revision = '7a8b9cadbec7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'papeis',
        sa.Column('codigo', sa.String(length=20), nullable=False),
        sa.Column('nome', sa.String(length=80), nullable=False),
        sa.Column('descricao', sa.Text(), nullable=True),
        sa.Column('permissoes', sa.JSON(), nullable=False),
        sa.Column('ativo', sa.Boolean(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_papeis')),
        sa.UniqueConstraint('codigo', name=op.f('uq_papeis_codigo')),
        sa.UniqueConstraint('nome', name=op.f('uq_papeis_nome')),
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_users_role_valid'), type_='check')


def downgrade():
    # The old schema knows three roles: anyone holding another one goes back to read-only.
    op.execute("UPDATE users SET role = 'VISUALIZADOR' WHERE role NOT IN ('VISUALIZADOR', 'OPERADOR', 'ADMIN')")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_users_role_valid'),
                                         "role IN ('VISUALIZADOR', 'OPERADOR', 'ADMIN')")
    op.drop_table('papeis')
