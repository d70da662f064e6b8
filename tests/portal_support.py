"""Shared by the portal tests: a domínio, a form with every field type, serviços made through the API."""
import copy

from apps.portal import catalogo

EVERY_TYPE = {"fields": [
    {"key": "titulo", "label": "Título", "type": "text", "required": True, "helpText": "Um nome curto.",
     "validation": {"regex": "[A-Z][a-z]+", "min": 3, "max": 20}},
    {"key": "quantidade", "label": "Quantidade", "type": "number", "validation": {"min": 1, "max": 10}},
    {"key": "dia", "label": "Dia", "type": "date", "validation": {"min": "2026-01-01"}},
    {"key": "competencia", "label": "Competência", "type": "month", "required": True},
    {"key": "canal", "label": "Canal", "type": "select",
     "validation": {"options": ["email", {"value": "sms", "label": "SMS"}]}},
    {"key": "urgente", "label": "Urgente", "type": "checkbox"},
    {"key": "documento", "label": "CNPJ", "type": "cnpj"},
    {"key": "cliente", "label": "Cliente", "type": "cliente"},
    {"key": "operadora", "label": "Operadora", "type": "operadora"},
]}
EVERY_TYPE_RUN = {"defaults": {"canal": "email"}, "mapping": {"tarefa": "consulta_debitos", "parametros": {
    "titulo": "{titulo}", "quantidade": "{quantidade}", "competencia": "{competencia}", "canal": "{canal}",
    "urgente": "{urgente}", "cnpj": "{documento}", "cliente_cnpj": "{cliente.cnpj}", "operadora": "{operadora}",
    "resumo": "{titulo} de {competencia}"}, "runtime_env": {"ORIGEM": "portal-{titulo}"}}}


def make_dominio(client, headers, slug="faturas"):
    response = client.post("/api/v1/dominios", json={"slug": slug, "nome": slug.title(), "ordem": 1}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_servico(client, headers, dominio_id, definition=None, **changes):
    body = {"dominio_id": dominio_id, "ativo": True, **copy.deepcopy(definition or catalogo.SEGUNDA_VIA), **changes}
    response = client.post("/api/v1/servicos", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()
