"""The artefatos migration on a database with history: every existing fatura gets its FATURA artefato
(same file, kept five years from the fatura's creation), on SQLite and PostgreSQL; and it goes back down."""
import re
from datetime import datetime, timedelta
from pathlib import Path

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from apps import create_app
from apps.core.types import db
from tests.factories import FaturaFactory, ProcessoFactory

# The revision the artefatos migration comes after (read from it: the chain grows).
BEFORE = re.search(r"^down_revision = ['\"](\w+)", (Path(__file__).resolve().parents[1] / "migrations" / "versions"
                                                   / "5e6f7a8b9ca5_artefatos.py").read_text(), re.M).group(1)


def test_existing_faturas_get_their_artefatos(app_config, empty_database_url, tmp_path):
    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=empty_database_url, INSTANCE_DIR=tmp_path))
    with old.app_context():
        upgrade(revision=BEFORE)
        processo = ProcessoFactory()
        faturas = [FaturaFactory(processo=processo, numero=f"NF-{n}", nome_original=None if n else "original.pdf")
                   for n in range(3)]
        upgrade()
        rows = db.session.execute(text(
            "SELECT fatura_id, kind, name, storage_key, sha256, size, processo_id, created_at, expira_em, removido_em "
            "FROM artefatos")).all()
        by_fatura = {str(row.fatura_id).replace("-", ""): row for row in rows}
        assert len(rows) == 3
        for fatura in faturas:
            row = by_fatura[fatura.id.hex]
            assert (row.kind, row.storage_key, row.sha256, row.size, row.removido_em) == (
                "FATURA", fatura.arquivo, fatura.sha256, fatura.tamanho, None)
            assert str(row.processo_id).replace("-", "") == processo.id.hex
        assert by_fatura[faturas[0].id.hex].name == "original.pdf" and by_fatura[faturas[1].id.hex].name == "NF-1.pdf"
        row = by_fatura[faturas[2].id.hex]
        assert _as_datetime(row.expira_em) - _as_datetime(row.created_at) == timedelta(days=5 * 365 + 1)

        db.session.remove()  # end the read transaction: PostgreSQL's DROP TABLE would wait for it
        downgrade(revision=BEFORE)
        assert "artefatos" not in inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()


def _as_datetime(value):
    """A timestamp as the raw SELECT gives it: a datetime (PostgreSQL) or its text (SQLite)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
