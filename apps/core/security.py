"""Request hooks: Bearer identity on API routes, CSRF for everything else, access policy."""
from flask import g, request
from werkzeug.exceptions import Unauthorized

from apps.api.tokens import TokenError, user_from_token
from apps.auth.policy import PUBLIC, enforce_access, is_api_request, view_level
from apps.extensions import csrf

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def load_api_identity():
    """On /api/ routes, a Bearer header identifies the caller (and replaces CSRF)."""
    if not is_api_request():
        return
    token = _bearer_token()
    if token is None:
        return
    try:
        g.api_user = user_from_token(token, "access")
    except TokenError as exc:
        raise Unauthorized(str(exc)) from exc


def protect_csrf():
    """Cookie-authenticated writes need a CSRF token; Bearer-authenticated API calls do not."""
    if request.method not in UNSAFE_METHODS or "api_user" in g:
        return
    if is_api_request() and view_level(request.endpoint) == PUBLIC:
        return  # token endpoints: credentials travel in the body, no cookie is trusted
    csrf.protect()


def init_app(app):
    app.before_request(load_api_identity)
    app.before_request(protect_csrf)
    app.before_request(enforce_access)
