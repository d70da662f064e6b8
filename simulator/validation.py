"""Request body validation following the contract's schemas (errors in Portuguese)."""
from __future__ import annotations

import re
from datetime import date
from typing import Any

COMPETENCIA_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)
CNPJ_RE = re.compile(r"[0-9A-Z]{12}[0-9]{2}", re.ASCII)
VALOR_RE = re.compile(r"-?[0-9]+\.[0-9]{2}", re.ASCII)
SHA256_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
IDEMPOTENCY_KEY_MAX = 200


class BodyError(ValueError):
    """A request body that does not follow the contract (answered with 422)."""


def _require_object(value: Any, where: str) -> dict:
    """Fail unless `value` is a JSON object."""
    if not isinstance(value, dict):
        raise BodyError(f"'{where}' deve ser um objeto")
    return value


def _string(data: dict, key: str, where: str, required: bool = True, nullable: bool = False) -> None:
    """Check that data[key] is a string (or absent/null when allowed)."""
    name = f"{where}{key}"
    if key not in data:
        if required:
            raise BodyError(f"campo obrigatório ausente: '{name}'")
        return
    value = data[key]
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise BodyError(f"'{name}' deve ser texto")


def _pattern(data: dict, key: str, where: str, regex: re.Pattern, hint: str) -> None:
    """Check an already-typed string field against a full-match regex."""
    value = data.get(key)
    if isinstance(value, str) and not regex.fullmatch(value):
        raise BodyError(f"'{where}{key}' inválido: esperado {hint}")


def _date(data: dict, key: str, where: str) -> None:
    """Check a YYYY-MM-DD calendar date string, when present and not null."""
    value = data.get(key)
    if isinstance(value, str):
        _date_value(value, f"{where}{key}")


def validate_cliente(value: Any) -> None:
    """Validate the Cliente schema."""
    cliente = _require_object(value, "cliente")
    for key in ("id", "nome", "cnpj"):
        _string(cliente, key, "cliente.")
    _pattern(cliente, "cnpj", "cliente.", CNPJ_RE, "14 caracteres sem pontuação")
    _string(cliente, "codigo", "cliente.", required=False, nullable=True)


def validate_fatura(value: Any, index: int) -> None:
    """Validate one item of the Fatura schema."""
    where = f"faturas[{index}]."
    fatura = _require_object(value, where[:-1])
    for key in ("numero", "valor", "vencimento", "arquivo"):
        _string(fatura, key, where)
    _string(fatura, "emissao", where, required=False, nullable=True)
    _string(fatura, "sha256", where, required=False, nullable=True)
    _pattern(fatura, "valor", where, VALOR_RE, "decimal como '123.45'")
    _pattern(fatura, "sha256", where, SHA256_RE, "64 dígitos hexadecimais minúsculos")
    _date(fatura, "vencimento", where)
    _date(fatura, "emissao", where)
    tamanho = fatura.get("tamanho")
    if tamanho is not None and (isinstance(tamanho, bool) or not isinstance(tamanho, int)):
        raise BodyError(f"'{where}tamanho' deve ser inteiro")


def _validate_common(body: Any) -> dict:
    """Validate processo_id, competencia and cliente shared by both job bodies."""
    data = _require_object(body, "corpo")
    for key in ("processo_id", "competencia"):
        _string(data, key, "")
    if "cliente" not in data:
        raise BodyError("campo obrigatório ausente: 'cliente'")
    _pattern(data, "competencia", "", COMPETENCIA_RE, "AAAA-MM")
    validate_cliente(data["cliente"])
    return data


def validate_executar(body: Any) -> dict:
    """Validate the body of POST /executar/{operadora}."""
    return _validate_common(body)


def validate_sat(body: Any) -> dict:
    """Validate the body of POST /sat/enviar."""
    data = _validate_common(body)
    faturas = data.get("faturas")
    if "faturas" not in data:
        raise BodyError("campo obrigatório ausente: 'faturas'")
    if not isinstance(faturas, list) or not faturas:
        raise BodyError("'faturas' deve ser uma lista com pelo menos 1 item")
    for index, fatura in enumerate(faturas):
        validate_fatura(fatura, index)
    return data


def validate_idempotency_key(key: str | None) -> None:
    """Validate the optional Idempotency-Key header."""
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        raise BodyError(f"Idempotency-Key excede {IDEMPOTENCY_KEY_MAX} caracteres")


# -- a small JSON Schema (2020-12) subset, for the generic tasks' parametros ------------------
# Keywords: type (one or a list), enum, const, required, properties, additionalProperties,
# items, minItems, maxItems, minLength, maxLength, pattern (ECMA-like), minimum, maximum,
# format "date". Annotations ($schema, title, description, examples, default) are ignored.

JSON_TYPE_NAMES = {"object": "objeto", "array": "lista", "string": "texto", "integer": "inteiro",
                   "number": "número", "boolean": "booleano", "null": "nulo"}


def _is_type(value: Any, kind: str) -> bool:
    """Whether `value` is an instance of JSON type `kind` (bools are not numbers)."""
    checks = {
        "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "integer": lambda v: not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer())),
        "number": lambda v: not isinstance(v, bool) and isinstance(v, int | float),
    }
    return checks[kind](value)


def ecma_pattern(pattern: str) -> re.Pattern:
    """Compile a JSON Schema pattern: ASCII classes, and a final '$' only at the very end."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, re.ASCII)


def _check_scalar(value: Any, schema: dict, name: str) -> None:
    """String, number and format keywords."""
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise BodyError(f"'{name}' deve ter pelo menos {schema['minLength']} caractere(s)")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise BodyError(f"'{name}' deve ter no máximo {schema['maxLength']} caracteres")
        if "pattern" in schema and not ecma_pattern(schema["pattern"]).search(value):
            raise BodyError(f"'{name}' inválido: esperado o padrão {schema['pattern']}")
        if schema.get("format") == "date":
            _date_value(value, name)
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise BodyError(f"'{name}' deve ser >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise BodyError(f"'{name}' deve ser <= {schema['maximum']}")


def _date_value(value: str, name: str) -> None:
    """A YYYY-MM-DD calendar date."""
    try:
        ok = bool(DATE_RE.fullmatch(value)) and date.fromisoformat(value) is not None
    except ValueError:
        ok = False
    if not ok:
        raise BodyError(f"'{name}' inválido: esperada data AAAA-MM-DD")


def check_schema(value: Any, schema: dict, name: str) -> None:
    """Raise BodyError unless `value` follows `schema` (the subset above)."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is_type(value, kind) for kind in kinds):
            wanted = " ou ".join(JSON_TYPE_NAMES.get(kind, kind) for kind in kinds)
            raise BodyError(f"'{name}' deve ser {wanted}")
    if "const" in schema and value != schema["const"]:
        raise BodyError(f"'{name}' deve ser {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise BodyError(f"'{name}' inválido: valores aceitos {', '.join(map(str, schema['enum']))}")
    _check_scalar(value, schema, name)
    if isinstance(value, dict):
        _check_object(value, schema, name)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise BodyError(f"'{name}' deve ter pelo menos {schema['minItems']} item(ns)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise BodyError(f"'{name}' deve ter no máximo {schema['maxItems']} itens")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                check_schema(item, schema["items"], f"{name}[{index}]")


def _check_object(value: dict, schema: dict, name: str) -> None:
    """required, properties and additionalProperties."""
    for key in schema.get("required", ()):
        if key not in value:
            raise BodyError(f"campo obrigatório ausente: '{name}.{key}'")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            check_schema(item, properties[key], f"{name}.{key}")
        elif extra is False:
            raise BodyError(f"campo não previsto: '{name}.{key}'")
        elif isinstance(extra, dict):
            check_schema(item, extra, f"{name}.{key}")


TAREFA_BODY_SCHEMA = {
    "type": "object",
    "required": ["parametros"],
    "properties": {
        "parametros": {"type": "object"},
        "operadora": {"type": ["string", "null"]},
        "runtime_arguments": {"type": "array", "items": {"type": "string"}},
        "runtime_env": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def validate_tarefa(body: Any, parametros_schema: dict) -> dict:
    """Validate the body of POST /tarefas/{tarefa} and its parametros against the task's schema."""
    data = _require_object(body, "corpo")
    if "parametros" not in data:
        raise BodyError("campo obrigatório ausente: 'parametros'")
    for key, schema in TAREFA_BODY_SCHEMA["properties"].items():
        if key in data:
            check_schema(data[key], schema, key)
    check_schema(data["parametros"], parametros_schema, "parametros")
    return data
