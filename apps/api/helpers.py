"""Shared pieces of the JSON API: body parsing, list envelopes, lookups."""
from flask import jsonify, request

from apps.core.errors import ApiError
from apps.core.pagination import paginate
from apps.core.types import get_by_id, parse_uuid


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "Corpo JSON ausente ou inválido: envie um objeto JSON.")
    if _has_nul(data):
        raise ApiError(400, "Caracteres inválidos (NUL) no corpo JSON.")
    return data


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def get_or_404(model, object_id, label="Registro"):
    obj = get_by_id(model, object_id)
    if obj is None:
        raise ApiError(404, f"{label} não encontrado.")
    return obj


def with_location(body: dict, location: str, status: int = 201):
    """A JSON response pointing at the resource it created (201) or started (202)."""
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = location
    return response


def list_envelope(query, serialize, total: int | None = None):
    """{"items", "total", "page", "pages"} for a select(); per_page from ?per_page (max 200)."""
    per_page = request.args.get("per_page", type=int) or None
    page = paginate(query, per_page=per_page, total=total)
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
