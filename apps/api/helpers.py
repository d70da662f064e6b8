"""Shared pieces of the JSON API: body parsing, query arguments, list envelopes, lookups."""
import json
import re

from flask import jsonify, request

from apps.core.errors import ApiError
from apps.core.pagination import MAX_PAGE, paginate, paginate_seek
from apps.core.types import get_by_id, parse_uuid

MAX_JSON_DEPTH = 32        # far beyond any body of this API; json.loads recurses once per level
MAX_PER_PAGE = 200
MAX_INT_ARG = 2**31 - 1    # the columns these arguments compare with are 32-bit integers
_DIGITS = re.compile(r"[0-9]{1,19}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_BODY = "Corpo JSON ausente ou inválido: envie um objeto JSON."


def _reject_constant(name):
    raise ValueError(f"constante {name} não é JSON válido")


def _too_deep(raw: bytes) -> bool:
    """True when arrays/objects nest deeper than MAX_JSON_DEPTH (brackets inside strings ignored)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def json_body() -> dict:
    """The request's JSON object, or a 400 in Portuguese that says what is wrong.

    Parsed here rather than by request.get_json: a body nested 100,000 levels deep makes json.loads
    raise RecursionError (a 500), and "\\ud800" decodes into a str that breaks later on encode or in
    the database; both are refused before they reach a view.
    """
    if not request.is_json:
        raise ApiError(400, _BAD_BODY)
    raw = request.get_data(cache=True)
    if _too_deep(raw):
        raise ApiError(400, f"Corpo JSON aninhado demais (máximo de {MAX_JSON_DEPTH} níveis).")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ApiError(400, _BAD_BODY) from None
    if not isinstance(data, dict):
        raise ApiError(400, _BAD_BODY)
    problem = _text_problem(data)
    if problem:
        raise ApiError(400, problem)
    return data


def optional_json_body() -> dict:
    """The JSON object sent, {} when there is no body; 400 for anything that is not an object."""
    if not request.get_data(cache=True):
        return {}
    return json_body()


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _text_problem(value) -> str | None:
    """Why the texts of a parsed body cannot be stored (NUL, lone surrogates), or None."""
    for text in _strings(value):
        if "\x00" in text:
            return "Caracteres inválidos (NUL) no corpo JSON."
        if _SURROGATE.search(text):
            return "Texto inválido no corpo JSON: caractere Unicode incompleto (surrogate isolado)."
    return None


def get_or_404(model, object_id, label="Registro"):
    """The row, or a 404 naming what was not found ("Fatura não encontrada.", "Processo não encontrado.")."""
    obj = get_by_id(model, object_id)
    if obj is None:
        ending = "a" if label.endswith(("a", "ção")) else "o"  # the label's gender: Fatura, Execução, Operadora
        raise ApiError(404, f"{label} não encontrad{ending}.")
    return obj


def with_location(body: dict, location: str, status: int = 201):
    """A JSON response pointing at the resource it created (201) or started (202)."""
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = location
    return response


def int_arg(name, default=None, minimum=0, maximum=MAX_INT_ARG):
    """?name as an int within [minimum, maximum], `default` when absent; 400 in Portuguese otherwise."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    number = int(value) if _DIGITS.fullmatch(value) else None
    if number is None or not minimum <= number <= maximum:
        raise ApiError(400, f"Parâmetro '{name}' deve ser um inteiro entre {minimum} e {maximum}.",
                       {name: f"inteiro entre {minimum} e {maximum}"})
    return number


def list_envelope(query, serialize, total: int | None = None):
    """{"items", "total", "page", "pages"} for a select(); ?page (≤ 1,000,000) and ?per_page (≤ 200)."""
    return _envelope(paginate(query, per_page=_per_page_arg(), total=total), serialize)


def seek_envelope(fetch, serialize, total: int):
    """list_envelope for a list module's `fetch(start, per_page, ref)` (apps.core.pagination.paginate_seek): a
    deep page is found over the list's covering index from the nearer end, not by an OFFSET over its joins."""
    return _envelope(paginate_seek(fetch, total, per_page=_per_page_arg(), with_ref=False), serialize)


def _per_page_arg():
    """?per_page checked (?page too: refused here, the pagination reads it again)."""
    int_arg("page", 1, minimum=1, maximum=MAX_PAGE)
    return int_arg("per_page", None, minimum=1, maximum=MAX_PER_PAGE)


def _envelope(page, serialize) -> dict:
    return {"items": [serialize(x) for x in page.items], "total": page.total, "page": page.page, "pages": page.pages}


def bool_arg(name):
    """?name=true|false|1|0 as a bool, None when absent; 400 when it is something else."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in {"true", "1", "sim", "yes"}:
        return True
    if lowered in {"false", "0", "nao", "não", "no"}:
        return False
    raise ApiError(400, f"Parâmetro '{name}' deve ser true ou false.", {name: "valor booleano esperado"})


def uuid_arg(name):
    value = request.args.get(name)
    if not value:
        return None
    uid = parse_uuid(value)
    if uid is None:
        raise ApiError(400, f"Parâmetro '{name}' não é um identificador válido.", {name: "UUID esperado"})
    return uid


def uuid_list(value, name="ids", maximum=1000) -> list:
    """A JSON list of UUID strings (deduplicated, order kept), or a 422 naming the field."""
    if not isinstance(value, list) or not value:
        raise ApiError(422, "Informe uma lista de identificadores.", {name: "lista de UUIDs, não vazia"})
    if len(value) > maximum:
        raise ApiError(422, f"No máximo {maximum} identificadores por vez.", {name: f"até {maximum} itens"})
    parsed = [parse_uuid(v) if isinstance(v, str) else None for v in value]
    if any(uid is None for uid in parsed):
        raise ApiError(422, "Identificador inválido na lista.", {name: "lista de UUIDs"})
    return list(dict.fromkeys(parsed))
