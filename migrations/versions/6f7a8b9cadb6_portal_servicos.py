"""portal: domínios and serviços; execucoes of kind SERVICO (servico_id, parametros, operadora_id, no processo)

Revision ID: 6f7a8b9cadb6
Revises: 2b3c4d5e6f72
Create Date: 2026-12-02 02:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6f7a8b9cadb6'
down_revision = '2b3c4d5e6f72'
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('PENDENTE', 'EXECUTANDO')")


def upgrade():
    op.create_table(
        'dominios',
        sa.Column('slug', sa.String(length=60), nullable=False),
        sa.Column('nome', sa.String(length=120), nullable=False),
        sa.Column('ordem', sa.Integer(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dominios')),
        sa.UniqueConstraint('slug', name=op.f('uq_dominios_slug')),
    )
    op.create_table(
        'servicos',
        sa.Column('nome', sa.String(length=120), nullable=False),
        sa.Column('descricao', sa.Text(), nullable=True),
        sa.Column('dominio_id', sa.Uuid(), nullable=False),
        sa.Column('papeis', sa.JSON(), nullable=False),
        sa.Column('ativo', sa.Boolean(), nullable=False),
        sa.Column('form_schema_json', sa.JSON(), nullable=False),
        sa.Column('run_template_json', sa.JSON(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['dominio_id'], ['dominios.id'], name=op.f('fk_servicos_dominio_id_dominios'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_servicos')),
    )
    op.create_index(op.f('ix_servicos_dominio_id'), 'servicos', ['dominio_id'], unique=False)
    # SQLite recreates the table (batch mode): the partial unique index is dropped first and made again after.
    op.drop_index('uq_execucoes_processo_ativa', table_name='execucoes', sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    with op.batch_alter_table('execucoes') as batch:
        batch.alter_column('processo_id', existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column('servico_id', sa.Uuid(), nullable=True))
        batch.add_column(sa.Column('parametros', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('resultado', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('operadora_id', sa.Uuid(), nullable=True))
        batch.create_foreign_key(op.f('fk_execucoes_servico_id_servicos'), 'servicos', ['servico_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_foreign_key(op.f('fk_execucoes_operadora_id_operadoras'), 'operadoras', ['operadora_id'],
                                 ['id'], ondelete='SET NULL')
        batch.create_index(op.f('ix_execucoes_servico_id'), ['servico_id'], unique=False)
        batch.create_index(op.f('ix_execucoes_operadora_id'), ['operadora_id'], unique=False)
        batch.drop_constraint(op.f('ck_execucoes_tipo_valid'), type_='check')
        batch.create_check_constraint(op.f('ck_execucoes_tipo_valid'), "tipo IN ('DOWNLOAD', 'ENVIO_SAT', 'SERVICO')")
    op.create_index('uq_execucoes_processo_ativa', 'execucoes', ['processo_id'], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade():
    op.execute("DELETE FROM execucoes WHERE processo_id IS NULL OR tipo = 'SERVICO'")
    op.drop_index('uq_execucoes_processo_ativa', table_name='execucoes', sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    with op.batch_alter_table('execucoes') as batch:
        batch.drop_constraint(op.f('ck_execucoes_tipo_valid'), type_='check')
        batch.create_check_constraint(op.f('ck_execucoes_tipo_valid'), "tipo IN ('DOWNLOAD', 'ENVIO_SAT')")
        batch.drop_index(op.f('ix_execucoes_operadora_id'))
        batch.drop_index(op.f('ix_execucoes_servico_id'))
        batch.drop_constraint(op.f('fk_execucoes_operadora_id_operadoras'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_execucoes_servico_id_servicos'), type_='foreignkey')
        batch.drop_column('operadora_id')
        batch.drop_column('resultado')
        batch.drop_column('parametros')
        batch.drop_column('servico_id')
        batch.alter_column('processo_id', existing_type=sa.Uuid(), nullable=False)
    op.create_index('uq_execucoes_processo_ativa', 'execucoes', ['processo_id'], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.drop_index(op.f('ix_servicos_dominio_id'), table_name='servicos')
    op.drop_table('servicos')
    op.drop_table('dominios')
