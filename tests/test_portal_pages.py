"""The portal: forms rendered from the schema for every field type, checked on the server (messages next to
each field), runs asked for (SERVICO execucoes with the mapped parametros), papeis, Minhas solicitações."""
import re
import uuid

from flask import g
from sqlalchemy import select

from apps.auth.models import Role
from apps.core.types import db
from apps.portal import catalogo
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao
from tests.conftest import make_user
from tests.factories import PASSWORD, ClienteFactory, OperadoraFactory, valid_cnpj
from tests.portal_support import EVERY_TYPE, EVERY_TYPE_RUN, make_dominio, make_servico

TODOS = list(Role.ALL)


def _every_type(client, admin, **changes):
    dominio = make_dominio(client, admin)
    definition = {"nome": "Todos os tipos", "descricao": "Um campo de cada tipo.", "papeis": TODOS,
                  "form_schema_json": EVERY_TYPE, "run_template_json": EVERY_TYPE_RUN}
    return make_servico(client, admin, dominio["id"], definition, **changes)


def _logged_in(client, user):
    """Another browser (its own cookies) logged in as `user`."""
    g.pop("_login_user", None)  # the tests' one app context would keep the last request's user
    other = client.application.test_client()
    assert other.post("/login", data={"login": user.username, "password": PASSWORD}).status_code == 302
    return other


def _prefix(servico) -> str:
    return f"s{uuid.UUID(servico['id']).hex[:8]}-"


def _field_html(html, name) -> str:
    """The <div> of the field named `name` (its label, input and messages)."""
    match = re.search(rf'<div class="(?:mb-3|form-check mb-3)">\s*(?:(?!<div class="mb-3">).)*?name="{name}".*?</div>\s*</div>|'
                      rf'<div class="mb-3">(?:(?!<div class="mb-3">).)*?name="{name}"(?:(?!<div class="mb-3">).)*',
                      html, re.S)
    assert match, name
    return match.group(0)


def test_every_field_type_is_rendered_with_the_shared_macro(client, admin, users, login):
    vivo = OperadoraFactory(codigo="VIVO")
    ClienteFactory(nome="Padaria Aurora", operadora=vivo)
    servico = _every_type(client, admin)
    login(users[Role.APROVADOR])  # a Visualizador only reads: no portal
    html = client.get("/portal").get_data(as_text=True)
    p = _prefix(servico)
    assert 'name="csrf_token"' in html and f'action="/portal/servicos/{servico["id"]}/solicitar"' in html
    assert re.search(rf'<input[^>]*id="{p}titulo"[^>]*required', html) or re.search(
        rf'<input[^>]*required[^>]*id="{p}titulo"', html)
    assert f'id="{p}titulo-help"' in html and "Um nome curto." in html
    for key, kind in (("quantidade", "number"), ("dia", "date"), ("competencia", "month")):
        assert re.search(rf'<input[^>]*id="{p}{key}"[^>]*type="{kind}"|<input[^>]*type="{kind}"[^>]*id="{p}{key}"',
                         html), key
    assert re.search(rf'<select[^>]*id="{p}canal"', html) and '<option value="sms">SMS</option>' in html
    assert re.search(rf'<input[^>]*type="checkbox"[^>]*id="{p}urgente"|<input[^>]*id="{p}urgente"[^>]*type="checkbox"',
                     html)
    assert f'id="{p}documento"' in html and 'placeholder="00.000.000/0000-00"' in html
    assert re.search(rf'<select[^>]*id="{p}cliente"', html) and "Padaria Aurora" in html
    assert re.search(rf'<select[^>]*id="{p}operadora"', html) and "VIVO — Vivo" in html
    assert 'data-dominio="faturas"' in html


def test_server_checks_each_field_and_shows_the_message_next_to_it(client, admin, users, login, enqueued):
    servico = _every_type(client, admin)
    login(users[Role.APROVADOR])  # a Visualizador only reads: no portal
    p = _prefix(servico)
    response = client.post(f"/portal/servicos/{servico['id']}/solicitar", data={
        f"{p}titulo": "minúsculo", f"{p}quantidade": "onze", f"{p}dia": "2025-12-31", f"{p}competencia": "2026-13",
        f"{p}canal": "fax", f"{p}documento": "11.222.333/0001-00", f"{p}cliente": str(uuid.uuid4()),
        f"{p}operadora": "nada"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    expected = {"titulo": "Formato inválido.", "quantidade": "Informe um número.", "dia": "O mínimo é 2026-01-01.",
                "competencia": "Informe o mês no formato AAAA-MM", "canal": "Escolha uma das opções.",
                "documento": "CNPJ inválido", "cliente": "Escolha um cliente ativo da lista.",
                "operadora": "Escolha uma operadora ativa da lista."}
    for key, message in expected.items():
        error = re.search(rf'id="{p}{key}-error">([^<]*)<', html)
        assert error and message in error.group(1), (key, error and error.group(1))
        assert re.search(rf'id="{p}{key}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{p}{key}"', html), key
    assert 'value="minúsculo"' in html and 'value="onze"' in html  # nothing typed is lost
    assert db.session.scalar(select(Execucao.id)) is None and enqueued == []
    missing = client.post(f"/portal/servicos/{servico['id']}/solicitar", data={}).get_data(as_text=True)
    assert re.search(rf'id="{p}titulo-error">Campo obrigatório.<', missing)
    assert re.search(rf'id="{p}competencia-error">Campo obrigatório.<', missing)


def test_good_answers_start_a_servico_run_with_the_mapped_parametros(client, admin, users, login, enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=1)
    cliente = ClienteFactory(operadora=vivo, cnpj=valid_cnpj(3, 11222333))
    oi = OperadoraFactory(codigo="OI")
    servico = _every_type(client, admin)
    login(users[Role.APROVADOR])  # a Visualizador only reads: no portal
    p = _prefix(servico)
    response = client.post(f"/portal/servicos/{servico['id']}/solicitar", data={
        f"{p}titulo": "Teste", f"{p}quantidade": "3", f"{p}competencia": "2026-04", f"{p}urgente": "y",
        f"{p}documento": "11.222.333/0001-81", f"{p}cliente": str(cliente.id), f"{p}operadora": str(oi.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    execucao = db.session.scalar(select(Execucao))
    assert response.headers["Location"].endswith(f"/portal/execucoes/{execucao.id}")
    assert execucao.tipo == TipoExecucao.SERVICO and execucao.processo_id is None
    assert execucao.status == StatusExecucao.PENDENTE and execucao.data_inicio is not None  # admitted
    assert execucao.operadora_id == oi.id  # an operadora field wins over the cliente's
    assert execucao.criado_por_id == users[Role.APROVADOR].id and enqueued == [execucao.id]
    assert execucao.parametros == {
        "tarefa": "consulta_debitos", "operadora": "OI",
        "parametros": {"titulo": "Teste", "quantidade": 3, "competencia": "2026-04", "canal": "email",
                       "urgente": True, "cnpj": "11222333000181", "cliente_cnpj": cliente.cnpj, "operadora": "OI",
                       "resumo": "Teste de 2026-04"},
        "runtime_env": {"ORIGEM": "portal-Teste"}}
    page = client.get(f"/portal/execucoes/{execucao.id}").get_data(as_text=True)
    assert 'id="live-panel"' in page and f'data-ativa-id="{execucao.id}"' in page
    assert f'data-live-url="/portal/execucoes/{execucao.id}/ao-vivo"' in page and "consulta_debitos" in page
    live = client.get(f"/portal/execucoes/{execucao.id}/ao-vivo").get_data(as_text=True)
    assert f'data-execucao-ativa="{execucao.id}"' in live and 'id="execucoes-table"' in live
    mine = client.get("/portal/solicitacoes").get_data(as_text=True)
    assert f'data-execucao-id="{execucao.id}"' in mine and "Todos os tipos" in mine and "Pendente" in mine
    other = _logged_in(client, make_user(Role.APROVADOR, "outro.aprovador"))
    assert other.get(f"/portal/execucoes/{execucao.id}").status_code == 404  # not his: neither the run
    assert f'data-execucao-id="{execucao.id}"' not in other.get("/portal/solicitacoes").get_data(as_text=True)
    assert _logged_in(client, users[Role.OPERADOR]).get(f"/portal/execucoes/{execucao.id}").status_code == 200


def test_a_second_run_of_the_same_operadora_waits_for_its_slot(client, admin, users, login, enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=1)
    cliente = ClienteFactory(operadora=vivo)
    servico = make_servico(client, admin, make_dominio(client, admin)["id"])
    valores = {"cliente": str(cliente.id), "competencia": "2026-03"}
    first = client.post(f"/api/v1/servicos/{servico['id']}/executar", json={"valores": valores}, headers=admin)
    second = client.post(f"/api/v1/servicos/{servico['id']}/executar", json={"valores": valores}, headers=admin)
    assert first.status_code == second.status_code == 202
    runs = {str(e.id): e for e in db.session.scalars(select(Execucao))}
    assert runs[first.get_json()["execucao_id"]].data_inicio is not None
    assert runs[second.get_json()["execucao_id"]].data_inicio is None  # waiting: VIVO runs one at a time
    assert enqueued == [uuid.UUID(first.get_json()["execucao_id"])]
    assert runs[first.get_json()["execucao_id"]].parametros["parametros"] == {
        "operadora": "VIVO", "cnpj": cliente.cnpj, "competencia": "2026-03"}


def test_papeis_decide_who_sees_and_runs_a_serviço(client, admin, users, login, api_headers, enqueued):
    viewer = api_headers(Role.APROVADOR)  # may use the portal, but not this serviço
    cliente = ClienteFactory()
    dominio = make_dominio(client, admin)
    servico = make_servico(client, admin, dominio["id"], catalogo.CONSULTA_DEBITOS)  # Operador and Admin only
    login(users[Role.APROVADOR])  # a Visualizador only reads: no portal
    assert catalogo.CONSULTA_DEBITOS["nome"] not in client.get("/portal").get_data(as_text=True)
    refused = client.post(f"/portal/servicos/{servico['id']}/solicitar", data={})
    assert refused.status_code == 403
    api = client.post(f"/api/v1/servicos/{servico['id']}/executar",
                      json={"valores": {"cliente": str(cliente.id)}}, headers=viewer)
    assert api.status_code == 404 and client.get("/api/v1/servicos", headers=viewer).get_json()["items"] == []
    client.patch(f"/api/v1/servicos/{servico['id']}", json={"ativo": False}, headers=admin)
    login(users[Role.OPERADOR])
    assert catalogo.CONSULTA_DEBITOS["nome"] not in client.get("/portal").get_data(as_text=True)  # inactive
    assert db.session.scalar(select(Execucao.id)) is None


def test_api_executar_answers_422_with_fields_then_202(client, admin, enqueued):
    servico = _every_type(client, admin)
    url = f"/api/v1/servicos/{servico['id']}/executar"
    bad = client.post(url, json={"valores": {"titulo": "X", "quantidade": 99, "urgente": "talvez", "cor": 1}},
                      headers=admin)
    assert bad.status_code == 422
    assert bad.get_json()["fields"] == {
        "titulo": "Informe ao menos 3 caractere(s).", "quantidade": "O máximo é 10.",
        "urgente": "Marque ou desmarque a opção.", "competencia": "Campo obrigatório.",
        "cor": "Campo desconhecido neste serviço."}
    assert client.post(url, json={"valores": {}, "extra": 1}, headers=admin).status_code == 422
    good = client.post(url, json={"valores": {"titulo": "Abc", "competencia": "2026-02", "quantidade": 2.5}},
                       headers=admin)
    assert good.status_code == 202, good.get_json()
    execucao_id = good.get_json()["execucao_id"]
    listed = client.get(f"/api/v1/servicos/{servico['id']}/execucoes", headers=admin).get_json()
    assert [item["id"] for item in listed["items"]] == [execucao_id]
    assert listed["items"][0]["tipo"] == "SERVICO" and listed["items"][0]["processo_id"] is None
    assert listed["items"][0]["parametros"]["parametros"]["quantidade"] == 2.5
    assert client.get(f"/api/v1/execucoes/{execucao_id}", headers=admin).status_code == 200


def test_download_mapping_runs_the_invoice_download_of_that_month(client, admin, users, login, enqueued):
    cliente = ClienteFactory(operadora=OperadoraFactory(codigo="EMBRATEL"))
    servico = make_servico(client, admin, make_dominio(client, admin)["id"], catalogo.DOWNLOAD_COMPETENCIA)
    login(users[Role.OPERADOR])
    p = _prefix(servico)
    response = client.post(f"/portal/servicos/{servico['id']}/solicitar",
                           data={f"{p}cliente": str(cliente.id), f"{p}competencia": "2025-11"})
    assert response.status_code == 302
    processo = db.session.scalar(select(Processo).where(Processo.cliente_id == cliente.id))
    assert processo.competencia == "2025-11"
    execucao = db.session.scalar(select(Execucao))
    assert execucao.tipo == TipoExecucao.DOWNLOAD and execucao.processo_id == processo.id
    assert str(execucao.servico_id) == servico["id"] and enqueued == [execucao.id]
    again = client.post(f"/portal/servicos/{servico['id']}/solicitar",
                        data={f"{p}cliente": str(cliente.id), f"{p}competencia": "2025-11"})
    assert again.status_code == 409 and "Já existe uma execução em andamento" in again.get_data(as_text=True)
    assert "Download de faturas" in client.get("/portal/solicitacoes").get_data(as_text=True)


def test_a_refused_form_keeps_the_chosen_cliente_selected(client, admin, users, login, enqueued):
    cliente = ClienteFactory(nome="Cliente Escolhido")
    ClienteFactory(nome="Outro Cliente")
    servico = make_servico(client, admin, make_dominio(client, admin)["id"])
    login(users[Role.APROVADOR])  # a Visualizador only reads: no portal
    p = _prefix(servico)
    html = client.post(f"/portal/servicos/{servico['id']}/solicitar",
                       data={f"{p}cliente": str(cliente.id), f"{p}competencia": "maio"}).get_data(as_text=True)
    assert f'<option value="{cliente.id}" selected>' in html and html.count(" selected>") == 1
    assert re.search(rf'id="{p}competencia-error">Informe o mês', html)


def test_past_the_select_limit_the_cliente_is_searched_and_given_by_cnpj(client, admin, users, login, enqueued,
                                                                           monkeypatch):
    """More active clientes than a select holds (MAX_CLIENTES_CHOICES): the field is a search whose datalist
    /portal/clientes fills; the CNPJ picked (or typed) names the cliente, and a wrong one is refused by the field."""
    from apps.clientes.cnpj import format_cnpj
    from apps.portal import forms

    monkeypatch.setattr(forms, "MAX_CLIENTES_CHOICES", 2)
    vivo = OperadoraFactory(codigo="VIVO")
    aurora = ClienteFactory(nome="Padaria Aurora", operadora=vivo, cnpj=valid_cnpj(3, 11222333))
    ClienteFactory(nome="Oficina Boa Vista", operadora=vivo)
    ClienteFactory(nome="Mercado Aurora Sul", operadora=vivo, ativo=False)
    ClienteFactory(nome="Farmácia Central", operadora=vivo)
    servico = make_servico(client, admin, make_dominio(client, admin)["id"])
    login(users[Role.APROVADOR])
    p = _prefix(servico)
    html = client.get("/portal").get_data(as_text=True)
    field = re.search(rf'<input[^>]*id="{p}cliente"[^>]*>(<datalist[^>]*>)', html)
    assert field and not re.search(rf'<select[^>]*id="{p}cliente"', html)
    assert f'list="{p}cliente-opcoes"' in field[0] and field[1] == f'<datalist id="{p}cliente-opcoes">'
    assert 'data-busca-url="/portal/clientes"' in field[0] and "Padaria Aurora" not in html  # no list of every cliente
    assert "js/portal_clientes.js" in html

    found = client.get("/portal/clientes?q=aurora").get_json()["items"]
    assert found == [{"cnpj": format_cnpj(aurora.cnpj), "nome": "Padaria Aurora", "operadora": "VIVO"}]  # active only
    assert client.get("/portal/clientes?q=a").get_json()["items"] == []  # 2 characters at least
    assert [c["nome"] for c in client.get("/portal/clientes?q=11.222").get_json()["items"]] == ["Padaria Aurora"]

    refused = client.post(f"/portal/servicos/{servico['id']}/solicitar",
                          data={f"{p}cliente": "11.222.333/0001-00", f"{p}competencia": "2025-11"})
    assert refused.status_code == 422
    assert re.search(rf'id="{p}cliente-error">Escolha um cliente ativo da lista.<', refused.get_data(as_text=True))
    assert 'value="11.222.333/0001-00"' in refused.get_data(as_text=True)  # what was typed stays
    done = client.post(f"/portal/servicos/{servico['id']}/solicitar",
                       data={f"{p}cliente": format_cnpj(aurora.cnpj), f"{p}competencia": "2025-11"})
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    assert aurora.cnpj in str(db.session.scalar(select(Execucao.parametros)))


def test_the_cliente_search_needs_the_portal_permission(client, users, login):
    login(users[Role.VISUALIZADOR])
    assert client.get("/portal/clientes?q=aurora").status_code == 403
