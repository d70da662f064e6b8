"""API v1 tokens: POST /api/v1/auth/token and /api/v1/auth/refresh."""
from flask import jsonify

from apps.api import bp
from apps.api.helpers import json_body
from apps.api.tokens import TokenError, issue_access, issue_refresh, user_from_token
from apps.auth import services
from apps.auth.limits import login_limits
from apps.auth.policy import PUBLIC, access
from apps.core.errors import ApiError


@bp.post("/v1/auth/token")
@access(PUBLIC)
@login_limits
def auth_token():
    """Exchange username and password for an access and a refresh token."""
    data = json_body()
    username, password = data.get("username"), data.get("password")
    missing = {k: "obrigatório" for k in ("username", "password") if not isinstance(data.get(k), str) or not data.get(k)}
    if missing:
        raise ApiError(400, "Informe username e password.", missing)
    user = services.authenticate(username, password)
    if user is None:
        raise ApiError(401, "Usuário ou senha incorretos.")
    return jsonify(access=issue_access(user), refresh=issue_refresh(user))


@bp.post("/v1/auth/refresh")
@access(PUBLIC)
def auth_refresh():
    """Exchange a valid refresh token for a new access token."""
    data = json_body()
    token = data.get("refresh")
    if not isinstance(token, str) or not token:
        raise ApiError(400, "Informe o token de renovação (refresh).", {"refresh": "obrigatório"})
    try:
        user = user_from_token(token, "refresh")
    except TokenError as exc:
        raise ApiError(401, str(exc)) from exc
    return jsonify(access=issue_access(user))
