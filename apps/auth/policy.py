"""Who may call what: each view names the permission it needs, one hook enforces it.

Every view carries `@requires("processo.aprovar")` (a code of apps/auth/permissions.py), or
`@requires(PUBLIC)` (anyone) or `@requires(SIGNED_IN)` (any active user: logging out, revoking
one's own tokens). A view without one is refused (fail closed), and the URL-map test makes a new
route without a permission fail the suite. A role is a named set of permissions
(apps/auth/roles.py resolves a user's, custom roles once per request).
"""
from flask import current_app, g, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import Forbidden, Unauthorized

from apps.auth import roles
from apps.auth.permissions import PERMISSIONS
from apps.core.errors import is_api_request, is_bearer_only

PUBLIC = "public"        # anyone, logged in or not
SIGNED_IN = "signed_in"  # any active user, whatever their role grants
MARKERS = (PUBLIC, SIGNED_IN)

def requires(*permissions: str):
    """Declare what a view needs: one permission (or PUBLIC / SIGNED_IN), checked before it runs.

    A view that does one of two things (the bulk form: approve or run) names both; the caller
    needs either, and the view asks with `require()` for the one its action needs."""
    if not permissions or any(p not in PERMISSIONS and p not in MARKERS for p in permissions):  # a typo fails at import
        raise ValueError(f"unknown permission in {permissions!r}")
    if len(permissions) > 1 and any(p in MARKERS for p in permissions):
        raise ValueError("PUBLIC and SIGNED_IN stand alone")

    def decorator(view):
        view.permissions = frozenset(permissions)
        return view

    return decorator


def has_permission(user, permission: str) -> bool:
    """True when `user` holds `permission` (or it is PUBLIC / SIGNED_IN and they qualify)."""
    if permission == PUBLIC:
        return True
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if permission == SIGNED_IN:
        return True
    return permission in roles.permissions_of(user)


def can(permission: str) -> bool:
    """Template helper: may the current person do `permission`?"""
    return has_permission(current_identity(), permission)


def require(*permissions: str) -> None:
    """Inside a view: refuse (403) unless the caller holds one of `permissions`."""
    if not any(has_permission(current_identity(), p) for p in permissions):
        raise Forbidden("Você não tem permissão para esta ação.")


def current_identity():
    """The caller: the Bearer-token user on API routes, else the session user, else None."""
    if "api_user" in g:
        return g.api_user
    if is_bearer_only():
        return None  # API v1 and GraphQL trust Bearer tokens only, never the session cookie
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def view_permissions(endpoint: str | None) -> frozenset | None:
    """What an endpoint's view declared (static files are public); None when it declared nothing."""
    if endpoint is None or endpoint == "static" or endpoint.endswith(".static"):
        return frozenset({PUBLIC})
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "permissions", None)


def is_public(endpoint: str | None) -> bool:
    return view_permissions(endpoint) == {PUBLIC}


def enforce_access():
    """before_request hook: refuse the request unless the caller holds one of the route's permissions."""
    roles.reset_cache()  # resolve custom roles afresh for each request
    needed = view_permissions(request.endpoint)
    if not needed:
        current_app.logger.error("route without permission refused: %s", request.endpoint)
        raise Forbidden("Rota sem regra de acesso.")
    if PUBLIC in needed:
        return None
    user = current_identity()
    if user is None:
        if is_api_request():
            raise Unauthorized("Autenticação necessária.")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not any(has_permission(user, p) for p in needed):
        raise Forbidden("Você não tem permissão para esta ação.")
    return None
