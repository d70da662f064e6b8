"""Login and API rate limits (Flask-Limiter with Redis storage, shared by every worker process).

Only failed attempts count against the login limits, per account and per address; a blocked
attempt answers 429 with a clear message and is audited.
"""
from flask import current_app, request

from apps.extensions import limiter


def _account_key() -> str:
    data = request.get_json(silent=True) if request.is_json else None
    login = (data or {}).get("username") if isinstance(data, dict) else request.form.get("login")
    return "login-account:" + str(login or "").strip().lower()[:120]


def _address_key() -> str:
    return "login-address:" + (request.remote_addr or "?")


def _api_identity_key() -> str:
    """The Bearer token's digest when there is one (checked before the token is decoded), else the address."""
    import hashlib

    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "api-token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return f"api-addr:{request.remote_addr}"


def _failed(response) -> bool:
    """A failed attempt: the form re-rendered (200) or the API refused the credentials (401)."""
    if request.is_json:
        return response.status_code == 401
    return response.status_code == 200


def _audit_block(request_limit) -> None:
    from apps.core import audit
    from apps.core.types import db

    audit.record("login_bloqueado", entity_type="users", detail=f"limite {request_limit.limit}; "
                 f"login={_account_key().split(':', 1)[1]}", user=None)
    db.session.commit()


MESSAGE = "Muitas tentativas de login malsucedidas. Aguarde alguns minutos e tente novamente."


def login_limits(view):
    """Decorate a login view with the per-account and per-address failure limits."""
    view = limiter.limit(lambda: current_app.config["LOGIN_LIMIT_ACCOUNT"], key_func=_account_key,
                         methods=["POST"], deduct_when=_failed, error_message=MESSAGE,
                         on_breach=_audit_block)(view)
    view = limiter.limit(lambda: current_app.config["LOGIN_LIMIT_ADDRESS"], key_func=_address_key,
                         methods=["POST"], deduct_when=_failed, error_message=MESSAGE)(view)
    return view


def api_limit(blueprint):
    """Every API call counts against API_RATE_LIMIT per token user (or address)."""
    limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_api_identity_key,
                  error_message="Limite de requisições à API excedido. Aguarde e tente novamente.")(blueprint)
