"""Bearer tokens: HS256 JWTs signed with the simulator's own secret."""
from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime

import jwt

SUBJECT = "rpa-dashboard"
ISSUER = "rpa-api-simulator"
INVALID_TOKEN = "Token inválido ou expirado"


def issue_token(secret: str, ttl_seconds: float, subject: str = SUBJECT) -> tuple[str, datetime]:
    """Sign a token valid for `ttl_seconds` (negative gives an expired one)."""
    now = int(time.time())
    exp = now + int(ttl_seconds)
    claims = {"sub": subject, "iat": now, "exp": exp, "iss": ISSUER}
    token = jwt.encode(claims, secret, algorithm="HS256")
    return token, datetime.fromtimestamp(exp, tz=UTC)


def bearer_from_header(header: str | None) -> str | None:
    """Extract the token of an `Authorization: Bearer <token>` header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_is_valid(token: str | None, secret: str, static_token: str | None) -> bool:
    """True for the static token or an unexpired token signed with `secret`."""
    if not token:
        return False
    if static_token and hmac.compare_digest(token.encode(), static_token.encode()):
        return True
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "iat", "sub"]})
    except jwt.PyJWTError:
        return False
    return True


def iso_utc(moment: datetime) -> str:
    """ISO 8601 UTC with a trailing Z."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
