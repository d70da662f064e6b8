"""What a serviço's definition must look like: its form (form_schema_json) and its run (run_template_json).

Both are checked against JSON Schemas kept beside this module (form_schema.json, run_schema.json), then
against what a schema cannot say: keys unique, each regex compiles, min ≤ max, a select has options, and
every `{placeholder}` of the run template names a field (or a key of `defaults`). Messages are Portuguese
and keyed by the definition's field, so a page shows them next to its textarea and the API in `fields`.
"""
import json
import re
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

HERE = Path(__file__).resolve().parent
FORM_VALIDATOR = Draft202012Validator(json.loads((HERE / "form_schema.json").read_text("utf-8")))
RUN_VALIDATOR = Draft202012Validator(json.loads((HERE / "run_schema.json").read_text("utf-8")))
FIELD_TYPES = ("text", "number", "date", "month", "select", "checkbox", "cnpj", "cliente", "operadora")
# `{campo}` or `{campo.atributo}` (a cliente's cnpj, nome, codigo, id, operadora; an operadora's codigo, nome, id).
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})(?:\.([a-z_]{1,20}))?\}")
ATTRIBUTES = {"cliente": {"id", "nome", "cnpj", "codigo", "operadora"}, "operadora": {"id", "codigo", "nome"}}
DOWNLOAD = "download"  # the mapping that runs the invoice download of a cliente and competência
DOWNLOAD_PARAMS = ("cliente", "competencia")
RESERVED_KEYS = {"csrf_token", "submit"}
FORM = "form_schema_json"
RUN = "run_template_json"


def _where(error) -> str:
    path = "/".join(str(part) for part in error.absolute_path)
    return path or "raiz"


def _message(error) -> str:
    """A JSON Schema error in Portuguese."""
    kind, value = error.validator, error.validator_value
    if kind == "required":
        missing = [name for name in value if isinstance(error.instance, dict) and name not in error.instance]
        return f"falta o campo obrigatório '{missing[0] if missing else value[0]}'"
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {}))) if isinstance(
            error.instance, dict) else []
        return f"campo não previsto: '{extra[0]}'" if extra else "campo não previsto"
    if kind == "enum":
        return f"valor {json.dumps(error.instance, ensure_ascii=False)} não aceito; use um de: {', '.join(map(str, value))}"
    if kind == "type":
        names = {"string": "texto", "number": "número", "integer": "inteiro", "boolean": "booleano",
                 "object": "objeto", "array": "lista", "null": "null"}
        wanted = value if isinstance(value, list) else [value]
        return "tipo inválido; esperado " + " ou ".join(names.get(w, w) for w in wanted)
    if kind == "pattern":
        return f"formato inválido ({json.dumps(error.instance, ensure_ascii=False)[:60]})"
    if kind in ("minItems", "minLength", "minProperties"):
        return "não pode ser vazio"
    if kind in ("maxItems", "maxLength", "maxProperties"):
        return f"grande demais (máximo {value})"
    if kind == "oneOf":
        return "opção inválida: use um texto ou {\"value\", \"label\"}"
    return "valor inválido"


def _schema_error(validator, document, what) -> str | None:
    error = best_match(validator.iter_errors(document))
    if error is None:
        return None
    return f"{what} inválido em {_where(error)}: {_message(error)}."


def _field_problem(index, field) -> str | None:
    """What a schema cannot say about one field, or None."""
    where = f"fields/{index} ('{field['key']}')"
    rules = field.get("validation") or {}
    if field["key"] in RESERVED_KEYS:
        return f"{where}: a chave '{field['key']}' é reservada."
    if "regex" in rules:
        try:
            re.compile(rules["regex"])
        except (re.error, RecursionError, OverflowError) as exc:
            return f"{where}: a expressão regular não compila ({exc})."
    if field["type"] == "select" and not rules.get("options"):
        return f"{where}: um campo select precisa de validation.options."
    low, high = rules.get("min"), rules.get("max")
    if low is not None and high is not None:
        try:
            if type(low) is not type(high) or low > high:
                return f"{where}: validation.min é maior que validation.max."
        except TypeError:
            return f"{where}: validation.min e validation.max devem ser do mesmo tipo."
    return None


def check_form(form_schema) -> str | None:
    """Why `form_schema` is refused, or None."""
    problem = _schema_error(FORM_VALIDATOR, form_schema, "Esquema do formulário")
    if problem:
        return problem
    seen = set()
    for index, field in enumerate(form_schema["fields"]):
        if field["key"] in seen:
            return f"Esquema do formulário inválido: a chave '{field['key']}' aparece mais de uma vez."
        seen.add(field["key"])
        problem = _field_problem(index, field)
        if problem:
            return f"Esquema do formulário inválido em {problem}"
    return None


def placeholders(value):
    """(name, attribute or None) of every `{placeholder}` in a template value (texts only)."""
    if isinstance(value, str):
        return PLACEHOLDER.findall(value)
    return []


def template_values(mapping: dict):
    """(where, value) of every templated value of a mapping."""
    for name, value in (mapping.get("parametros") or {}).items():
        yield f"parametros.{name}", value
    for index, value in enumerate(mapping.get("runtime_arguments") or []):
        yield f"runtime_arguments/{index}", value
    for name, value in (mapping.get("runtime_env") or {}).items():
        yield f"runtime_env.{name}", value


def check_run(run_template, form_schema) -> str | None:
    """Why `run_template` is refused (given a valid `form_schema`, or None when the form is invalid)."""
    problem = _schema_error(RUN_VALIDATOR, run_template, "Modelo de execução")
    if problem:
        return problem
    types = {f["key"]: f["type"] for f in (form_schema or {}).get("fields", [])}
    defaults = run_template.get("defaults") or {}
    mapping = run_template["mapping"]
    for where, value in template_values(mapping):
        for name, attribute in placeholders(value):
            if name not in types and name not in defaults:
                return f"Modelo de execução inválido em mapping.{where}: {{{name}}} não corresponde a nenhum campo."
            if attribute and attribute not in ATTRIBUTES.get(types.get(name), set()):
                return (f"Modelo de execução inválido em mapping.{where}: o campo '{name}' não tem o atributo "
                        f"'{attribute}'.")
    if mapping["tarefa"] == DOWNLOAD:
        params = mapping.get("parametros") or {}
        missing = [name for name in DOWNLOAD_PARAMS if name not in params]
        if missing:
            return ("Modelo de execução inválido: a tarefa 'download' precisa de parametros "
                    + " e ".join(f"'{m}'" for m in missing) + " (o cliente e a competência AAAA-MM).")
    return None


def check_definition(form_schema, run_template) -> dict:
    """{field: message} of what is wrong with a definition ({} when it is good)."""
    errors = {}
    form_problem = check_form(form_schema)
    if form_problem:
        errors[FORM] = form_problem
    run_problem = check_run(run_template, None if form_problem else form_schema)
    if run_problem and not (form_problem and "não corresponde a nenhum campo" in run_problem):
        errors[RUN] = run_problem
    return errors
