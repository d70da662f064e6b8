"""API v1: users for admins, with the rules of the /usuarios pages; never a password hash or a token."""
import re
from datetime import date

from email_validator import EmailNotValidError, validate_email
from flask import g, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, json_body, list_envelope, with_location
from apps.aprovacoes import tarefas
from apps.auth import roles, services
from apps.auth.models import Role, User
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.records import contains
from apps.core.types import db
from apps.notificacoes import preferences

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")  # the rule of UserCreateForm.username
MAX_NOME = 120
CREATE_FIELDS = {"username": str, "email": str, "password": str, "role": str, "nome": (str, type(None)),
                 "break_glass": bool}
UPDATE_FIELDS = {"email": str, "password": str, "role": str, "nome": (str, type(None)), "ativo": bool,
                 "break_glass": bool, "telegram_chat_id": (str, type(None)), "whatsapp": (str, type(None)),
                 "notificacoes": dict, "ausente_ate": (str, type(None))}
NOTIFICACOES_FIELDS = ("telegram_chat_id", "whatsapp", "notificacoes")
TYPE_LABELS = {str: "texto", bool: "booleano (true/false)", dict: "objeto"}
EMPTY_PASSWORD = "Informe a senha."  # noqa: S105 (a message, not a password)


def usuario_json(user) -> dict:
    return {"id": str(user.id), "username": user.username, "email": user.email, "nome": user.nome,
            "role": user.role, "ativo": user.ativo, "break_glass": user.break_glass,
            "ausente_ate": user.ausente_ate.isoformat() if user.ausente_ate else None,
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            "created_at": user.created_at.isoformat() if user.created_at else None,
            "updated_at": user.updated_at.isoformat() if user.updated_at else None,
            **preferences.user_fields(user)}


def _checked(data: dict, fields: dict) -> dict:
    """Right JSON types (400), no unknown or read-only key (422), and the forms' rules on each value (422)."""
    wrong = {k: TYPE_LABELS[t if isinstance(t, type) else t[0]] + " esperado"
             for k, t in fields.items() if k in data and not isinstance(data[k], t)}
    if wrong:
        raise ApiError(400, "Tipos inválidos no corpo JSON.", wrong)
    unknown = {k: "campo somente leitura" if k in ("id", "username") else "campo desconhecido"
               for k in data if k not in fields}
    if unknown:
        raise ApiError(422, "Campos não aceitos: " + ", ".join(sorted(unknown)) + ".", unknown)
    problems = {}
    if "username" in data and not USERNAME.match(data["username"].strip()):
        problems["username"] = "Use de 1 a 80 letras, números, ponto, hífen ou sublinhado."
    if "email" in data:
        try:
            validate_email(data["email"].strip(), check_deliverability=False)
        except EmailNotValidError:
            problems["email"] = "E-mail inválido."
    if "role" in data and (not isinstance(data["role"], str) or roles.resolve(data["role"]) is None):
        problems["role"] = "um código de papel (GET /api/v1/papeis): " + ", ".join(Role.ALL) + " ou um personalizado"
    if (data.get("nome") or "") and len(data["nome"]) > MAX_NOME:
        problems["nome"] = f"No máximo {MAX_NOME} caracteres."
    if "password" in data and not data["password"]:
        problems.update(password=EMPTY_PASSWORD)
    if problems:
        raise ApiError(422, "Dados do usuário inválidos.", problems)
    return data


def _date(value):
    """'AAAA-MM-DD' as a date, None for null; 422 otherwise."""
    if value is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ApiError(422, "Data inválida: use AAAA-MM-DD (ou null).", {"ausente_ate": "data AAAA-MM-DD ou null"})


def _commit_or_error():
    try:
        db.session.commit()
    except IntegrityError as exc:  # a concurrent request took the username or e-mail meanwhile
        db.session.rollback()
        raise ApiError(409, "Nome de usuário ou e-mail já em uso.") from exc


@bp.get("/v1/usuarios")
@requires("usuario.gerenciar")
def api_usuarios_list():
    """Users by username, searched by ?q in username, e-mail and nome, paginated."""
    query = select(User).order_by(User.busca, User.username, User.id)  # the username's key first: Portuguese order
    q = (request.args.get("q") or "").strip()
    if q:
        query = query.where(contains(q, keys=(User.busca,)))
    return jsonify(list_envelope(query, usuario_json))


@bp.post("/v1/usuarios")
@requires("usuario.gerenciar")
def api_usuarios_create():
    """Create a user {"username", "email", "password", "role"?, "nome"?}: 201 with the record."""
    data = _checked(json_body(), CREATE_FIELDS)
    missing = {k: "obrigatório" for k in ("username", "email", "password") if k not in data}
    if missing:
        raise ApiError(422, "Informe username, email e password.", missing)
    user = services.create_user(data["username"], data["email"], data["password"],
                                role=data.get("role", Role.VISUALIZADOR), nome=data.get("nome") or None,
                                break_glass=data.get("break_glass", False), by=g.api_user)
    _commit_or_error()
    return with_location(usuario_json(user), url_for("api.api_usuario_get", user_id=user.id))


@bp.get("/v1/usuarios/<user_id>")
@requires("usuario.gerenciar")
def api_usuario_get(user_id):
    """One user."""
    return jsonify(usuario_json(get_or_404(User, user_id, "Usuário")))


@bp.patch("/v1/usuarios/<user_id>")
@requires("usuario.gerenciar")
def api_usuario_update(user_id):
    """Change email, nome, role, ativo and/or set a new password (role changes, deactivation and a new
    password end the user's sessions and tokens)."""
    user = get_or_404(User, user_id, "Usuário")
    data = _checked(json_body(), UPDATE_FIELDS)
    preferences.apply_user_fields(user, data, by=g.api_user)
    if "ausente_ate" in data:
        tarefas.definir_ausencia(user, _date(data["ausente_ate"]), by=g.api_user)
    if data.keys() - {"password", "ausente_ate", *NOTIFICACOES_FIELDS}:
        services.update_user(user, email=data.get("email", user.email), role=data.get("role", user.role),
                             nome=(data["nome"] or None) if "nome" in data else user.nome,
                             ativo=data.get("ativo", user.ativo), break_glass=data.get("break_glass"),
                             by=g.api_user)
    if "password" in data:
        services.reset_password(user, data["password"], by=g.api_user)
    _commit_or_error()
    return jsonify(usuario_json(user))
