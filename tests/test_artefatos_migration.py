"""The artefatos migration on a database with history: every existing fatura gets its FATURA artefato
(same file, kept five years from the fatura's creation), on SQLite and PostgreSQL; and it goes back down."""
import hashlib
import re
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from flask_migrate import downgrade, upgrade
from sqlalchemy import insert, inspect, text

from apps import create_app
from apps.core.types import db, utcnow
from apps.processos import storage
from apps.processos.models import Fatura, Processo
from tests.factories import PDF, ClienteFactory

# The revision the artefatos migration comes after (read from it: the chain grows).
BEFORE = re.search(r"^down_revision = ['\"](\w+)", (Path(__file__).resolve().parents[1] / "migrations" / "versions"
                                                   / "5e6f7a8b9ca5_artefatos.py").read_text(), re.M).group(1)


def test_existing_faturas_get_their_artefatos(app_config, empty_database_url, tmp_path):
    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=empty_database_url, INSTANCE_DIR=tmp_path))
    with old.app_context():
        upgrade(revision=BEFORE)
        processo = _old_processo()
        faturas = [_old_fatura(processo, numero=f"NF-{n}", nome_original=None if n else "original.pdf")
                   for n in range(3)]
        db.session.commit()
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


def _old_processo():
    """A processo written with the columns its table had then (the ORM would name every current one)."""
    cliente, now, pid = ClienteFactory(), utcnow(), uuid.uuid4()
    db.session.execute(insert(Processo.__table__).values(
        id=pid, cliente_id=cliente.id, competencia="2026-05", status="AGUARDANDO_DOWNLOAD", cliente_nome=cliente.nome,
        cliente_nome_busca=cliente.nome_busca, created_at=now, updated_at=now))
    return SimpleNamespace(id=pid)


def _old_fatura(processo, **values):
    """A fatura as FaturaFactory makes one (its PDF stored), beside a processo of that revision."""
    row = dict(id=uuid.uuid4(), processo_id=processo.id, valor=Decimal("123.45"), vencimento=date(2026, 6, 10),
               emissao=date(2026, 5, 20), arquivo=storage.save(processo.id, PDF), sha256=hashlib.sha256(PDF).hexdigest(),
               tamanho=len(PDF), rejeitada=False, created_at=utcnow(), updated_at=utcnow(), **values)
    db.session.execute(insert(Fatura.__table__).values(**row))
    return SimpleNamespace(**row)


def _as_datetime(value):
    """A timestamp as the raw SELECT gives it: a datetime (PostgreSQL) or its text (SQLite)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
