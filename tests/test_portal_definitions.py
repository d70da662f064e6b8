"""Domínios and serviços: a definition that does not validate is refused, on the page and in the API (422 with
fields), and nothing is saved."""
import copy
import json
import uuid

import pytest
from sqlalchemy import func, select

from apps.core.types import db
from apps.portal import catalogo, schema
from apps.portal.models import Servico
from tests.conftest import actions
from tests.portal_support import EVERY_TYPE, EVERY_TYPE_RUN, make_dominio, make_servico


def _count():
    return db.session.scalar(select(func.count()).select_from(Servico))


@pytest.mark.parametrize("definition", catalogo.SERVICOS, ids=lambda d: d["nome"])
def test_the_catalogue_and_every_field_type_validate(definition):
    assert schema.check_definition(definition["form_schema_json"], definition["run_template_json"]) == {}
    assert schema.check_definition(EVERY_TYPE, EVERY_TYPE_RUN) == {}


BAD = [
    ("form_schema_json", {"fields": [{"key": "x", "label": "X", "type": "color"}]}, "type: valor \"color\" não aceito"),
    ("form_schema_json", {"fields": [{"key": "x", "label": "X"}]}, "falta o campo obrigatório 'type'"),
    ("form_schema_json", {"fields": []}, "não pode ser vazio"),
    ("form_schema_json", {"fields": [{"key": "x", "label": "X", "type": "text", "validation": {"regex": "([a-z"}}]},
     "a expressão regular não compila"),
    ("form_schema_json", {"fields": [{"key": "x", "label": "X", "type": "text"},
                                     {"key": "x", "label": "Y", "type": "text"}]}, "aparece mais de uma vez"),
    ("form_schema_json", {"fields": [{"key": "x", "label": "X", "type": "select"}]}, "precisa de validation.options"),
    ("run_template_json", {"mapping": {"tarefa": "segunda_via_fatura", "parametros": {"cnpj": "{cnpj_do_cliente}"}}},
     "{cnpj_do_cliente} não corresponde a nenhum campo"),
    ("run_template_json", {"mapping": {"tarefa": "segunda_via_fatura", "parametros": {"x": "{competencia.cnpj}"}}},
     "não tem o atributo 'cnpj'"),
    ("run_template_json", {"mapping": {"parametros": {}}}, "falta o campo obrigatório 'tarefa'"),
    ("run_template_json", {"mapping": {"tarefa": "download", "parametros": {"cliente": "{cliente}"}}},
     "precisa de parametros 'competencia'"),
]


@pytest.mark.parametrize("name, value, message", BAD, ids=[b[2][:30] for b in BAD])
def test_api_refuses_a_bad_definition_with_the_field(client, admin, name, value, message):
    dominio = make_dominio(client, admin)
    body = {"dominio_id": dominio["id"], **copy.deepcopy(catalogo.SEGUNDA_VIA), name: value}
    response = client.post("/api/v1/servicos", json=body, headers=admin)
    assert response.status_code == 422, response.get_json()
    assert message in response.get_json()["fields"][name]
    assert _count() == 0


def test_api_patch_refuses_a_bad_template_and_keeps_the_serviço(client, admin):
    servico = make_servico(client, admin, make_dominio(client, admin)["id"])
    bad = {"mapping": {"tarefa": "segunda_via_fatura", "parametros": {"cnpj": "{nada}"}}}
    response = client.patch(f"/api/v1/servicos/{servico['id']}", json={"run_template_json": bad}, headers=admin)
    assert response.status_code == 422 and "run_template_json" in response.get_json()["fields"]
    db.session.expire_all()
    assert db.session.get(Servico, uuid.UUID(servico["id"])).run_template_json == catalogo.SEGUNDA_VIA["run_template_json"]
    ok = client.patch(f"/api/v1/servicos/{servico['id']}", json={"nome": "Outra via", "ativo": False}, headers=admin)
    assert ok.status_code == 200 and ok.get_json()["nome"] == "Outra via" and ok.get_json()["ativo"] is False
    assert len(actions("servico_alterado")) == 1


def test_api_refuses_unknown_papel_domínio_and_fields(client, admin):
    dominio = make_dominio(client, admin)
    body = {"dominio_id": "00000000-0000-0000-0000-000000000000", **copy.deepcopy(catalogo.SEGUNDA_VIA),
            "papeis": ["CHEFE"]}
    fields = client.post("/api/v1/servicos", json=body, headers=admin).get_json()["fields"]
    assert fields["dominio_id"] == "Escolha um domínio existente." and "CHEFE" in fields["papeis"]
    assert client.post("/api/v1/servicos", json={**body, "dominio_id": dominio["id"], "papeis": [], "cor": 1},
                       headers=admin).get_json()["fields"] == {"cor": "Campo desconhecido."}
    duplicate = client.post("/api/v1/dominios", json={"slug": dominio["slug"], "nome": "X"}, headers=admin)
    assert duplicate.status_code == 422 and "Já existe" in duplicate.get_json()["fields"]["slug"]


def test_only_an_admin_keeps_domínios_and_serviços(client, op, admin):
    assert client.post("/api/v1/dominios", json={"slug": "x", "nome": "X"}, headers=op).status_code == 403
    dominio = make_dominio(client, admin)
    body = {"dominio_id": dominio["id"], **catalogo.SEGUNDA_VIA}
    assert client.post("/api/v1/servicos", json=body, headers=op).status_code == 403
    assert client.get("/api/v1/dominios", headers=op).get_json()["items"][0]["slug"] == "faturas"


def _page_form(definition, dominio_id, **changes):
    data = {"nome": definition["nome"], "descricao": definition["descricao"], "dominio_id": dominio_id,
            "papeis": definition["papeis"], "ativo": "y",
            "form_schema_json": json.dumps(definition["form_schema_json"]),
            "run_template_json": json.dumps(definition["run_template_json"])}
    data.update(changes)
    return data


def test_page_shows_each_refusal_next_to_its_textarea_and_keeps_what_was_typed(admin_client, client, admin):
    dominio = make_dominio(client, admin)
    bad_form = json.dumps({"fields": [{"key": "x", "label": "X", "type": "text", "validation": {"regex": "(["}}]})
    response = admin_client.post("/portal/servicos/novo", data=_page_form(
        catalogo.SEGUNDA_VIA, dominio["id"], form_schema_json=bad_form))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="form_schema_json-error"' in html and "a expressão regular não compila" in html
    assert "(\\[" in html or "([" in html  # the text typed is back in the textarea
    not_json = admin_client.post("/portal/servicos/novo", data=_page_form(
        catalogo.SEGUNDA_VIA, dominio["id"], run_template_json='{"mapping": '))
    assert not_json.status_code == 422 and "JSON inválido (linha 1" in not_json.get_data(as_text=True)
    placeholder = admin_client.post("/portal/servicos/novo", data=_page_form(
        catalogo.SEGUNDA_VIA, dominio["id"],
        run_template_json=json.dumps({"mapping": {"tarefa": "t", "parametros": {"a": "{sumiu}"}}})))
    assert 'id="run_template_json-error"' in placeholder.get_data(as_text=True)
    assert "{sumiu} não corresponde a nenhum campo" in placeholder.get_data(as_text=True)
    assert _count() == 0
    good = admin_client.post("/portal/servicos/novo", data=_page_form(catalogo.SEGUNDA_VIA, dominio["id"]))
    assert good.status_code == 302 and _count() == 1
    servico = db.session.scalar(select(Servico))
    assert servico.form_schema_json == catalogo.SEGUNDA_VIA["form_schema_json"]
    edit = admin_client.get(f"/portal/servicos/{servico.id}/editar")
    assert edit.status_code == 200 and "segunda_via_fatura" in edit.get_data(as_text=True)
    changed = admin_client.post(f"/portal/servicos/{servico.id}/editar", data=_page_form(
        catalogo.SEGUNDA_VIA, dominio["id"], nome="Segunda via (PDF)", papeis=["ADMIN"], ativo=""))
    assert changed.status_code == 302
    db.session.refresh(servico)
    assert (servico.nome, servico.papeis, servico.ativo) == ("Segunda via (PDF)", ["ADMIN"], False)
    assert "Segunda via (PDF)" in admin_client.get("/portal/servicos").get_data(as_text=True)


def test_domínio_pages(admin_client):
    response = admin_client.post("/portal/dominios", data={"slug": "ok", "nome": "Ok", "ordem": "x"})
    assert response.status_code == 422 and "Informe um número inteiro." in response.get_data(as_text=True)
    response = admin_client.post("/portal/dominios", data={"slug": "Com Espaço", "nome": "", "ordem": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="slug-error"' in html and "Use letras minúsculas" in html
    assert 'id="nome-error"' in html and "Informe o nome." in html
    assert admin_client.post("/portal/dominios", data={"slug": "debitos", "nome": "Débitos", "ordem": "2"}
                             ).status_code == 302
    assert "Débitos" in admin_client.get("/portal/dominios").get_data(as_text=True)


def test_demo_seed_adds_the_catalogue_once():
    from apps.core.demo import seed_portal

    assert seed_portal() == len(catalogo.SERVICOS) and seed_portal() == 0
    assert {s.nome for s in db.session.scalars(select(Servico))} == {d["nome"] for d in catalogo.SERVICOS}


def test_a_custom_role_may_be_given_a_serviço_and_its_people_run_it(admin_client, client, admin):
    """Papéis created on /papeis are offered beside the built-in ones; a code no role has is refused by name."""
    from apps.auth import roles
    from apps.portal import services
    from tests.factories import UserFactory

    roles.create_papel("CONFERENTE", "Conferente de faturas", None, ["painel.ler", "processo.ler", "servico.executar"])
    db.session.commit()
    dominio = make_dominio(client, admin)
    form = admin_client.get("/portal/servicos/novo").get_data(as_text=True)
    assert 'value="CONFERENTE"' in form and "Conferente de faturas" in form and 'value="OPERADOR"' in form
    made = admin_client.post("/portal/servicos/novo", data=_page_form(catalogo.SEGUNDA_VIA, dominio["id"],
                                                                        papeis=["CONFERENTE"]))
    assert made.status_code == 302
    servico = db.session.scalar(select(Servico))
    assert servico.papeis == ["CONFERENTE"]
    conferente = UserFactory(role="CONFERENTE")
    assert services.may_run(servico, conferente) and not services.may_run(servico, UserFactory(role="OPERADOR"))
    refused = client.post("/api/v1/servicos", headers=admin, json={**catalogo.SEGUNDA_VIA, "dominio_id": dominio["id"],
                                                                   "nome": "Outro", "papeis": ["NINGUEM_TEM"]})
    assert refused.status_code == 422 and "NINGUEM_TEM" in refused.get_json()["fields"]["papeis"]
