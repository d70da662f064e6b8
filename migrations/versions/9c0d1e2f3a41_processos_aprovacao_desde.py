"""processos.aprovacao_desde: when the processo last entered AGUARDANDO_APROVACAO, indexed with its status,
so the dashboard's oldest waiting processo is one index lookup; filled for the processos waiting now from
their audit trail (the newest entry of the moves that lead there)

Revision ID: 9c0d1e2f3a41
Revises: 5e6f7a8b9ca5
Create Date: 2026-12-02 06:00:00
"""
import sqlalchemy as sa
from alembic import op

import apps.core.types

# revision identifiers, used by Alembic.
revision = '9c0d1e2f3a41'
down_revision = '5e6f7a8b9ca5'
branch_labels = None
depends_on = None

ENTERS_APPROVAL = "('processo_download_concluido', 'processo_faturas_enviadas')"


def upgrade():
    # A plain ADD COLUMN (no table copy on SQLite: the processo_totais triggers stay).
    op.add_column('processos', sa.Column('aprovacao_desde', apps.core.types.UTCDateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        entity_id = "processos.id::text"
    else:  # SQLite keeps the Uuid as 32 hex digits; audit.record writes str(uuid), with hyphens
        entity_id = ("substr(processos.id, 1, 8) || '-' || substr(processos.id, 9, 4) || '-' || "
                     "substr(processos.id, 13, 4) || '-' || substr(processos.id, 17, 4) || '-' || "
                     "substr(processos.id, 21, 12)")
    op.execute(f"""UPDATE processos SET aprovacao_desde = (
                       SELECT max(audit_log.created_at) FROM audit_log
                       WHERE audit_log.entity_type = 'processos' AND audit_log.entity_id = {entity_id}
                         AND audit_log.action IN {ENTERS_APPROVAL})
                   WHERE status = 'AGUARDANDO_APROVACAO'""")
    op.create_index('ix_processos_aprovacao', 'processos', ['status', 'aprovacao_desde', 'updated_at'], unique=False)


def downgrade():
    op.drop_index('ix_processos_aprovacao', table_name='processos')
    op.execute("ALTER TABLE processos DROP COLUMN aprovacao_desde")  # SQLite ≥ 3.35 and PostgreSQL
