"""API v1 tokens: POST /api/v1/auth/token, /api/v1/auth/refresh and /api/v1/auth/revogar-tokens."""
from flask import g, jsonify

from apps.api.blueprint import bp
from apps.api.helpers import json_body
from apps.auth import services
from apps.auth.limits import LoginThrottled, refresh_limit, throttled_response
from apps.auth.policy import PUBLIC, SIGNED_IN, requires
from apps.auth.tokens import issue_access, issue_refresh, revoke_all, user_from_token
from apps.core import audit
from apps.core.errors import ApiError
from apps.core.types import db


@bp.post("/v1/auth/token")
@requires(PUBLIC)
def auth_token():
    """Exchange username and password for an access and a refresh token (limits: apps/auth/limits.py)."""
    data = json_body()
    username, password = data.get("username"), data.get("password")
    missing = {k: "obrigatório" for k in ("username", "password") if not isinstance(data.get(k), str) or not data.get(k)}
    if missing:
        raise ApiError(400, "Informe username e password.", missing)
    try:
        user = services.authenticate(username, password)
    except LoginThrottled as exc:
        return throttled_response(exc)
    if user is None:
        raise ApiError(401, "Usuário ou senha incorretos.")
    return jsonify(access=issue_access(user), refresh=issue_refresh(user))


@bp.post("/v1/auth/refresh")
@requires(PUBLIC)
@refresh_limit
def auth_refresh():
    """Exchange a valid refresh token for a new access token."""
    data = json_body()
    token = data.get("refresh")
    if not isinstance(token, str) or not token:
        raise ApiError(400, "Informe o token de renovação (refresh).", {"refresh": "obrigatório"})
    user = user_from_token(token, "refresh")
    return jsonify(access=issue_access(user))


@bp.post("/v1/auth/revogar-tokens")
@requires(SIGNED_IN)
def auth_revogar_tokens():
    """Revoke every access and refresh token of the caller (this one included); sessions stay."""
    user = g.api_user
    revoke_all(user)
    audit.record("tokens_revogados", entity=user, user=user)
    db.session.commit()
    return jsonify(mensagem="Todos os seus tokens da API foram revogados. Peça um novo em /api/v1/auth/token.")
