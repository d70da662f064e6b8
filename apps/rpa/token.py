"""The one place that decides which bearer token the dashboard sends to the RPA API.

Precedence (README of the contract): the `api_externa_token` of an active admin (the most
recently updated one), else API_EXTERNA_TOKEN from the environment.
"""
import logging
import re
import secrets
import time
from contextlib import contextmanager
from datetime import UTC, datetime

import jwt
import redis
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from apps.auth import roles
from apps.auth.models import User
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.templating import local_dt, mask_secret
from apps.core.types import db, utcnow
from apps.rpa.client import RpaAuthError, RpaClient, RpaError, RpaRejected, RpaUnavailable

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 4096
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 b64token: what an Authorization header can carry
LOCK_KEY = "rpa:token-refresh-lock"
LOCK_TTL = 120   # seconds: longer than one refresh call with its retries
LOCK_WAIT = 130  # seconds a second worker waits for the first one's refresh


class TokenError(ServiceError, ValueError):
    """A token we refuse to store (the message is for the admin, and for the form's token field)."""

    def __init__(self, message: str):
        super().__init__(message, fields={"token": message})


class TokenUntested(ServiceError):
    """A token that could not be proved good (API down, not a JWT): saved only when the admin insists."""

    def __init__(self, message: str):
        super().__init__(message, fields={"forcar": message})


TOKEN_PERMISSION = "token.gerenciar"  # noqa: S105 (a permission code, not a secret)


def _holder_roles():
    """Who may hold the global token: the users whose role grants token.gerenciar (Admin, or a custom role)."""
    return roles.codes_granting(TOKEN_PERMISSION)


def _holder_query():
    return (select(User).where(User.role.in_(_holder_roles()), User.ativo.is_(True),
                               User.api_externa_token.is_not(None), User.api_externa_token != "")
            .order_by(User.updated_at.desc(), User.id))


def _holder_row():
    """(token, username) of the admin whose token wins, read fresh from the database."""
    query = (select(User.api_externa_token, User.username)
             .where(User.role.in_(_holder_roles()), User.ativo.is_(True),
                    User.api_externa_token.is_not(None), User.api_externa_token != "")
             .order_by(User.updated_at.desc(), User.id).limit(1))
    return db.session.execute(query).first()


def current_token():
    """The token to send: an active admin's, else API_EXTERNA_TOKEN, else None."""
    row = _holder_row()
    if row is not None:
        return row[0]
    return current_app.config.get("API_EXTERNA_TOKEN") or None


class _TokenCache:
    """The token this process read last, reused for RPA_TOKEN_CACHE_SECONDS by the clients of its jobs (each job
    builds one; reading it costs two statements). Saving or renewing a token here forgets it; another process's
    change is seen when the API refuses the old token (`TokenProvider.refresh` reads again) or the time runs out."""

    def __init__(self):
        self.value, self.read_at, self.key = None, None, None

    def get(self):
        seconds = float(current_app.config.get("RPA_TOKEN_CACHE_SECONDS") or 0)
        key = (id(current_app._get_current_object()), str(db.engine.url))
        now = time.monotonic()
        if seconds <= 0 or self.key != key or self.read_at is None or now - self.read_at >= seconds:
            self.value, self.read_at, self.key = current_token(), now, key
        return self.value

    def forget(self):
        self.read_at = None


_cache = _TokenCache()


def token_source():
    """Where current_token() comes from, in words for the page."""
    row = _holder_row()
    if row is not None:
        return f"usuário admin {row[1]}"
    if current_app.config.get("API_EXTERNA_TOKEN"):
        return "variável API_EXTERNA_TOKEN"
    return "nenhum token configurado"


def token_expiry(token):
    """The `exp` of a JWT as an aware UTC datetime; None when absent or not a JWT.

    The signature is not checked: the RPA API signs with a key we do not have.
    """
    if not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return datetime.fromtimestamp(float(claims["exp"]), tz=UTC)
    except (jwt.PyJWTError, KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def is_jwt(token):
    """True when the token parses as a JWT (signature unchecked)."""
    try:
        jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return True


def check_token(token):
    """The token stripped of surrounding blanks, or TokenError."""
    token = (token or "").strip()
    if not token:
        raise TokenError("Cole o token.")
    if any(ch.isspace() for ch in token):
        raise TokenError("O token não pode conter espaços ou quebras de linha (cole só o token, sem \"Bearer\").")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(f"O token deve ter no máximo {MAX_TOKEN_LENGTH} caracteres.")
    if not BEARER_TOKEN.fullmatch(token):
        raise TokenError("O token tem caracteres que um token Bearer não tem (use só letras sem acento, "
                         "números e - . _ ~ + / =).")
    return token


def _store(token, by_user):
    """Put the token on one admin and take it off the others, so there is only one."""
    admins = db.session.scalars(select(User).where(User.role.in_(_holder_roles()), User.ativo.is_(True))
                                .order_by(User.created_at, User.id)).all()
    holder = next((u for u in admins if by_user is not None and u.id == by_user.id), None)
    holder = holder or db.session.scalars(_holder_query().limit(1)).first() or (admins[0] if admins else None)
    if holder is None:
        raise TokenError("Não há administrador ativo para guardar o token global.")
    cleared = []
    for admin in db.session.scalars(select(User).where(User.role.in_(_holder_roles()), User.id != holder.id,
                                                       User.api_externa_token.is_not(None))):
        admin.api_externa_token = None
        cleared.append(admin.username)
    holder.api_externa_token = token
    holder.updated_at = utcnow()
    return holder, cleared


def _commit(action, token, holder, cleared, by_user, reason):
    """Audit the change (token masked) and commit; a database error never carries the token."""
    expiry = token_expiry(token)
    detail = f"token {mask_secret(token)} guardado em {holder.username}"
    detail += f"; expira em {expiry:%Y-%m-%d}" if expiry else "; sem data de expiração legível"
    if cleared:
        detail += f"; removido de {', '.join(cleared)}"
    detail += f"; motivo: {reason}" if reason else ""
    audit.record(action, entity=holder, detail=detail[:1000], user=by_user)
    _cache.forget()
    try:
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        raise TokenError("Não foi possível salvar o token (erro no banco de dados).") from None


def save_token(token, by_user, reason=None):
    """Store a pasted token as the global one; audited as token_global_alterado."""
    token = check_token(token)
    holder, cleared = _store(token, by_user)
    _commit("token_global_alterado", token, holder, cleared, by_user, reason)
    return holder


def save_checked_token(token, by_user, reason=None, force=False):
    """Store a pasted token only once it is proved good: tested against the RPA API as a candidate.

    An expired JWT or one the API refuses is a TokenError, forced or not. When the test cannot
    prove it (the API is down or answers oddly, or the token is not a JWT, so its expiry is
    unknown) it is a TokenUntested, unless `force` (the admin's "salvar mesmo assim").
    """
    token = check_token(token)
    expiry = token_expiry(token)
    if expiry is not None and expiry <= utcnow():
        raise TokenError(f"Este token já expirou (em {local_dt(expiry)}); a API RPA vai recusá-lo. "
                         "Ele não foi salvo: gere um novo.")
    if not force:
        result = test_candidate(token)
        if result["token_ok"] is False:
            raise TokenError("A API RPA recusou este token (expirado ou inválido). Ele não foi salvo.")
        if not result["ok"]:
            raise TokenUntested(f"Não foi possível testar o token: {result['message']} "
                                "Confirme para salvar mesmo assim.")
        if not is_jwt(token):
            raise TokenUntested("A API RPA aceitou o token, mas ele não é um JWT: a data de expiração não pode "
                                "ser conferida. Confirme para salvar mesmo assim.")
    return save_token(token, by_user=by_user, reason=reason)


def _own_api_client(token_provider, **overrides):
    """A client of API_EXTERNA_URL for the token's own calls (apps.rpa.connect builds the run clients)."""
    return RpaClient.from_settings(current_app.config["API_EXTERNA_URL"], current_app.config,
                                   token_provider=token_provider, **overrides)


def refresh_global_token(by_user=None, reason="renovação automática"):
    """Get a new JWT from POST /auth/refresh with BRM_TOKEN_PASSWORD and store it."""
    password = current_app.config.get("BRM_TOKEN_PASSWORD")
    if not password:
        raise RpaError("BRM_TOKEN_PASSWORD não está configurada: não é possível obter um novo token "
                       "automaticamente. Cole um token novo em Token global.")
    with _own_api_client(token_provider=None) as client:
        data = client.refresh_token(password)
    try:
        token = check_token(data["access_token"])
    except TokenError:
        raise RpaError("A API RPA devolveu um token em formato inválido.") from None
    try:
        holder, cleared = _store(token, by_user)
        _commit("token_global_renovado", token, holder, cleared, by_user, reason)
    except TokenError as exc:
        raise RpaError(f"Token novo obtido, mas não foi salvo: {exc}") from None
    log.info("RPA global token renewed (stored on %s)", holder.username)
    return token


@contextmanager
def _refresh_lock():
    """Serialise refreshes across processes; without Redis, go on (the compare still helps)."""
    lock = None
    try:
        lock = redis.Redis.from_url(current_app.config["REDIS_URL"]).lock(
            LOCK_KEY, timeout=LOCK_TTL, blocking_timeout=LOCK_WAIT)
        if not lock.acquire():
            lock = None
    except redis.RedisError:
        log.warning("RPA token refresh lock unavailable (Redis); refreshing without it")
        lock = None
    try:
        yield
    finally:
        if lock is not None:
            try:
                lock.release()
            except redis.RedisError:
                pass  # expired meanwhile: nothing left to release


class TokenProvider:
    """What RpaClient asks for the token, and to renew it after a 401 (when allowed).

    The token is read once per provider (a client, one per job, has one), from the process's short cache
    (`_TokenCache`): a job's polls and downloads, and the next jobs, do not each ask the database again. A 401
    reads it again from the database: a token pasted or renewed elsewhere is used at once.
    """

    _UNREAD = object()

    def __init__(self, refresh_allowed=True):
        self.refresh_allowed = refresh_allowed
        self._token = self._UNREAD

    def get(self):
        if self._token is self._UNREAD:
            self._token = _cache.get()
        return self._token

    def refresh(self, rejected_token=None):
        """A renewed token, or None when no BRM_TOKEN_PASSWORD is configured.

        Two workers can hit 401 together. We take a short Redis lock AND compare: the lock
        makes the second worker wait for the first; once inside, if the stored token already
        differs from the one the API rejected, the first worker renewed it and we reuse it
        instead of asking for another (one refresh, one audit entry, and no risk that our
        refresh revokes the token the first worker just got, on a server that does that).
        """
        if not self.refresh_allowed:
            return None
        _cache.forget()
        stored = _cache.get()
        if stored and stored != rejected_token:  # changed since this process read it: no renewal needed
            self._token = stored
            return stored
        if not current_app.config.get("BRM_TOKEN_PASSWORD"):
            return None
        with _refresh_lock():
            latest = current_token()
            if not (latest and latest != rejected_token):
                latest = refresh_global_token(reason="renovação automática após 401 da API RPA")
        self._token = latest
        return latest


class CandidateTokenProvider(TokenProvider):
    """A provider of a token not stored yet (the one being tested); it never renews anything."""

    def __init__(self, token):
        super().__init__(refresh_allowed=False)
        self._token = token

    def refresh(self, rejected_token=None):
        return None


def test_candidate(token):
    """test_connection for a token before it is stored (not audited: saving it is)."""
    return _run_test(CandidateTokenProvider(token))


def _run_test(provider, latency=False):
    """/health, then the token in `provider` against an unknown job (see test_connection)."""
    result = {"ok": False, "api_ok": False, "token_ok": None, "message": ""}
    if latency:
        result["latencia_ms"] = None
    with _own_api_client(token_provider=provider, max_retries=1) as client:
        started = time.monotonic()
        try:
            client.health()
            result["api_ok"] = True
            if latency:
                result["latencia_ms"] = round((time.monotonic() - started) * 1000, 1)
            if not provider.get():
                result.update(token_ok=False, message="A API RPA respondeu, mas nenhum token está configurado.")
            else:
                _probe(client, result)
        except RpaError as exc:
            result["message"] = f"A API RPA não respondeu ao /health: {exc.message}"
    return result


def test_connection(by_user=None, record=True, latency=False):
    """Check /health, then prove the token is accepted: an unknown job answers 404, not 401.

    {"ok", "api_ok", "token_ok", "message"}, plus "latencia_ms" of /health when `latency`;
    `record` audits the test (the admin's button does, the seed's read-only route does not).
    """
    # No refresh here: the test reports the token as it is, it does not renew it behind the admin's back.
    result = _run_test(TokenProvider(refresh_allowed=False), latency=latency)
    if record:
        audit.record("token_global_testado", detail=result["message"][:1000], user=by_user)
        db.session.commit()
    return result


def _probe(client, result):
    """The authenticated half of test_connection."""
    try:
        client.get_job_raw(f"teste-conexao-{secrets.token_hex(8)}")
        accepted = True
    except RpaRejected as exc:
        accepted = exc.status == 404
        if not accepted:
            result["message"] = f"Resposta inesperada ao testar o token: {exc.message}"
            return
    except RpaAuthError:
        result.update(token_ok=False, message="A API RPA está no ar, mas recusou o token (expirado ou inválido).")
        return
    except RpaUnavailable as exc:
        result["message"] = f"A API RPA está no ar, mas falhou ao testar o token: {exc.message}"
        return
    except RpaError as exc:  # an answer that breaks the contract
        result["message"] = f"Resposta inesperada ao testar o token: {exc.message}"
        return
    result.update(ok=accepted, token_ok=accepted, message="Conexão OK: a API RPA respondeu e aceitou o token.")
