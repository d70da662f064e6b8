"""Login limits (per account and per address, shared by the web form and the API) and API rate limits.

Per ACCOUNT. A login is resolved to the user it names (username or e-mail, any case), else to
its normalised text, so `/login` with the username, `/api/v1/auth/token` with the e-mail and
`ADMIN ` all count against one account. The account is never locked for good: after
LOGIN_LIMIT_ACCOUNT's number of failures (5) each further attempt must wait 2, 4, 8… seconds
(up to LOGIN_DELAY_MAX_SECONDS) after the previous one; an attempt inside the delay is
answered 429 with Retry-After, and the right password after the delay logs in and clears it.
Failures are forgotten after LOGIN_LIMIT_ACCOUNT's window (15 minutes) without a new one.

Per ADDRESS. LOGIN_LIMIT_ADDRESS (30 failures per 15 minutes) is the hard block: every login
from that address is refused until the window ends.

Every attempt is reserved as a failure in Redis BEFORE the password is checked (one Lua script)
and the reservation is undone on success, so a burst of parallel guesses cannot slip past the
count. All processes and machines share the counters. While Redis is down the limits fail open
(as RATELIMIT_SWALLOW_ERRORS does for Flask-Limiter): people can still log in.
"""
import hashlib
import logging
import math
import unicodedata

import redis
from flask import current_app, request
from limits import parse

from apps.auth.tokens import subject_of
from apps.core.queues import get_redis
from apps.extensions import limiter

log = logging.getLogger(__name__)

# KEYS: account failures, account "wait until", address failures.
# ARGV: free failures, max delay ms, account window ms, address limit, address window ms.
# Returns {0, n, delay_ms} admitted (n = failures counting this attempt, delay_ms = the wait it
# imposes if it fails), {1, wait_ms} account must wait, {2, wait_ms} address blocked.
_BEGIN = """
local addr = tonumber(redis.call('GET', KEYS[3]) or '0')
if addr >= tonumber(ARGV[4]) then
  local ttl = redis.call('PTTL', KEYS[3])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[3], ARGV[5]); ttl = tonumber(ARGV[5]) end
  return {2, ttl}
end
local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then return {1, wait} end
local n = redis.call('INCR', KEYS[1])
local free = tonumber(ARGV[1])
local delay = 0
if n >= free then
  delay = math.min(2 ^ (n - free + 1) * 1000, tonumber(ARGV[2]))
  redis.call('SET', KEYS[2], '1', 'PX', delay)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + delay)
if redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
return {0, n, delay}
"""

# A correct password: the account starts afresh; this attempt's address reservation is undone.
_SUCCEED = """
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 and tonumber(redis.call('GET', KEYS[3])) > 0 then
  redis.call('DECR', KEYS[3])
end
return 0
"""


class LoginThrottled(Exception):
    """A login refused before its password was checked: 429 with Retry-After."""

    def __init__(self, scope: str, retry_after: int):
        self.scope, self.retry_after = scope, max(1, int(retry_after))
        wait = _human_wait(self.retry_after)
        if scope == "account":
            message = (f"Muitas tentativas de login malsucedidas para esta conta. Aguarde {wait} "
                       "e tente novamente.")
        else:
            message = (f"Muitas tentativas de login malsucedidas deste endereço. Aguarde {wait} "
                       "e tente novamente.")
        super().__init__(message)
        self.message = message


def _human_wait(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} segundo{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutos"


def normalise_login(login) -> str:
    """How two spellings of one login compare: NFKC, trimmed, casefolded."""
    return unicodedata.normalize("NFKC", str(login or "")).strip().casefold()[:254]


def account_key(login, user) -> str:
    """The account a login names: its user's id when it exists, else a digest of the normalised text."""
    if user is not None:
        return f"user:{user.id}"
    return "login:" + hashlib.sha256(normalise_login(login).encode()).hexdigest()[:40]


def _address() -> str:
    return request.remote_addr or "?"


class Attempt:
    """One login attempt's reservation; call `failed()` or `succeeded()` once the password is checked."""

    def __init__(self, account: str, keys: list | None, failures: int = 0, delay_ms: int = 0):
        self.account, self.keys, self.failures, self.delay_ms = account, keys, failures, delay_ms

    @property
    def delay_seconds(self) -> int:
        """The wait this attempt imposes on the account if it failed (0: none)."""
        return math.ceil(self.delay_ms / 1000)

    def failed(self) -> None:
        """Nothing to write: the attempt was counted as a failure when it began."""

    def succeeded(self) -> None:
        if self.keys is None:
            return
        try:
            get_redis().eval(_SUCCEED, 3, *self.keys)
        except redis.RedisError as exc:
            log.warning("login limits unavailable (%s) on success", exc.__class__.__name__)


def begin(login, user) -> Attempt:
    """Reserve an attempt for this login from this address, or raise LoginThrottled."""
    account = account_key(login, user)
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return Attempt(account, None)
    per_account, per_address = parse(config["LOGIN_LIMIT_ACCOUNT"]), parse(config["LOGIN_LIMIT_ADDRESS"])
    keys = [f"login-limit:acct:{account}:fails", f"login-limit:acct:{account}:wait",
            f"login-limit:addr:{_address()}"]
    try:
        result = get_redis().eval(
            _BEGIN, 3, *keys, per_account.amount, int(config.get("LOGIN_DELAY_MAX_SECONDS", 900)) * 1000,
            per_account.get_expiry() * 1000, per_address.amount, per_address.get_expiry() * 1000)
    except redis.RedisError as exc:
        log.warning("login limits unavailable (%s): attempt allowed", exc.__class__.__name__)
        return Attempt(account, None)
    code = int(result[0])
    if code == 1:
        raise LoginThrottled("account", math.ceil(int(result[1]) / 1000))
    if code == 2:
        raise LoginThrottled("address", math.ceil(int(result[1]) / 1000))
    return Attempt(account, keys, int(result[1]), int(result[2]))


def throttled_response(exc: LoginThrottled, body=None):
    """The 429 for a refused login: JSON on the API, else `body` (the re-rendered login page)."""
    from flask import jsonify, make_response

    if body is None:
        response = jsonify(error=exc.message)
    else:
        response = make_response(body)
    response.status_code = 429
    response.headers["Retry-After"] = str(exc.retry_after)
    # Flask-Limiter would rewrite Retry-After to its own window's reset (the API's 60 s): this
    # 429 is not its own, so it must not add its headers to it.
    try:
        limiter.context.view_rate_limit = None
    except AttributeError:  # a Flask-Limiter without this context: its headers stay
        log.debug("Flask-Limiter context not found; Retry-After may be rewritten")
    return response


def _address_key() -> str:
    return "auth-refresh:" + _address()


def _api_identity_key() -> str:
    """The user a valid Bearer token names (every token of one user shares a budget), else the address."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        subject = subject_of(token.strip())
        if subject is not None:
            return "api-user:" + subject
    return f"api-addr:{_address()}"


def refresh_limit(view):
    """POST /api/v1/auth/refresh: AUTH_REFRESH_LIMIT per address (a refresh token is a credential)."""
    return limiter.limit(lambda: current_app.config.get("AUTH_REFRESH_LIMIT", "30 per minute"),
                         key_func=_address_key, methods=["POST"],
                         error_message="Muitas renovações de token. Aguarde um pouco e tente novamente.")(view)


def api_limit(blueprint):
    """Every API call counts against API_RATE_LIMIT per user (or address, without a valid token)."""
    limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_api_identity_key,
                  error_message="Limite de requisições à API excedido. Aguarde e tente novamente.")(blueprint)
