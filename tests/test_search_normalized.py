"""Searches find what people type, whatever its case and accents, on SQLite and PostgreSQL alike; lists sort in
Portuguese order; every write path (ORM, the CSV import's Core inserts, the month's INSERT … SELECT, a cliente's
rename, the migration for existing rows) keeps the `*_busca` keys in step."""
import io
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import insert, select, text

from apps import create_app
from apps.auth.models import Role, User
from apps.auth.services import create_user
from apps.clientes import services as clientes_services
from apps.clientes.cnpj import format_cnpj
from apps.clientes.models import Cliente
from apps.core.records import KEY_SEPARATOR, contains
from apps.core.text import search_key
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos import queries
from apps.processos.models import Processo
from apps.processos.services import gerar_processos
from tests.conftest import PASSWORD, USING_POSTGRES
from tests.factories import ClienteFactory, OperadoraFactory, ProcessoFactory, valid_cnpj

SAO_JOAO = "Mercearia São João"
ACOUGUE = "Açougue Central"
# What people type, and whom it must find.
SPELLINGS = [("Sao Joao", SAO_JOAO), ("sao joao", SAO_JOAO), ("SÃO JOÃO", SAO_JOAO), ("São João", SAO_JOAO),
             ("  sao   JOAO  ", SAO_JOAO), ("acougue", ACOUGUE), ("AÇOUGUE", ACOUGUE), ("Açougue", ACOUGUE)]
# Portuguese order: case and accents aside ("Açougue" before "Agropecuária"; "Ética" among the e's).
ORDERED = ["abacaxi Ltda", ACOUGUE, "Agropecuária Beta", "Escola Zeta", "Ética Serviços", "zebra"]


@pytest.fixture
def clientes():
    vivo = OperadoraFactory(codigo="VIVO")
    made = {nome: ClienteFactory(nome=nome, operadora=vivo) for nome in [SAO_JOAO, "Padaria Aurora", *ORDERED]}
    return made


def api_items(client, headers, url, q=None):
    response = client.get(url, headers=headers, query_string={"q": q} if q is not None else None)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def in_page_order(html: str, names) -> list:
    """The given names that the page shows, in the order it shows them."""
    return sorted((n for n in names if n in html), key=html.index)


def test_the_key_folds_case_accents_and_spaces():
    assert search_key("SÃO  JOÃO") == search_key("sao joao") == "sao joao"
    assert search_key("Açougue") == "acougue" and search_key(None) == ""


# --- clientes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, nome", SPELLINGS)
def test_clientes_search_ignores_case_and_accents(clientes, admin_client, client, api_headers, typed, nome):
    html = admin_client.get("/clientes", query_string={"q": typed}).get_data(as_text=True)
    assert nome in html and "Padaria Aurora" not in html
    items = api_items(client, api_headers(Role.VISUALIZADOR), "/api/v1/clientes", typed)
    assert [c["nome"] for c in items] == [nome]


def test_clientes_sort_in_portuguese_order(clientes, admin_client, client, api_headers):
    items = api_items(client, api_headers(Role.VISUALIZADOR), "/api/v1/clientes?per_page=50")
    names = [c["nome"] for c in items if c["nome"] in ORDERED]
    assert names == ORDERED
    html = admin_client.get("/clientes").get_data(as_text=True)
    assert in_page_order(html, ORDERED) == ORDERED


def test_clientes_cnpj_with_or_without_punctuation(clientes, client, api_headers):
    cnpj = clientes[SAO_JOAO].cnpj
    for typed in (cnpj, format_cnpj(cnpj), format_cnpj(cnpj)[:10], cnpj[:8]):
        items = api_items(client, api_headers(Role.VISUALIZADOR), "/api/v1/clientes", typed)
        assert [c["nome"] for c in items] == [SAO_JOAO], typed


def test_percent_and_underscore_stay_literal_in_key_searches(clientes):
    assert list(db.session.scalars(clientes_services.list_query("%"))) == []
    assert list(db.session.scalars(clientes_services.list_query("_"))) == []


def test_a_search_that_folds_to_nothing_finds_nothing_rather_than_everything(clientes):
    assert db.session.scalars(select(Cliente).where(contains("\u0301", keys=(Cliente.nome_busca,)))).all() == []


# --- processos --------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, nome", SPELLINGS)
def test_processos_search_ignores_case_and_accents(clientes, admin_client, typed, nome):
    gerar_processos("2026-05")
    html = admin_client.get("/processos", query_string={"competencia": "2026-05", "q": typed}).get_data(as_text=True)
    assert nome in html and "Padaria Aurora" not in html
    assert queries.processos_total(competencia="2026-05", q=typed) == 1


def test_processos_sort_in_portuguese_order_and_find_cnpjs(clientes, admin_client):
    gerar_processos("2026-05")
    html = admin_client.get("/processos?competencia=2026-05").get_data(as_text=True)
    assert in_page_order(html, ORDERED) == ORDERED
    cnpj = clientes[SAO_JOAO].cnpj
    for typed in (cnpj, format_cnpj(cnpj), format_cnpj(cnpj)[:10], cnpj[:8]):
        found = db.session.scalars(queries.processos_query(competencia="2026-05", q=typed)).all()
        assert [p.cliente.nome for p in found] == [SAO_JOAO], typed


# --- operadoras and users ---------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["telefonica", "TELEFÔNICA", "Telefônica", "TELEF"])
def test_operadoras_search_ignores_case_and_accents(app, admin_client, client, api_headers, typed):
    OperadoraFactory(codigo="TELEF", nome="Telefônica Brasil")
    OperadoraFactory(codigo="XPTO", nome="Xpto Telecom")
    html = admin_client.get("/operadoras", query_string={"q": typed}).get_data(as_text=True)
    assert "Telefônica Brasil" in html and "Xpto Telecom" not in html
    items = api_items(client, api_headers(Role.ADMIN), "/api/v1/operadoras", typed)
    assert [o["codigo"] for o in items] == ["TELEF"]


@pytest.mark.parametrize("typed", ["joao", "JOÃO", "Conceicao", "CONCEIÇÃO", "joao.c@EXEMPLO"])
def test_users_search_ignores_case_and_accents(admin_client, client, api_headers, typed):
    create_user("joao.c", "joao.c@exemplo.com", PASSWORD, role=Role.OPERADOR, nome="João Conceição")
    create_user("maria", "maria@exemplo.com", PASSWORD, role=Role.OPERADOR, nome="Maria Souza")
    db.session.commit()
    html = admin_client.get("/usuarios", query_string={"q": typed}).get_data(as_text=True)
    assert "joao.c" in html and "maria@exemplo.com" not in html
    items = api_items(client, api_headers(Role.ADMIN), "/api/v1/usuarios", typed)
    assert [u["username"] for u in items] == ["joao.c"]


def test_users_key_never_matches_across_two_fields(app):
    user = create_user("ana", "silva@exemplo.com", PASSWORD, role=Role.OPERADOR, nome="Ana")
    db.session.commit()
    assert user.busca == KEY_SEPARATOR.join(["ana", "silva@exemplo.com", "ana"])
    assert db.session.scalars(select(User).where(contains("ana silva", keys=(User.busca,)))).all() == []


def test_users_sort_in_portuguese_order(admin_client, client, api_headers):
    for username in ("Zeca", "álvaro", "amanda", "Bruno"):
        create_user(username, f"{search_key(username)}@exemplo.com", PASSWORD, role=Role.OPERADOR)
    db.session.commit()
    items = api_items(client, api_headers(Role.ADMIN), "/api/v1/usuarios?per_page=50")
    names = [u["username"] for u in items if u["username"] in ("Zeca", "álvaro", "amanda", "Bruno")]
    assert names == ["álvaro", "amanda", "Bruno", "Zeca"]


# --- every write path keeps the keys ----------------------------------------------------------

def test_orm_and_core_inserts_fill_the_key(app):
    vivo = OperadoraFactory(codigo="VIVO")
    ClienteFactory(nome="Ótica Lúcia", operadora=vivo)
    db.session.execute(insert(Cliente), [{"id": uuid.uuid4(), "nome": "ÁGUA Doce", "cnpj": valid_cnpj(1),
                                          "operadora_id": vivo.id, "ativo": True}])
    db.session.execute(Cliente.__table__.insert(), [{"id": uuid.uuid4(), "nome": "Pão Quente", "cnpj": valid_cnpj(2),
                                                    "operadora_id": vivo.id, "ativo": True}])
    db.session.commit()
    keys = dict(db.session.execute(select(Cliente.nome, Cliente.nome_busca)).all())
    assert keys == {"Ótica Lúcia": "otica lucia", "ÁGUA Doce": "agua doce", "Pão Quente": "pao quente"}
    assert db.session.scalar(select(Operadora.nome_busca).where(Operadora.codigo == "VIVO")) == "vivo"


def test_csv_import_fills_the_key(app, operador_client):
    OperadoraFactory(codigo="VIVO")
    data = ("nome;cnpj;operadora\r\n"
            f"{SAO_JOAO};{valid_cnpj(11)};VIVO\r\nÉrica Modas;{format_cnpj(valid_cnpj(12))};VIVO\r\n").encode()
    response = operador_client.post("/clientes/importar", data={"arquivo": (io.BytesIO(data), "c.csv")},
                                    content_type="multipart/form-data")
    assert response.status_code == 302
    assert operador_client.post(response.headers["Location"] + "/confirmar").status_code == 302
    db.session.expire_all()
    keys = dict(db.session.execute(select(Cliente.nome, Cliente.nome_busca)).all())
    assert keys == {SAO_JOAO: "mercearia sao joao", "Érica Modas": "erica modas"}
    assert [c.nome for c in db.session.scalars(clientes_services.list_query("ERICA"))] == ["Érica Modas"]


def test_gerar_mensal_copies_the_key(app, runner):
    vivo = OperadoraFactory(codigo="VIVO")
    ClienteFactory(nome=SAO_JOAO, operadora=vivo)
    gerar_processos("2026-05")
    result = runner.invoke(args=["processos", "gerar-mensal", "--competencia", "2026-06"])
    assert result.exit_code == 0, result.output
    rows = db.session.execute(select(Processo.competencia, Processo.cliente_nome, Processo.cliente_nome_busca)
                              .order_by(Processo.competencia)).all()
    assert rows == [("2026-05", SAO_JOAO, "mercearia sao joao"), ("2026-06", SAO_JOAO, "mercearia sao joao")]


def test_orm_processo_and_the_cliente_rename_keep_the_copy(app, client, api_headers):
    processo = ProcessoFactory(cliente__nome="Antigo Nome")
    assert processo.cliente_nome_busca == "antigo nome"
    cliente = processo.cliente
    response = client.patch(f"/api/v1/clientes/{cliente.id}", json={"nome": "Conceição Ótica"},
                            headers=api_headers(Role.OPERADOR))
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    assert db.session.scalar(select(Cliente.nome_busca).where(Cliente.id == cliente.id)) == "conceicao otica"
    assert db.session.execute(select(Processo.cliente_nome, Processo.cliente_nome_busca)).one() == (
        "Conceição Ótica", "conceicao otica")
    assert queries.processos_total(competencia=processo.competencia, q="CONCEICAO") == 1


def test_update_of_other_fields_keeps_the_key(app):
    cliente = ClienteFactory(nome="Ética Serviços")
    clientes_services.update_cliente(cliente, {"codigo": "E-1"}, by=None)
    db.session.commit()
    assert cliente.nome_busca == "etica servicos"


# --- the list is read from its indexes --------------------------------------------------------

def _plan(query) -> str:
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        if USING_POSTGRES:
            # A tiny table's statistics (fresh or stale, by what ran before) let the planner sort a handful of
            # rows instead: forbid scans and sorts that have an alternative, so the plan shows whether the
            # indexes CAN give the page in order, which is what holds at 100,000 rows (bench/bench_list.py).
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("SET enable_sort = off"))
            return "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())
        return "\n".join(row[-1] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))


@pytest.mark.parametrize("filters, index", [
    ({"competencia": "2026-05"}, "ix_processos_lista"),
    ({"competencia": "2026-05", "q": "sao joao"}, "ix_processos_lista"),
    ({"competencia": "2026-05", "status": "AGUARDANDO_APROVACAO"}, "ix_processos_lista_status"),
])
def test_processo_list_order_comes_from_its_index(clientes, filters, index):
    gerar_processos("2026-05")
    plan = _plan(queries.processos_query(**filters).limit(50))
    # SQLite always takes the index named; PostgreSQL may serve a status filter from either list index.
    assert (index in plan) if not USING_POSTGRES else ("ix_processos_lista" in plan), plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_clientes_list_order_comes_from_its_index(clientes):
    plan = _plan(clientes_services.list_query().limit(50))
    assert "ix_clientes_nome_busca" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


# --- the migration fills the keys of existing rows --------------------------------------------

def test_migration_fills_the_keys_of_existing_rows_and_goes_back(app_config, tmp_path, empty_database_url):
    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=empty_database_url, INSTANCE_DIR=tmp_path))
    with old.app_context():
        upgrade(revision="b4d2f6a8c1e3")
        now = "2026-05-01 10:00:00"
        ids = {name: uuid.uuid4() for name in ("op", "c1", "c2", "p1", "u1")}
        inserts = [
            ("INSERT INTO operadoras (id, codigo, nome, possui_rpa, rpa_terceirizado, ativo, limite_concorrencia, "
             "created_at, updated_at) VALUES (:op, 'TELEF', 'Telefônica', true, false, true, 5, :now, :now)"),
            ("INSERT INTO clientes (id, nome, cnpj, operadora_id, ativo, created_at, updated_at) "
             "VALUES (:c1, :sao, '11222333000181', :op, true, :now, :now)"),
            ("INSERT INTO clientes (id, nome, cnpj, operadora_id, ativo, created_at, updated_at) "
             "VALUES (:c2, 'Agropecuária', '11222333000262', :op, true, :now, :now)"),
            ("INSERT INTO processos (id, cliente_id, competencia, status, cliente_nome, created_at, updated_at) "
             "VALUES (:p1, :c1, '2026-05', 'AGUARDANDO_DOWNLOAD', :sao, :now, :now)"),
            ("INSERT INTO users (id, username, email, nome, password_hash, role, ativo, session_version, "
             "token_version, created_at, updated_at) VALUES (:u1, 'Zé', 'ze@exemplo.com', 'José Antônio', 'x', "
             "'ADMIN', true, 1, 1, :now, :now)"),
        ]
        uuid_type = Cliente.__table__.c.id.type
        dialect = db.engine.dialect
        params = {k: uuid_type.bind_processor(dialect)(v) if uuid_type.bind_processor(dialect) else v
                  for k, v in ids.items()}
        for sql in inserts:
            db.session.execute(text(sql), {**params, "now": now, "sao": SAO_JOAO})
        db.session.commit()

        db.session.remove()
        upgrade()
        # Read through a connection closed right after: the downgrade's DROP INDEX must not wait for its locks.
        with db.engine.connect() as conn:
            key = conn.execute(text("SELECT nome, nome_busca FROM clientes ORDER BY nome_busca")).all()
            assert key == [("Agropecuária", "agropecuaria"), (SAO_JOAO, "mercearia sao joao")]
            assert conn.execute(text("SELECT cliente_nome_busca FROM processos")).scalar() == "mercearia sao joao"
            assert conn.execute(text("SELECT nome_busca FROM operadoras")).scalar() == "telefonica"
            assert conn.execute(text("SELECT busca FROM users")).scalar() == KEY_SEPARATOR.join(
                ["ze", "ze@exemplo.com", "jose antonio"])
            assert conn.execute(text("SELECT competencia, total FROM processo_totais")).all() == [("2026-05", 1)]

        downgrade(revision="b4d2f6a8c1e3")
        columns = {c["name"] for c in db.inspect(db.engine).get_columns("clientes")}
        assert "nome_busca" not in columns
        upgrade()  # and forward again
        assert db.session.execute(text("SELECT nome_busca FROM clientes ORDER BY 1")).scalars().all() == [
            "agropecuaria", "mercearia sao joao"]
        db.session.remove()
        db.engine.dispose()
