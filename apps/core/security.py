"""Request hooks: Bearer identity on API routes, CSRF for everything else, access policy."""
from flask import current_app, g, request
from werkzeug.exceptions import Unauthorized

from apps.auth.policy import enforce_access, is_public
from apps.auth.tokens import TokenError, user_from_token
from apps.core.errors import is_api_request, is_bearer_only
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
    g.pop("api_user", None)  # never inherit an identity from an enclosing app context
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
    if is_api_request() and is_public(request.endpoint):
        return  # token endpoints: credentials travel in the body, no cookie is trusted
    if is_bearer_only():
        return  # API v1 and GraphQL never trust the session cookie, so CSRF cannot apply; enforce_access answers 401
    if getattr(current_app.view_functions.get(request.endpoint), "csrf_exempt", False):
        return  # an inbound provider webhook: it checks its own secret or signature instead
    csrf.protect()


CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",              # no inline script, no third-party origin
    "style-src 'self' 'unsafe-inline'",  # style="" attributes (progress bars); no external CSS
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def security_headers(response):
    """Headers every response carries; the CSP goes on HTML pages (a PDF is shown by the browser's viewer)."""
    from flask import current_app

    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
    hsts = current_app.config.get("HSTS_SECONDS") or 0
    if hsts:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    if request.endpoint != "static" and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"  # pages hold personal and tax data
    if current_app.config.get("INSTANCE_NAME"):  # behind a load balancer: which instance answered
        response.headers["X-Instance"] = current_app.config["INSTANCE_NAME"]
    return response


def refuse_nul_characters():
    """A NUL byte in a query or form value is never legitimate, and PostgreSQL refuses it: 400, not 500."""
    from werkzeug.exceptions import BadRequest

    values = list(request.args.values())
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += list(request.form.values())
    if any("\x00" in value for value in values):
        raise BadRequest("Caracteres inválidos na requisição.")


def init_app(app):
    app.after_request(security_headers)
    app.before_request(refuse_nul_characters)
    app.before_request(load_api_identity)
    app.before_request(protect_csrf)
    app.before_request(enforce_access)
