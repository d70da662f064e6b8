"""notificacao_contatos: the webhook signing secret encrypted at rest (webhook_secret_cifrado)

Revision ID: 9c0d1e2f3a63
Revises: 9c0d1e2f3a41
Create Date: 2026-12-02 06:00:00

Existing secrets are encrypted with the running app's key (CREDENTIALS_KEY, else derived from
SECRET_KEY: apps/core/crypto.py); downgrade decrypts them back (one that no longer decrypts is dropped,
and its user asks for a new one).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '9c0d1e2f3a63'
down_revision = '9c0d1e2f3a41'
branch_labels = None
depends_on = None

INFO = b"notificacoes.webhook_secret.v1"  # apps.notificacoes.models.WEBHOOK_SECRET_INFO, as it was written


def _convert(source: str, target: str, change) -> None:
    contatos = sa.table('notificacao_contatos', sa.column('usuario_id', sa.Uuid()), sa.column(source, sa.String()),
                        sa.column(target, sa.String()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(contatos.c.usuario_id, contatos.c[source]).where(contatos.c[source].is_not(None))).all()
    for usuario_id, value in rows:
        bind.execute(contatos.update().where(contatos.c.usuario_id == usuario_id).values({target: change(value)}))


def upgrade():
    from apps.core import crypto

    with op.batch_alter_table('notificacao_contatos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_secret_cifrado', sa.String(length=500), nullable=True))
    _convert('webhook_secret', 'webhook_secret_cifrado', lambda plain: crypto.seal(plain, INFO))
    with op.batch_alter_table('notificacao_contatos', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret')


def downgrade():
    from apps.core import crypto

    def plain(token):
        try:
            return crypto.unseal(token, INFO)
        except crypto.InvalidToken:
            return None

    with op.batch_alter_table('notificacao_contatos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=100), nullable=True))
    _convert('webhook_secret_cifrado', 'webhook_secret', plain)
    with op.batch_alter_table('notificacao_contatos', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret_cifrado')
