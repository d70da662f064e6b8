"""API v1: roles (built-in and custom) and the permission catalogue, with the rules of the /papeis pages."""
from flask import g, jsonify, url_for

from apps.api.blueprint import bp
from apps.api.helpers import json_body, with_location
from apps.auth import roles
from apps.auth.permissions import BUILTIN_ROLES, PERMISSIONS
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.types import db

CREATE_FIELDS = {"codigo": str, "nome": str, "descricao": (str, type(None)), "permissoes": list}
UPDATE_FIELDS = {"nome": str, "descricao": (str, type(None)), "permissoes": list, "ativo": bool}


def papel_json(role: roles.ResolvedRole) -> dict:
    return {"codigo": role.code, "nome": role.nome, "descricao": role.descricao or None,
            "permissoes": [code for code in PERMISSIONS if code in role.permissions],
            "builtin": role.builtin, "ativo": role.ativo, "usuarios": role.usuarios, "resumo": role.summary}


def _checked(data: dict, fields: dict) -> dict:
    unknown = {k: "campo somente leitura" if k in ("codigo", "builtin", "usuarios", "resumo") else "campo desconhecido"
               for k in data if k not in fields}
    if unknown:
        raise ApiError(422, "Campos não aceitos: " + ", ".join(sorted(unknown)) + ".", unknown)
    wrong = {k: "tipo inválido" for k, t in fields.items() if k in data and not isinstance(data[k], t)}
    if wrong:
        raise ApiError(400, "Tipos inválidos no corpo JSON.", wrong)
    return data


def _one(codigo: str) -> roles.ResolvedRole:
    role = next((r for r in roles.all_roles() if r.code == codigo), None)
    if role is None:
        raise ApiError(404, "Papel não encontrado.")
    return role


def _custom(codigo: str):
    if codigo in BUILTIN_ROLES:
        raise ApiError(403, "Os papéis do sistema não podem ser alterados nem excluídos.")
    papel = roles.get_custom(codigo)
    if papel is None:
        raise ApiError(404, "Papel não encontrado.")
    return papel


@bp.get("/v1/permissoes")
@requires("papel.ler")
def api_permissoes_list():
    """The permission catalogue: code, description and group of each."""
    return jsonify({"items": [{"codigo": p.code, "descricao": p.descricao, "grupo": p.grupo}
                              for p in PERMISSIONS.values()]})


@bp.get("/v1/papeis")
@requires("papel.ler")
def api_papeis_list():
    """Every role: built-in ones first, then custom ones by nome."""
    return jsonify({"items": [papel_json(r) for r in roles.all_roles()]})


@bp.get("/v1/papeis/<codigo>")
@requires("papel.ler")
def api_papel_get(codigo):
    """One role."""
    return jsonify(papel_json(_one(codigo)))


@bp.post("/v1/papeis")
@requires("papel.gerenciar")
def api_papeis_create():
    """Create a custom role {"codigo", "nome", "descricao"?, "permissoes"}: 201 with the record."""
    data = _checked(json_body(), CREATE_FIELDS)
    missing = {k: "obrigatório" for k in ("codigo", "nome", "permissoes") if k not in data}
    if missing:
        raise ApiError(422, "Informe codigo, nome e permissoes.", missing)
    papel = roles.create_papel(data["codigo"], data["nome"], data.get("descricao"), data["permissoes"], by=g.api_user)
    db.session.commit()
    return with_location(papel_json(_one(papel.codigo)), url_for("api.api_papel_get", codigo=papel.codigo))


@bp.patch("/v1/papeis/<codigo>")
@requires("papel.gerenciar")
def api_papel_update(codigo):
    """Change a custom role's nome, descricao, permissoes and/or ativo (its holders see it at their next request)."""
    papel = _custom(codigo)
    data = _checked(json_body(), UPDATE_FIELDS)
    roles.update_papel(papel, nome=data.get("nome", papel.nome), descricao=data.get("descricao", papel.descricao),
                       permissoes=data.get("permissoes", papel.permissoes), ativo=data.get("ativo", papel.ativo),
                       by=g.api_user)
    db.session.commit()
    return jsonify(papel_json(_one(papel.codigo)))


@bp.delete("/v1/papeis/<codigo>")
@requires("papel.gerenciar")
def api_papel_delete(codigo):
    """Delete a custom role nobody holds (409 while some user holds it)."""
    roles.delete_papel(_custom(codigo), by=g.api_user)
    db.session.commit()
    return "", 204
