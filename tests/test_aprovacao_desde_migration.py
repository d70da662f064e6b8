"""Migration 9c0d1e2f3a41 on a database with history: the processos waiting for approval get aprovacao_desde
from their newest audited entry into AGUARDANDO_APROVACAO (none without one), on SQLite and PostgreSQL;
and it goes back down."""
import uuid
from datetime import UTC, datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import insert, inspect, text

from apps import create_app
from apps.core.audit import AuditLog
from apps.core.types import db, utcnow
from apps.processos.models import Processo
from tests.factories import ClienteFactory

BEFORE = "5e6f7a8b9ca5"


def _processo(status: str):
    cliente, now, pid = ClienteFactory(), utcnow(), uuid.uuid4()
    db.session.execute(insert(Processo.__table__).values(
        id=pid, cliente_id=cliente.id, competencia="2026-05", status=status, cliente_nome=cliente.nome,
        cliente_nome_busca=cliente.nome_busca, created_at=now, updated_at=now))
    return pid


def _entered(pid, when, action="processo_download_concluido"):
    db.session.add(AuditLog(action=action, entity_type="processos", entity_id=str(pid), created_at=when))


def test_waiting_processos_get_their_newest_entry(app_config, empty_database_url, tmp_path):
    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=empty_database_url, INSTANCE_DIR=tmp_path))
    with old.app_context():
        upgrade(revision=BEFORE)
        twice, never, gone = _processo("AGUARDANDO_APROVACAO"), _processo("AGUARDANDO_APROVACAO"), _processo("UPLOAD_REALIZADO")
        _entered(twice, datetime(2026, 5, 1, tzinfo=UTC), "processo_faturas_enviadas")
        _entered(twice, datetime(2026, 5, 16, 6, tzinfo=UTC))
        db.session.add(AuditLog(action="processo_rejeitar", entity_type="processos", entity_id=str(twice),
                                created_at=datetime(2026, 5, 18, tzinfo=UTC)))  # not an entry
        _entered(gone, datetime(2026, 5, 2, tzinfo=UTC))
        db.session.commit()
        upgrade()
        got = {pid: value for pid, value in db.session.execute(select_desde(), {}).all()}
        by_id = {uuid.UUID(str(pid)): value for pid, value in got.items()}
        assert str(by_id[twice])[:19] == "2026-05-16 06:00:00"
        assert by_id[never] is None and by_id[gone] is None
        assert "ix_processos_aprovacao" in {i["name"] for i in inspect(db.engine).get_indexes("processos")}
        db.session.remove()
        downgrade(revision=BEFORE)
        assert "aprovacao_desde" not in {c["name"] for c in inspect(db.engine).get_columns("processos")}
        db.session.remove()
        db.engine.dispose()


def select_desde():
    return text("SELECT id, aprovacao_desde FROM processos")
