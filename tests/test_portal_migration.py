"""Migration 6f7a8b9cadb6 on a database that has runs: they are kept (SQLite recreates execucoes in batch
mode), the one-active-run index is still there, a SERVICO run without processo is accepted, and the
downgrade removes only what the revision added."""
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from apps import create_app
from apps.core.types import db

NOW = "2026-05-01 10:00:00.000000"


def _hex():
    return uuid.uuid4().hex


def test_upgrade_keeps_runs_and_accepts_servico_runs(app_config, tmp_path):
    url = f"sqlite:///{tmp_path}/antes.db"
    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=tmp_path))
    with old.app_context():
        upgrade(revision="e7a5c9d1f3b6")
        operadora, cliente, processo, execucao = _hex(), _hex(), _hex(), _hex()
        for sql in (
            f"INSERT INTO operadoras (id, codigo, nome, possui_rpa, rpa_terceirizado, ativo, limite_concorrencia, "
            f"created_at, updated_at, nome_busca) VALUES ('{operadora}', 'VIVO', 'Vivo', 1, 0, 1, 5, '{NOW}', '{NOW}', 'vivo')",
            f"INSERT INTO clientes (id, nome, cnpj, operadora_id, ativo, created_at, updated_at, nome_busca) "
            f"VALUES ('{cliente}', 'Alfa', '11222333000181', '{operadora}', 1, '{NOW}', '{NOW}', 'alfa')",
            f"INSERT INTO processos (id, cliente_id, competencia, status, created_at, updated_at, cliente_nome) "
            f"VALUES ('{processo}', '{cliente}', '2026-04', 'AGUARDANDO_DOWNLOAD', '{NOW}', '{NOW}', 'Alfa')",
            f"INSERT INTO execucoes (id, processo_id, tipo, status, ultimo_seq, created_at, updated_at) "
            f"VALUES ('{execucao}', '{processo}', 'DOWNLOAD', 'EXECUTANDO', 0, '{NOW}', '{NOW}')",
        ):
            db.session.execute(text(sql))
        db.session.commit()
        upgrade()
        assert db.session.execute(text("SELECT id, tipo FROM execucoes")).all() == [(execucao, "DOWNLOAD")]
        indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("execucoes")}
        assert indexes["uq_execucoes_processo_ativa"]["unique"]
        with pytest.raises(IntegrityError):  # still one active run per processo
            db.session.execute(text(f"INSERT INTO execucoes (id, processo_id, tipo, status, ultimo_seq, created_at, "
                                    f"updated_at) VALUES ('{_hex()}', '{processo}', 'DOWNLOAD', 'PENDENTE', 0, "
                                    f"'{NOW}', '{NOW}')"))
        db.session.rollback()
        with pytest.raises(IntegrityError):  # the tipo check was made again, not dropped
            db.session.execute(text(f"INSERT INTO execucoes (id, tipo, status, ultimo_seq, created_at, updated_at) "
                                    f"VALUES ('{_hex()}', 'OUTRO', 'PENDENTE', 0, '{NOW}', '{NOW}')"))
        db.session.rollback()
        for _ in range(2):  # runs without processo: the partial unique index does not bind them
            db.session.execute(text(f"INSERT INTO execucoes (id, tipo, status, ultimo_seq, created_at, updated_at, "
                                    f"parametros) VALUES ('{_hex()}', 'SERVICO', 'PENDENTE', 0, '{NOW}', '{NOW}', "
                                    "'{\"tarefa\": \"t\"}')"))
        db.session.commit()
        downgrade(revision="e7a5c9d1f3b6")
        assert db.session.execute(text("SELECT id FROM execucoes")).scalars().all() == [execucao]
        assert "dominios" not in inspect(db.engine).get_table_names()
        upgrade()
        db.session.remove()
        db.engine.dispose()
