"""GraphQL at /api/graphql: Bearer only, read only, walked both ways in a fixed number of statements, limited."""
import pytest

from apps.auth import roles
from apps.auth.models import Role
from apps.core.types import db
from apps.graphql_api import types as graph_types
from apps.processos.models import StatusExecucao
from tests.conftest import PASSWORD, count_queries, make_user
from tests.factories import (
    ClienteFactory,
    ExecucaoFactory,
    ExecucaoLogFactory,
    FaturaFactory,
    OperadoraFactory,
    ProcessoFactory,
    RoboFactory,
)
from tests.support.aprovacoes import approver, group, waiting

PAGE_QUERY = """
query($competencia: String, $first: Int, $after: String) {
  processos(first: $first, after: $after, competencia: $competencia) {
    edges { cursor node { id status competencia cliente { nome operadora { codigo } } ultimaExecucao { status } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def ask(client, headers, query, variables=None, status=200):
    response = client.post("/api/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


def _data(statements) -> list:
    return [s for s in statements if "FROM users" not in s]


def _month(n: int, competencia="2026-11", operadoras=2):
    ops = [OperadoraFactory() for _ in range(operadoras)]
    processos = [ProcessoFactory(cliente=ClienteFactory(operadora=ops[i % operadoras]), competencia=competencia)
                 for i in range(n)]
    for processo in processos[::2]:
        ExecucaoFactory(processo=processo, status=StatusExecucao.CONCLUIDO)
    return ops, processos


def test_no_token_is_401_and_the_session_cookie_is_not_enough(client, users, login):
    assert client.post("/api/graphql", json={"query": "{ resumoMes { total } }"}).status_code == 401
    assert client.get("/api/graphql?query={resumoMes{total}}").status_code == 401
    login(users[Role.ADMIN])
    assert client.post("/api/graphql", json={"query": "{ resumoMes { total } }"}).status_code == 401


def test_a_page_of_processos_with_cliente_operadora_and_last_run(client, viewer):
    ops, processos = _month(6)
    expected = {str(p.id): {"nome": p.cliente.nome, "operadora": {"codigo": p.cliente.operadora.codigo},
                            "ultima": StatusExecucao.CONCLUIDO if p.execucoes else None} for p in processos}
    data = ask(client, viewer, PAGE_QUERY, {"competencia": "2026-11", "first": 10})["data"]["processos"]
    nodes = {edge["node"]["id"]: edge["node"] for edge in data["edges"]}
    assert set(nodes) == set(expected) and data["pageInfo"]["hasNextPage"] is False
    for processo_id, node in nodes.items():
        want = expected[processo_id]
        assert node["cliente"] == {"nome": want["nome"], "operadora": want["operadora"]}
        assert (node["ultimaExecucao"] or {}).get("status") == want["ultima"]


def test_the_statement_count_does_not_grow_with_the_page(client, viewer):
    _month(100)
    with count_queries() as small:
        assert len(ask(client, viewer, PAGE_QUERY, {"first": 5})["data"]["processos"]["edges"]) == 5
    with count_queries() as large:
        assert len(ask(client, viewer, PAGE_QUERY, {"first": 100})["data"]["processos"]["edges"]) == 100
    small, large = _data(small), _data(large)  # the token's user may come from the identity map
    assert len(large) == len(small) == 4, large  # the page, its clientes, their operadoras, the last runs


def test_cursor_pagination_walks_every_processo_once(client, viewer):
    _month(7)
    seen, after = [], None
    while True:
        page = ask(client, viewer, PAGE_QUERY, {"first": 3, "after": after})["data"]["processos"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 7


def test_the_graph_is_walked_both_ways_in_one_query_per_level(client, viewer):
    ops, processos = _month(8, operadoras=3)
    walks = [(p.cliente.operadora.codigo, p.cliente.nome) for p in processos]
    query = """{ operadoras(first: 10) { edges { node { codigo
        clientes(first: 10) { edges { node { nome processos(first: 5) { edges { node { competencia
          cliente { operadora { codigo } } } } } } } } } } } }"""
    with count_queries() as statements:
        data = ask(client, viewer, query)["data"]["operadoras"]["edges"]
    by_codigo = {edge["node"]["codigo"]: edge["node"] for edge in data}
    for codigo, nome in walks:
        clientes = {e["node"]["nome"]: e["node"] for e in by_codigo[codigo]["clientes"]["edges"]}
        walked = clientes[nome]["processos"]["edges"][0]["node"]
        assert walked["cliente"]["operadora"]["codigo"] == codigo  # back up the graph to where it started
    assert len(_data(statements)) == 5, statements  # operadoras, clientes, processos, clientes, operadoras


def test_execucao_logs_page_by_sequence(client, viewer):
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO)
    for seq in range(1, 6):
        ExecucaoLogFactory(execucao=execucao, seq=seq)
    query = """query($id: ID!, $after: String) { execucao(id: $id) { status
        logs(first: 2, after: $after) { edges { node { seq message } } pageInfo { hasNextPage endCursor } } } }"""
    first = ask(client, viewer, query, {"id": str(execucao.id)})["data"]["execucao"]["logs"]
    assert [e["node"]["seq"] for e in first["edges"]] == [1, 2] and first["pageInfo"]["hasNextPage"]
    second = ask(client, viewer, query, {"id": str(execucao.id), "after": first["pageInfo"]["endCursor"]})
    assert [e["node"]["message"] for e in second["data"]["execucao"]["logs"]["edges"]] == ["linha 3", "linha 4"]


def test_faturas_and_month_counts(client, viewer):
    fatura = FaturaFactory()
    query = """query($id: ID!, $competencia: String) { processo(id: $id) { faturas { edges { node { numero valor vencimento } } } }
               resumoMes(competencia: $competencia) { total porStatus { status rotulo total } } }"""
    data = ask(client, viewer, query, {"id": str(fatura.processo_id), "competencia": fatura.processo.competencia})["data"]
    assert data["processo"]["faturas"]["edges"][0]["node"] == {
        "numero": fatura.numero, "valor": f"{fatura.valor:.2f}", "vencimento": fatura.vencimento.isoformat()}
    assert data["resumoMes"]["total"] == 1
    assert sum(row["total"] for row in data["resumoMes"]["porStatus"]) == 1


@pytest.mark.parametrize("query, words", [
    ("{ processos(first: 100) { edges { node { cliente { processos(first: 100) { edges { node { id } } } } } } } }",
     "custaria"),
    ("{ operadoras { edges { node { clientes { edges { node { processos { edges { node { cliente { operadora {"
     " clientes { edges { node { nome } } } } } } } } } } } } } } }", "profundidade"),
])
def test_depth_and_cost_limits_refuse_the_whole_query_before_it_runs(client, viewer, query, words):
    ClienteFactory()
    with count_queries() as statements:
        answer = ask(client, viewer, query)
    assert answer.get("data") is None and words in answer["errors"][0]["message"]
    assert _data(statements) == []  # no data query ran


def test_cost_counts_first_given_in_a_variable(client, viewer):
    query = "query($n: Int) { processos(first: $n) { edges { node { cliente { processos(first: $n) { edges { node { id } } } } } } } }"
    assert "errors" not in ask(client, viewer, query, {"n": 10})
    assert "custaria" in ask(client, viewer, query, {"n": 100})["errors"][0]["message"]


def test_bad_arguments_get_a_clear_message(client, viewer):
    answer = ask(client, viewer, '{ processos(first: 1000) { edges { node { id } } } }')
    assert "`first` deve estar entre 1 e 100" in answer["errors"][0]["message"]
    answer = ask(client, viewer, '{ processos(after: "nao-e-cursor") { edges { node { id } } } }')
    assert "Cursor inválido" in answer["errors"][0]["message"]
    answer = ask(client, viewer, '{ processos(competencia: "11/2026") { edges { node { id } } } }')
    assert "Competência inválida" in answer["errors"][0]["message"]


def test_read_only_no_mutation(client, admin):
    answer = ask(client, admin, 'mutation { aprovar(id: "x") }')
    assert answer["errors"] and answer.get("data") is None


def test_an_internal_error_is_masked(client, viewer, monkeypatch):
    ProcessoFactory()

    def broken(*args, **kwargs):
        raise RuntimeError("psycopg.OperationalError: senha do banco xyz")

    monkeypatch.setattr(graph_types.batch, "by_id", broken)
    answer = ask(client, viewer, "{ processos { edges { node { cliente { nome } } } } }")
    assert answer["errors"][0]["message"] == "Erro interno ao ler este campo."
    assert "xyz" not in str(answer) and "Traceback" not in str(answer)


def test_graphiql_page_is_served_from_the_app_with_a_token(client, users, login):
    login(users[Role.VISUALIZADOR])
    page = client.get("/api/graphiql")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "vendor/graphiql/graphiql.min.js" in body and 'data-token="ey' in body
    assert "unpkg" not in body and "jsdelivr" not in body
    assert client.get("/static/vendor/graphiql/graphiql.min.js").status_code == 200


def _token(client, user) -> dict:
    answer = client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['access']}"}


def test_my_open_approvals_with_their_processo_and_responsavel(client):
    vivo = OperadoraFactory(codigo="VIVO")
    ana = approver("ana")
    group(vivo, ana)
    mine = [waiting(vivo, nome=f"Cliente {n}", total="250.00") for n in range(3)]
    names = sorted(p.cliente.nome for p in mine)
    query = """{ aprovacoes(responsavel: "me", first: 10) { edges { node { prazo vencida total
                 processo { competencia cliente { nome } } responsavel { username } } } } }"""
    nodes = [e["node"] for e in ask(client, _token(client, ana), query)["data"]["aprovacoes"]["edges"]]
    assert sorted(n["processo"]["cliente"]["nome"] for n in nodes) == names
    assert {(n["responsavel"]["username"], n["total"], n["vencida"]) for n in nodes} == {("ana", "250.00", False)}


def test_robots_with_their_load(client, viewer):
    robo = RoboFactory(nome="robo-a", capacidade=2)
    ExecucaoFactory(status=StatusExecucao.EXECUTANDO, robo_id=robo.id)
    ExecucaoFactory(status=StatusExecucao.EXECUTANDO, robo_id=robo.id)
    RoboFactory(nome="robo-b", capacidade=4)
    nodes = {e["node"]["nome"]: e["node"] for e in ask(
        client, viewer, "{ robos { edges { node { nome status capacidade execucoesAtivas } } } }")["data"]["robos"]["edges"]}
    assert nodes["robo-a"] == {"nome": "robo-a", "status": "OCUPADO", "capacidade": 2, "execucoesAtivas": 2}
    assert nodes["robo-b"]["status"] == "DISPONIVEL" and nodes["robo-b"]["execucoesAtivas"] == 0


def test_each_field_asks_its_own_permission(client):
    """A custom role that reads processos but not clientes gets the processos, and for `cliente` a null and an
    error naming the permission; approvals it may not see are refused whole."""
    roles.create_papel("LEITOR_PROCESSOS", "Leitor de processos", None, ["painel.ler", "processo.ler"])
    db.session.commit()
    leitor = make_user("LEITOR_PROCESSOS", "leitor")
    processo = ProcessoFactory()
    answer = ask(client, _token(client, leitor), "{ processos { edges { node { id cliente { nome } } } } }")
    [edge] = answer["data"]["processos"]["edges"]
    assert edge["node"] == {"id": str(processo.id), "cliente": None}
    assert "cliente.ler" in answer["errors"][0]["message"] and answer["errors"][0]["path"][-1] == "cliente"
    refused = ask(client, _token(client, leitor), "{ aprovacoes { edges { node { id } } } }")
    assert refused["data"] is None and "processo.aprovar" in refused["errors"][0]["message"]
