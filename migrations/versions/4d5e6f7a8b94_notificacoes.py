"""notificacoes: contacts, per-event channel choices, grouping counters and messages

Revision ID: 4d5e6f7a8b94
Revises: e7a5c9d1f3b6
Create Date: 2026-12-02 02:03:06.996213

"""
import sqlalchemy as sa
from alembic import op

import apps.core.types


# revision identifiers, used by Alembic.
revision = '4d5e6f7a8b94'
down_revision = 'e7a5c9d1f3b6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mensagens',
    sa.Column('usuario_id', sa.Uuid(), nullable=True),
    sa.Column('canal', sa.String(length=20), nullable=False),
    sa.Column('direcao', sa.String(length=10), nullable=False),
    sa.Column('evento', sa.String(length=40), nullable=True),
    sa.Column('destino', sa.String(length=500), nullable=True),
    sa.Column('conteudo', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('quantidade', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('tentativas', sa.Integer(), nullable=False),
    sa.Column('ultimo_erro', sa.Text(), nullable=True),
    sa.Column('provider_id', sa.String(length=200), nullable=True),
    sa.Column('enviando_desde', apps.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('proxima_tentativa_em', apps.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enviada_em', apps.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['usuario_id'], ['users.id'], name=op.f('fk_mensagens_usuario_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mensagens'))
    )
    with op.batch_alter_table('mensagens', schema=None) as batch_op:
        batch_op.create_index('ix_mensagens_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_mensagens_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_mensagens_usuario_created', ['usuario_id', 'created_at'], unique=False)

    op.create_table('notificacao_contatos',
    sa.Column('usuario_id', sa.Uuid(), nullable=False),
    sa.Column('telegram_chat_id', sa.String(length=64), nullable=True),
    sa.Column('whatsapp', sa.String(length=20), nullable=True),
    sa.Column('webhook_url', sa.String(length=500), nullable=True),
    sa.Column('webhook_secret', sa.String(length=100), nullable=True),
    sa.Column('codigo_hash', sa.String(length=64), nullable=True),
    sa.Column('codigo_expira_em', apps.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('preferencias_definidas', sa.Boolean(), nullable=False),
    sa.Column('created_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['usuario_id'], ['users.id'], name=op.f('fk_notificacao_contatos_usuario_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('usuario_id', name=op.f('pk_notificacao_contatos')),
    sa.UniqueConstraint('codigo_hash', name=op.f('uq_notificacao_contatos_codigo_hash')),
    sa.UniqueConstraint('telegram_chat_id', name=op.f('uq_notificacao_contatos_telegram_chat_id')),
    sa.UniqueConstraint('whatsapp', name=op.f('uq_notificacao_contatos_whatsapp'))
    )
    op.create_table('notificacao_grupos',
    sa.Column('usuario_id', sa.Uuid(), nullable=False),
    sa.Column('evento', sa.String(length=40), nullable=False),
    sa.Column('canal', sa.String(length=20), nullable=False),
    sa.Column('quantidade', sa.Integer(), nullable=False),
    sa.Column('texto', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('aberto_em', apps.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['usuario_id'], ['users.id'], name=op.f('fk_notificacao_grupos_usuario_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notificacao_grupos')),
    sa.UniqueConstraint('usuario_id', 'evento', 'canal', name='uq_notificacao_grupos_destino')
    )
    with op.batch_alter_table('notificacao_grupos', schema=None) as batch_op:
        batch_op.create_index('ix_notificacao_grupos_aberto_em', ['aberto_em'], unique=False)

    op.create_table('notificacao_preferencias',
    sa.Column('usuario_id', sa.Uuid(), nullable=False),
    sa.Column('evento', sa.String(length=40), nullable=False),
    sa.Column('canal', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['usuario_id'], ['users.id'], name=op.f('fk_notificacao_preferencias_usuario_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('usuario_id', 'evento', 'canal', name=op.f('pk_notificacao_preferencias'))
    )


def downgrade():
    op.drop_table('notificacao_preferencias')
    with op.batch_alter_table('notificacao_grupos', schema=None) as batch_op:
        batch_op.drop_index('ix_notificacao_grupos_aberto_em')

    op.drop_table('notificacao_grupos')
    op.drop_table('notificacao_contatos')
    with op.batch_alter_table('mensagens', schema=None) as batch_op:
        batch_op.drop_index('ix_mensagens_usuario_created')
        batch_op.drop_index('ix_mensagens_status_created')
        batch_op.drop_index('ix_mensagens_created')

    op.drop_table('mensagens')
