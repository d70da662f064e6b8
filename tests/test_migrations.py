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


def test_processos_lista_migration_fills_the_sort_key_and_the_counts_of_existing_rows(app_config, tmp_path):
    """An existing database (at the revision before) keeps its processos: each gets its cliente's nome,
    and processo_totais starts equal to them."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from apps import create_app

    url = f"sqlite:///{tmp_path}/antes.db"
    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=tmp_path))
    with old.app_context():
        upgrade(revision="264262af5780")
        now = "2026-05-01 10:00:00.000000"
        for sql in (
            f"INSERT INTO operadoras (id, codigo, nome, possui_rpa, rpa_terceirizado, ativo, limite_concorrencia, "
            f"created_at, updated_at) VALUES ('{'a' * 32}', 'VIVO', 'Vivo', 1, 0, 1, 5, '{now}', '{now}')",
            f"INSERT INTO clientes (id, nome, cnpj, operadora_id, ativo, created_at, updated_at) "
            f"VALUES ('{'b' * 32}', 'Alfa Ltda', '11222333000181', '{'a' * 32}', 1, '{now}', '{now}')",
            *(f"INSERT INTO processos (id, cliente_id, competencia, status, created_at, updated_at) VALUES "
              f"('{n * 32}', '{'b' * 32}', '2026-0{m}', 'AGUARDANDO_DOWNLOAD', '{now}', '{now}')"
              for n, m in (("c", 4), ("d", 5))),
        ):
            db.session.execute(text(sql))
        db.session.commit()
        upgrade()
        assert db.session.execute(text("SELECT DISTINCT cliente_nome FROM processos")).scalars().all() == ["Alfa Ltda"]
        assert db.session.execute(text("SELECT competencia, total FROM processo_totais ORDER BY 1")).all() == [
            ("2026-04", 1), ("2026-05", 1)]
        db.session.remove()
        db.engine.dispose()
