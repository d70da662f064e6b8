"""No 500 from odd input on the API: huge integers in the query, lone surrogates and absurd nesting in
JSON bodies; each is a 400 with a Portuguese message."""
import json

import pytest

from tests.factories import ExecucaoFactory

HUGE = "99999999999999999999999999"


def assert_400_in_portuguese(response, fragment):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert fragment in response.get_json()["error"]


@pytest.mark.parametrize("after", [HUGE, "2147483648", "-1", "1.5", "²", "abc"])
def test_logs_after_out_of_range_is_400(client, admin, after):
    execucao = ExecucaoFactory()
    response = client.get(f"/api/v1/execucoes/{execucao.id}/logs?after={after}", headers=admin)
    assert_400_in_portuguese(response, "Parâmetro 'after' deve ser um inteiro")


def test_logs_after_at_the_top_of_the_range_works(client, admin):
    execucao = ExecucaoFactory()
    response = client.get(f"/api/v1/execucoes/{execucao.id}/logs?after=2147483647", headers=admin)
    assert response.status_code == 200 and response.get_json() == {"items": [], "next": 2147483647}


@pytest.mark.parametrize("path", ["/api/v1/processos", "/api/v1/operadoras", "/api/v1/clientes", "/api/v1/execucoes",
                                  "/api/v1/usuarios", "/api/v1/auditoria"])
@pytest.mark.parametrize("arg", [f"page={HUGE}", f"per_page={HUGE}", "per_page=201", "page=0", "page=x"])
def test_huge_page_arguments_are_400(client, admin, path, arg):
    response = client.get(f"{path}?{arg}", headers=admin)
    assert_400_in_portuguese(response, "deve ser um inteiro entre")
    assert list(response.get_json()["fields"]) == [arg.split("=")[0]]


@pytest.mark.parametrize("text", ['{"codigo": "\\ud800", "nome": "x"}', '{"\\udfff": 1}', '{"nome": ["ok", "a\\udc00b"]}'])
def test_lone_surrogate_in_a_json_string_is_400(client, admin, text):
    response = client.post("/api/v1/operadoras", data=text, content_type="application/json", headers=admin)
    assert_400_in_portuguese(response, "surrogate isolado")


def test_a_proper_surrogate_pair_is_fine(client, admin):
    response = client.post("/api/v1/operadoras", data='{"codigo": "EMOJI", "nome": "Operadora \\ud83d\\ude00"}',
                           content_type="application/json", headers=admin)
    assert response.status_code == 201 and response.get_json()["nome"] == "Operadora \U0001F600"


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000,
                                  "[" * 100_000])
def test_json_nested_100000_levels_is_400(client, admin, body):
    for path in ("/api/v1/operadoras", "/api/v1/auth/token", "/api/v1/processos/acoes"):
        response = client.post(path, data=body, content_type="application/json", headers=admin)
        assert_400_in_portuguese(response, "aninhado demais")


def test_brackets_inside_strings_do_not_count_as_nesting(client, admin):
    body = json.dumps({"codigo": "COLCHETES", "nome": "[" * 40 + "{" * 40})
    response = client.post("/api/v1/operadoras", data=body, content_type="application/json", headers=admin)
    assert response.status_code == 201


@pytest.mark.parametrize("body", ['{"limite_concorrencia": NaN}', '{"a": Infinity}', "\xff\xfe{", "[1, 2]", "null"])
def test_other_bodies_that_are_not_json_objects_are_400(client, admin, body):
    response = client.post("/api/v1/operadoras", data=body.encode("latin-1"), content_type="application/json",
                           headers=admin)
    assert_400_in_portuguese(response, "Corpo JSON")
