"""Who may call what: one decorator names a route's access level, one hook enforces it.

Every view must carry `@access(...)`; a view without one is refused (fail closed), and the
URL-map test makes a new route without a level fail the suite.
"""
from flask import current_app, g, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import Forbidden, Unauthorized

from apps.auth.models import Role
from apps.core.errors import is_api_request, is_bearer_only

PUBLIC = "public"      # anyone, logged in or not
VIEW = "view"          # any active user (Visualizador and up)
OPERATE = "operate"    # Operador and Admin: run robots, approve, reject, edit records
ADMIN = "admin"        # Admin only: users, RPA settings, the global token, queues
LEVELS = (PUBLIC, VIEW, OPERATE, ADMIN)

_ROLE_LEVELS = {
    Role.VISUALIZADOR: {VIEW},
    Role.OPERADOR: {VIEW, OPERATE},
    Role.ADMIN: {VIEW, OPERATE, ADMIN},
}


def access(level: str):
    """Declare the access level of a view (checked before the view runs)."""
    if level not in LEVELS:
        raise ValueError(f"unknown access level {level!r}")

    def decorator(view):
        view.access_level = level
        return view

    return decorator


def allows(user, level: str) -> bool:
    """True when `user` may use a route of `level`."""
    if level == PUBLIC:
        return True
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return level in _ROLE_LEVELS.get(user.role, set())


def can(level: str) -> bool:
    """Template helper: may the current person do things of `level`?"""
    return allows(current_identity(), level)


def current_identity():
    """The caller: the Bearer-token user on API routes, else the session user, else None."""
    if "api_user" in g:
        return g.api_user
    if is_bearer_only():
        return None  # API v1 and GraphQL trust Bearer tokens only, never the session cookie
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def view_level(endpoint: str | None):
    """The declared level of an endpoint's view (static files are public)."""
    if endpoint is None:
        return PUBLIC
    if endpoint == "static" or endpoint.endswith(".static"):
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "access_level", None)


def enforce_access():
    """before_request hook: refuse the request unless the caller's role allows the route."""
    level = view_level(request.endpoint)
    if level is None:
        current_app.logger.error("route without access level refused: %s", request.endpoint)
        raise Forbidden("Rota sem regra de acesso.")
    if level == PUBLIC:
        return None
    user = current_identity()
    if user is None:
        if is_api_request():
            raise Unauthorized("Autenticação necessária.")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not allows(user, level):
        raise Forbidden("Você não tem permissão para esta ação.")
    return None
