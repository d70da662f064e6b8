"""The dashboard's own API tokens: short access JWTs and revocable refresh JWTs (HS256 pinned)."""
import uuid
from datetime import timedelta

import jwt
from flask import current_app

from apps.auth.models import User
from apps.core.errors import ServiceError
from apps.core.types import db, parse_uuid, utcnow

ALGORITHM = "HS256"
ISSUER = "rpa-dashboard"


class TokenError(ServiceError):
    """A token that is missing, malformed, expired, of the wrong type or revoked."""

    status = 401


def _key() -> str:
    return current_app.config.get("JWT_SECRET_KEY") or current_app.config["SECRET_KEY"]


def _issue(user, kind: str, lifetime: timedelta) -> str:
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "iss": ISSUER,
        "jti": uuid.uuid4().hex,
        "type": kind,
        "ver": user.token_version,
    }
    return jwt.encode(claims, _key(), algorithm=ALGORITHM)


def issue_access(user) -> str:
    return _issue(user, "access", timedelta(minutes=current_app.config["JWT_ACCESS_MINUTES"]))


def issue_refresh(user) -> str:
    return _issue(user, "refresh", timedelta(days=current_app.config["JWT_REFRESH_DAYS"]))


def _claims(token: str) -> dict:
    return jwt.decode(
        token, _key(), algorithms=[ALGORITHM], issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "type", "ver"]},
    )


def subject_of(token: str) -> str | None:
    """The user id of a token whose signature and dates are valid (no database read), else None.

    For rate limiting before the request is authenticated: a forged or expired token names no one.
    """
    if len(token) > 4096:
        return None
    try:
        subject = _claims(token)["sub"]
    except jwt.InvalidTokenError:
        return None
    return str(parse_uuid(subject)) if isinstance(subject, str) and parse_uuid(subject) else None


def revoke_all(user) -> None:
    """End every API token (access and refresh) the user holds; browser sessions are kept."""
    user.token_version = (user.token_version or 1) + 1


def user_from_token(token: str, kind: str):
    """The active user a valid token of `kind` belongs to; TokenError otherwise."""
    try:
        claims = _claims(token)
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("Token expirado.") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("Token inválido.") from exc
    if claims.get("type") != kind:
        raise TokenError("Tipo de token incorreto.")
    user_id = parse_uuid(claims["sub"])
    user = db.session.get(User, user_id) if user_id else None
    if user is None or not user.ativo or claims["ver"] != user.token_version:
        raise TokenError("Token revogado ou usuário inativo.")
    return user
