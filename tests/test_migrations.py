"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from apps.core.types import db


def test_migrations_match_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], f"modelos e migrações divergem: {diff}"


def test_schema_has_the_product_tables(app):
    tables = set(inspect(db.engine).get_table_names())
    assert {"users", "operadoras", "clientes", "processos", "execucoes", "execucao_logs", "faturas",
            "audit_log", "alembic_version"} <= tables


def test_one_active_execucao_per_processo_is_a_partial_unique_index(app):
    indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("execucoes")}
    assert indexes["uq_execucoes_processo_ativa"]["unique"]
