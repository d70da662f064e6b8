"""Ready definitions of portal serviços mapped to the tasks of the RPA simulator (simulator/tasks.py):
what the demo data seeds, and a starting point for an admin."""
from apps.auth.models import Role

TODOS = list(Role.ALL)
CLIENTE = {"key": "cliente", "label": "Cliente", "type": "cliente", "required": True,
           "helpText": "O CNPJ e a operadora vêm do cadastro do cliente."}

SEGUNDA_VIA = {
    "nome": "Segunda via de fatura",
    "descricao": "Emite a segunda via (PDF) da fatura de um cliente para uma competência.",
    "papeis": TODOS,
    "form_schema_json": {"fields": [
        CLIENTE,
        {"key": "competencia", "label": "Competência", "type": "month", "required": True,
         "helpText": "Mês da fatura (AAAA-MM)."},
    ]},
    "run_template_json": {"mapping": {"tarefa": "segunda_via_fatura", "parametros": {
        "operadora": "{cliente.operadora}", "cnpj": "{cliente.cnpj}", "competencia": "{competencia}"}}},
}

CONSULTA_DEBITOS = {
    "nome": "Consulta de débitos",
    "descricao": "Lista os débitos em aberto de um cliente na operadora (CSV e totais).",
    "papeis": [Role.OPERADOR, Role.ADMIN],
    "form_schema_json": {"fields": [
        CLIENTE,
        {"key": "somente_vencidos", "label": "Somente débitos vencidos", "type": "checkbox", "default": False},
    ]},
    "run_template_json": {"mapping": {"tarefa": "consulta_debitos", "parametros": {
        "operadora": "{cliente.operadora}", "cnpj": "{cliente.cnpj}", "somente_vencidos": "{somente_vencidos}"},
        "runtime_arguments": ["--origem=portal"]}},
}

REENVIO_SAT = {
    "nome": "Reenvio de protocolo ao SAT",
    "descricao": "Reenvia ao SAT as faturas de um protocolo já registrado.",
    "papeis": [Role.OPERADOR, Role.ADMIN],
    "form_schema_json": {"fields": [
        {"key": "protocolo", "label": "Protocolo SAT", "type": "text", "required": True,
         "helpText": "No formato SAT-AAAA-NNNNNN.", "validation": {"regex": "SAT-\\d{4}-\\d{6}"}},
        {"key": "motivo", "label": "Motivo do reenvio", "type": "text", "validation": {"max": 200}},
    ]},
    "run_template_json": {"mapping": {"tarefa": "reenvio_protocolo_sat",
                                      "parametros": {"protocolo": "{protocolo}", "motivo": "{motivo}"}}},
}

DOWNLOAD_COMPETENCIA = {
    "nome": "Download de faturas de uma competência",
    "descricao": "Baixa as faturas de um cliente numa competência passada, como o ciclo mensal faz.",
    "papeis": [Role.OPERADOR, Role.ADMIN],
    "form_schema_json": {"fields": [
        CLIENTE,
        {"key": "competencia", "label": "Competência", "type": "month", "required": True},
    ]},
    "run_template_json": {"mapping": {"tarefa": "download",
                                      "parametros": {"cliente": "{cliente}", "competencia": "{competencia}"}}},
}

SERVICOS = (SEGUNDA_VIA, CONSULTA_DEBITOS, REENVIO_SAT, DOWNLOAD_COMPETENCIA)
DOMINIO = {"slug": "faturas-e-debitos", "nome": "Faturas e débitos", "ordem": 1}
