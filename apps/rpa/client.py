"""The one HTTP client of the external RPA API (contract: shared/rpa-api/openapi.yaml).

Timeouts on every call, no redirects, retries with capped exponential backoff on 429/5xx/
timeouts, one token refresh on 401. Nothing here ever logs or raises the bearer token.
"""
import json
import logging
import math
import random
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 10 * 1024 * 1024  # a foreign server must not fill our memory
MAX_DETAIL_CHARS = 300
AUTH_MESSAGE = (
    "O token da API RPA foi recusado (expirado ou inválido). Um administrador deve colar um novo "
    "token em Token global ou configurar BRM_TOKEN_PASSWORD para renovação automática."
)
# Errors after which the request may never have reached the robots, or got no answer: retried.
NETWORK_ERRORS = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
_DEFAULT = object()


class RpaError(Exception):
    """Any failure talking to the RPA API; the message is Portuguese and safe to show."""

    def __init__(self, message, status=None, retryable=False):
        super().__init__(message)
        self.message, self.status, self.retryable = message, status, retryable


class RpaAuthError(RpaError):
    """A 401 we could not fix by refreshing the token."""


class RpaRejected(RpaError):
    """A 4xx other than 401/429 (unknown job or operator, malformed body): retrying won't help."""

    def __init__(self, message, status=None, detail=None):
        super().__init__(message, status=status, retryable=False)
        self.detail = detail


class RpaUnavailable(RpaError):
    """5xx, 429, timeouts or connection errors, still failing after every retry."""

    def __init__(self, message, status=None):
        super().__init__(message, status=status, retryable=True)


class RpaConfigError(RpaRejected):
    """The target cannot be called (no URL, or one the SSRF guard refuses): fix the operadora, not retry."""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, message, status=None, delay=None):
        super().__init__(message)
        self.message, self.status, self.delay = message, status, delay


class _Refreshed(Exception):
    """Internal: the token was renewed after a 401; repeat the call once."""


def retry_after_seconds(value):
    """Seconds asked by a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _read_limited(response, limit, what="uma resposta"):
    """The response body, refusing more than `limit` bytes (checked while streaming)."""
    too_big = RpaError(f"A API RPA enviou {what} maior que o limite de {limit} bytes.")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _read_json(response):
    """The JSON object of a response (a dict), or RpaError."""
    try:
        data = json.loads(_read_limited(response, MAX_JSON_BYTES) or b"null")
    except ValueError:
        raise RpaError("A API RPA respondeu algo que não é JSON.", status=response.status_code) from None
    if not isinstance(data, dict):
        raise RpaError("A API RPA respondeu um JSON inesperado (esperava um objeto).", status=response.status_code)
    return data


def _detail(response):
    """The API's {"detail": ...} text of an error answer, shortened, or None."""
    try:
        data = _read_json(response)
    except RpaError:
        return None
    detail = data.get("detail")
    if detail is None:
        return None
    return (detail if isinstance(detail, str) else str(detail))[:MAX_DETAIL_CHARS]


def _scrub(text, token):
    """`text` without the bearer token (a hostile server could echo it back)."""
    if text and token and token in text:
        return text.replace(token, "[token]")
    return text


def _job_id(data):
    """The job id of a 202 answer as text (any format), or RpaError."""
    job_id = data.get("job_id")
    if job_id is None or isinstance(job_id, (dict, list, bool)) or not str(job_id).strip():
        raise RpaError("A API RPA aceitou o pedido mas não informou o job_id.")
    return {**data, "job_id": str(job_id)}


class RpaClient:
    """Calls the RPA API at `base_url`; see the module docstring for the retry rules."""

    def __init__(self, base_url, *, connect_timeout=5.0, read_timeout=20.0, max_retries=4,
                 backoff_base=0.5, backoff_cap=30.0, token_provider=None, session=None,
                 sleep=time.sleep, url_guard=None):
        self.base_url = base_url
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.max_retries, self.backoff_base, self.backoff_cap = int(max_retries), float(backoff_base), float(backoff_cap)
        self.token_provider = token_provider
        self.session = session or requests.Session()
        self.sleep = sleep
        self.url_guard = url_guard  # called before each call: SSRF check of an admin-typed URL

    # -- construction from the app config -------------------------------------------------
    @classmethod
    def default(cls, token_provider=_DEFAULT, **overrides):
        """A client for API_EXTERNA_URL (set by the operator: trusted, not SSRF-checked)."""
        from flask import current_app

        return cls._from_config(current_app.config["API_EXTERNA_URL"], token_provider, None, overrides)

    @classmethod
    def for_operadora(cls, operadora, token_provider=_DEFAULT, **overrides):
        """The client for an operadora: its own endpoint when its RPA is outsourced."""
        from flask import current_app

        if not operadora.rpa_terceirizado:
            return cls.default(token_provider, **overrides)
        url = (operadora.url_endpoint_rpa or "").strip()
        if not url:
            raise RpaConfigError(f"A operadora {operadora.codigo} usa RPA terceirizado mas não tem URL do endpoint cadastrada.")
        allow_private = bool(current_app.config.get("RPA_ALLOW_PRIVATE_TARGETS"))

        def guard(base_url):
            from apps.operadoras.url_validation import validate_rpa_url

            try:
                return validate_rpa_url(base_url, allow_private=allow_private)
            except ValueError as exc:
                raise RpaConfigError(f"URL do RPA da operadora {operadora.codigo} recusada: {exc}") from None

        if token_provider is _DEFAULT:
            from apps.rpa.token import TokenProvider

            # A 401 from someone else's robot says nothing about our token at the RPA API, and a
            # hostile endpoint must not be able to make us rotate the global token at will.
            token_provider = TokenProvider(refresh_allowed=False)
        return cls._from_config(url, token_provider, guard, overrides)

    @classmethod
    def _from_config(cls, base_url, token_provider, guard, overrides):
        from flask import current_app

        cfg = current_app.config
        if token_provider is _DEFAULT:
            from apps.rpa.token import TokenProvider

            token_provider = TokenProvider()
        settings = {"connect_timeout": cfg["RPA_CONNECT_TIMEOUT"], "read_timeout": cfg["RPA_READ_TIMEOUT"],
                    "max_retries": cfg["RPA_MAX_RETRIES"], "backoff_base": cfg["RPA_BACKOFF_BASE"],
                    "backoff_cap": cfg["RPA_BACKOFF_CAP"], **overrides}
        return cls(base_url, token_provider=token_provider, url_guard=guard, **settings)

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the contract -----------------------------------------------------------------------
    def health(self):
        """GET /health (no token)."""
        return self._call("GET", "/health", auth=False)

    def refresh_token(self, password):
        """POST /auth/refresh: a new global JWT ({"access_token", "expires_at", ...})."""
        try:
            data = self._call("POST", "/auth/refresh", auth=False, json={"password": password})
        except RpaRejected as exc:
            if exc.status == 401:
                raise RpaAuthError("A API RPA recusou a senha de renovação (BRM_TOKEN_PASSWORD).", status=401) from None
            raise
        if not isinstance(data.get("access_token"), str) or not data["access_token"].strip():
            raise RpaError("A API RPA não devolveu um token na renovação.")
        return data

    def start_download(self, operadora_codigo, *, processo_id, cliente, competencia, idempotency_key):
        """POST /executar/{operadora}: start an invoice download; {"job_id", "status", ...}."""
        body = {"processo_id": str(processo_id), "cliente": cliente, "competencia": competencia}
        data = self._call("POST", "/executar/{operadora}", operadora_codigo, json=body, idempotency_key=idempotency_key)
        return _job_id(data)

    def start_sat(self, *, processo_id, cliente, competencia, faturas, idempotency_key):
        """POST /sat/enviar: start the upload of approved invoices to SAT."""
        body = {"processo_id": str(processo_id), "cliente": cliente, "competencia": competencia, "faturas": list(faturas)}
        return _job_id(self._call("POST", "/sat/enviar", json=body, idempotency_key=idempotency_key))

    def get_job(self, job_id):
        """GET /jobs/{job_id}: the authoritative status."""
        return self._call("GET", "/jobs/{job_id}", job_id)

    def get_logs(self, job_id, after=0):
        """GET /jobs/{job_id}/logs?after=N: {"logs": [...], "next": int, ...}."""
        data = self._call("GET", "/jobs/{job_id}/logs", job_id, params={"after": int(after)})
        logs = data.get("logs")
        if not isinstance(logs, list):
            raise RpaError("A API RPA respondeu os logs num formato inesperado.")
        if not isinstance(data.get("next"), int):
            seqs = [line.get("seq") for line in logs if isinstance(line, dict) and isinstance(line.get("seq"), int)]
            data["next"] = max(seqs, default=int(after))
        return data

    def download_fatura(self, job_id, arquivo, max_bytes):
        """GET /jobs/{job_id}/faturas/{arquivo}: the file's bytes (refused above max_bytes)."""
        return self._call("GET", "/jobs/{job_id}/faturas/{arquivo}", job_id, arquivo,
                          read=lambda response: _read_limited(response, max_bytes, "um arquivo"))

    # -- machinery --------------------------------------------------------------------------
    def _call(self, method, template, *args, json=None, params=None, idempotency_key=None, auth=True, read=_read_json):
        """One logical call: retries around single HTTP exchanges."""
        if method == "POST" and auth and not (isinstance(idempotency_key, str) and 0 < len(idempotency_key) <= 200):
            raise ValueError("idempotency_key (1 to 200 characters) is required on a POST that starts a job")
        call = _Call(method, template, self._base() + _fill(template, args), json, params, idempotency_key, auth, read)
        attempt = 0
        while True:
            try:
                return self._exchange(call, attempt)
            except _Refreshed:
                continue  # the renewed token gets one more try, outside the retry budget
            except _Retry as retry:
                if attempt >= self.max_retries:
                    raise RpaUnavailable(f"{retry.message} Desistimos após {attempt + 1} tentativa(s).", status=retry.status) from None
                self.sleep(self._delay(attempt, retry.delay))
                attempt += 1

    def _base(self):
        base = self.url_guard(self.base_url) if self.url_guard else self.base_url
        return str(base).rstrip("/")

    def _delay(self, attempt, asked):
        """Retry-After when the server gave one, else exponential with jitter; always capped."""
        if asked is not None:
            return min(asked, self.backoff_cap)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _exchange(self, call, attempt):
        """One HTTP request; returns the parsed body or raises _Retry, _Refreshed or RpaError."""
        token = self.token_provider.get() if (call.auth and self.token_provider) else None
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if call.idempotency_key:
            headers["Idempotency-Key"] = call.idempotency_key  # same key on every retry: one robot run
        started = time.monotonic()
        try:
            response = self.session.request(call.method, call.url, json=call.json, params=call.params, headers=headers,
                                            timeout=self.timeout, allow_redirects=False, stream=True)
        except requests.RequestException as exc:
            _log(call, type(exc).__name__, started, attempt)
            if isinstance(exc, NETWORK_ERRORS):
                raise _Retry(_network_message(exc)) from None
            raise RpaError(f"Não foi possível chamar a API RPA ({type(exc).__name__}).") from None
        with response:
            _log(call, response.status_code, started, attempt)
            self._check(response, token, call)
            try:
                return call.read(response)
            except NETWORK_ERRORS as exc:
                raise _Retry(_network_message(exc)) from None

    def _check(self, response, token, call):
        """Raise the right thing for a non-2xx answer."""
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 401 and call.auth:
            if not call.refreshed and self._refresh(token):
                call.refreshed = True
                raise _Refreshed()
            raise RpaAuthError(AUTH_MESSAGE, status=401)
        if status == 429:
            raise _Retry("Os robôs da API RPA estão ocupados (HTTP 429).", 429, retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 500:
            raise _Retry(f"A API RPA está com falha (HTTP {status}).", status)
        if status >= 400:
            detail = _scrub(_detail(response), token)
            text = f"A API RPA recusou o pedido (HTTP {status})" + (f": {detail}" if detail else ".")
            raise RpaRejected(text, status=status, detail=detail)
        raise RpaError(f"A API RPA respondeu de forma inesperada (HTTP {status}).", status=status)

    def _refresh(self, rejected_token):
        """Ask the token provider for a new token once; True when we got a different one."""
        if self.token_provider is None:
            return False
        try:
            fresh = self.token_provider.refresh(rejected_token)
        except RpaUnavailable:
            raise
        except RpaError as exc:
            log.warning("RPA token refresh failed: %s", _scrub(exc.message, rejected_token))
            return False
        return bool(fresh) and fresh != rejected_token


class _Call:
    """What one logical call sends, and whether it already renewed the token."""

    def __init__(self, method, template, url, json, params, idempotency_key, auth, read):
        self.method, self.template, self.url = method, template, url
        self.json, self.params, self.idempotency_key = json, params, idempotency_key
        self.auth, self.read, self.refreshed = auth, read, False


def _fill(template, args):
    """Fill the `{...}` segments in order, each URL-quoted (ids come from a foreign server)."""
    path = template
    for arg in args:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + quote(str(arg), safe="") + path[end + 1:]
    return path


def _log(call, status, started, attempt):
    """One INFO line per exchange: method, path template, status, duration (never the token)."""
    log.info("RPA %s %s -> %s in %.0f ms (attempt %d)", call.method, call.template, status,
             (time.monotonic() - started) * 1000, attempt + 1)


def _network_message(exc):
    """Portuguese text for a timeout or a connection failure."""
    if isinstance(exc, requests.ReadTimeout):
        return "A API RPA não respondeu dentro do tempo limite."
    return "Não foi possível conectar à API RPA."
