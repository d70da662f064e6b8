"""The one HTTP client of the external RPA API (contract: shared/rpa-api/openapi.yaml). No Flask here.

Every exchange has a connect timeout, a per-read timeout AND an overall deadline (a server that
trickles one byte every 2 s defeats a per-read timeout: a watchdog cuts the connection when the
deadline passes). No redirects. 429/5xx/timeouts are retried with capped exponential backoff, a
`Retry-After` is honoured up to a cap; with `max_retries=0` (what RQ jobs use) nothing sleeps here:
the caller gets `RpaUnavailable.retry_after` and schedules the next try itself. One token refresh
on 401. Every answer is checked against the contract's shapes (`apps.rpa.answers`) where it
enters. Nothing here ever logs or raises the bearer token.
"""
import hashlib
import json
import logging
import math
import os
import random
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

from apps.rpa import answers
from apps.rpa.answers import BadAnswer

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 10 * 1024 * 1024  # a foreign server must not fill our memory
MAX_DETAIL_CHARS = 300
CHUNK = 64 * 1024
AUTH_MESSAGE = (
    "O token da API RPA foi recusado (expirado ou inválido). Um administrador deve colar um novo "
    "token em Token global ou configurar BRM_TOKEN_PASSWORD para renovação automática."
)
# Errors after which the request may never have reached the robots, or got no answer: retried.
NETWORK_ERRORS = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                  urllib3.exceptions.HTTPError, OSError)
# Config keys (the app's settings) → constructor arguments.
SETTINGS = {"RPA_CONNECT_TIMEOUT": "connect_timeout", "RPA_READ_TIMEOUT": "read_timeout",
            "RPA_CALL_DEADLINE": "deadline", "RPA_MAX_RETRIES": "max_retries",
            "RPA_BACKOFF_BASE": "backoff_base", "RPA_BACKOFF_CAP": "backoff_cap",
            "RPA_RETRY_AFTER_CAP": "retry_after_cap", "RPA_LOG_PAGE_MAX_LINES": "log_page_max_lines",
            "RPA_LOG_LINE_MAX_CHARS": "log_line_max_chars"}


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
    """5xx, 429, timeouts or connection errors, still failing after every retry.

    `retry_after`: the seconds to wait before the next try (the server's Retry-After, capped, or
    the next backoff step), for a caller that schedules the retry instead of sleeping.
    """

    def __init__(self, message, status=None, retry_after=None):
        super().__init__(message, status=status, retryable=True)
        self.retry_after = retry_after


class RpaBadAnswer(RpaError):
    """An answer that breaks the contract (not JSON, wrong shape or types, over a size limit)."""


class RpaConfigError(RpaRejected):
    """The target cannot be called (no URL, or one the SSRF guard refuses): fix the operadora, not retry."""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, message, status=None, delay=None):
        super().__init__(message)
        self.message, self.status, self.delay = message, status, delay


class _Refreshed(Exception):
    """Internal: the token was renewed after a 401; repeat the call once."""


@dataclass
class Download:
    """A file fetched to a temporary path while hashing it; the caller moves or deletes it."""

    path: str
    sha256: str
    size: int


def retry_after_seconds(value):
    """Seconds asked by a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


# -- the overall deadline ------------------------------------------------------------------------
_current = threading.local()


class _Watchdog:
    """Shuts down the sockets of one exchange when its deadline passes, which unblocks a read at once."""

    def __init__(self, seconds):
        self.seconds, self.fired = seconds, False
        self._socks, self._lock = [], threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def watch(self, sock):
        with self._lock:
            self._socks.append(sock)
            if self.fired:
                _shutdown(sock)

    def _fire(self):
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shutdown(sock)

    def __enter__(self):
        _current.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        _current.watchdog = None


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _WatchedConnection:
    """Mixin: before waiting for the answer's headers, put this connection's socket under the watchdog."""

    def getresponse(self, *args, **kwargs):
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None and self.sock is not None:
            watchdog.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _HTTPConnection(_WatchedConnection, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections the watchdog can cut."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


_ENVIRONMENT = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
                "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class _Session(requests.Session):
    """requests' Session that reads the proxy and CA settings of the environment once per server and setting,
    not at every request (requests scans every environment variable twice per request for them); a changed
    proxy or CA variable is read again."""

    _settings = {}  # shared by every session of the process: a job's client lives for one job

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        scheme, _, rest = str(url).partition("://")
        key = (scheme.lower(), rest.split("/", 1)[0].lower(), tuple(map(os.environ.get, _ENVIRONMENT)),
               tuple(sorted((proxies or {}).items())), stream, verify, cert)
        settings = self._settings.get(key)
        if settings is None:
            if len(self._settings) > 64:
                self._settings.clear()
            settings = _Session._settings[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}


def new_session() -> requests.Session:
    session = _Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # bearer only: nothing a server sets is kept
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_shared = threading.local()


def shared_session() -> requests.Session:
    """This thread's session, kept across clients (a job builds one client; a worker runs job after job): the
    connection to an RPA server stays open from one call and one job to the next (keep-alive; over HTTPS, no
    handshake per job). A connection the server closed, or the deadline cut, is replaced when next taken."""
    if getattr(_shared, "pid", None) != os.getpid():  # never a parent's sockets after a fork
        _shared.session, _shared.pid = new_session(), os.getpid()
    return _shared.session


# -- reading answers -------------------------------------------------------------------------------
def _chunks(response, limit, what):
    """The body's chunks, refusing more than `limit` bytes (the declared length first, then while streaming)."""
    too_big = RpaBadAnswer(f"A API RPA enviou {what} maior que o limite de {limit} bytes.", status=response.status_code)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    size = 0
    for chunk in response.iter_content(chunk_size=CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_big
        yield chunk


def _read_limited(response, limit, what="uma resposta"):
    """The response body, refusing more than `limit` bytes."""
    return b"".join(_chunks(response, limit, what))


def _read_json(response):
    """The JSON object of a response (a dict), or RpaBadAnswer saying what came instead."""
    body = _read_limited(response, MAX_JSON_BYTES)
    try:
        data = json.loads(body or b"null")
    except (ValueError, RecursionError):
        kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "sem tipo"
        raise RpaBadAnswer(f"A API RPA respondeu algo que não é JSON ({kind}: {answers.shown(body[:60])}).",
                           status=response.status_code) from None
    if not isinstance(data, dict):
        raise RpaBadAnswer(f"A API RPA respondeu um JSON inesperado (esperava um objeto, veio {answers.shown(data)}).",
                           status=response.status_code)
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
    return answers.clean_text(detail if isinstance(detail, str) else str(detail), MAX_DETAIL_CHARS)


def _scrub(text, token):
    """`text` without the bearer token (a hostile server could echo it back)."""
    if text and token and token in text:
        return text.replace(token, "[token]")
    return text


class _FileSink:
    """Reads a file answer into a temporary file while hashing it, never holding it in memory."""

    def __init__(self, directory, max_bytes):
        self.directory, self.max_bytes = directory, max_bytes

    def __call__(self, response):
        digest, size = hashlib.sha256(), 0
        fd, path = tempfile.mkstemp(dir=self.directory, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(response, self.max_bytes, "um arquivo"):
                    size += len(chunk)
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            os.unlink(path)
            raise
        return Download(path=path, sha256=digest.hexdigest(), size=size)


class RpaClient:
    """Calls the RPA API at `base_url`; see the module docstring for the retry rules."""

    def __init__(self, base_url, *, connect_timeout=5.0, read_timeout=20.0, deadline=60.0, max_retries=4,
                 backoff_base=0.5, backoff_cap=30.0, retry_after_cap=60.0, log_page_max_lines=5000,
                 log_line_max_chars=4000, token_provider=None, session=None, sleep=time.sleep, url_guard=None):
        self.base_url = base_url
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.deadline = float(deadline)
        self.max_retries, self.backoff_base, self.backoff_cap = int(max_retries), float(backoff_base), float(backoff_cap)
        self.retry_after_cap = float(retry_after_cap)
        self.log_page_max_lines, self.log_line_max_chars = int(log_page_max_lines), int(log_line_max_chars)
        self.token_provider = token_provider
        self._own_session = session is not None  # a session handed in is this client's to close; the shared one is not
        self.session = session or shared_session()
        self.sleep = sleep
        self.url_guard = url_guard  # called before each call: SSRF check of an admin-typed URL

    @classmethod
    def from_settings(cls, base_url, settings, **overrides):
        """A client configured from a mapping of the app's RPA_* settings (keys in SETTINGS)."""
        values = {arg: settings[key] for key, arg in SETTINGS.items() if settings.get(key) is not None}
        return cls(base_url, **{**values, **overrides})

    def close(self):
        if self._own_session:
            self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the contract -----------------------------------------------------------------------
    def health(self):
        """GET /health (no token)."""
        return self._call("GET", "/health", auth=False)

    def health_checked(self):
        """GET /health with its answer checked (answers.health): status, version, running, capacity, robot."""
        return self._checked(answers.health, self.health())

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
        return {**data, "job_id": self._checked(answers.job_id, data)}

    def start_sat(self, *, processo_id, cliente, competencia, faturas, idempotency_key):
        """POST /sat/enviar: start the upload of approved invoices to SAT."""
        body = {"processo_id": str(processo_id), "cliente": cliente, "competencia": competencia, "faturas": list(faturas)}
        data = self._call("POST", "/sat/enviar", json=body, idempotency_key=idempotency_key)
        return {**data, "job_id": self._checked(answers.job_id, data)}

    def get_job(self, job_id):
        """GET /jobs/{job_id}: the authoritative status, checked ({"status", "error", "result", "job_id"})."""
        return self._checked(answers.job, self._call("GET", "/jobs/{job_id}", job_id))

    def get_job_raw(self, job_id):
        """GET /jobs/{job_id} as the server sent it (a JSON object), for showing it to a person."""
        return self._call("GET", "/jobs/{job_id}", job_id)

    def cancel_job(self, job_id):
        """POST /jobs/{job_id}/cancel (contract 1.1, optional): the job as the 202 answered it, checked.

        A server that cannot cancel answers 404 or 405: RpaRejected with that status. Asking twice is
        harmless, so the key only satisfies the rule that every authenticated POST carries one.
        """
        key = "cancel-" + hashlib.sha256(str(job_id).encode()).hexdigest()[:40]
        return self._checked(answers.job, self._call("POST", "/jobs/{job_id}/cancel", job_id, idempotency_key=key))

    def get_logs(self, job_id, after=0):
        """GET /jobs/{job_id}/logs?after=N: {"logs": [clean lines with seq > N], "next": int}."""
        after = int(after)
        data = self._call("GET", "/jobs/{job_id}/logs", job_id, params={"after": after})
        return self._checked(answers.log_page, data, after, max_lines=self.log_page_max_lines,
                             max_chars=self.log_line_max_chars)

    def download_fatura(self, job_id, arquivo, max_bytes) -> bytes:
        """GET /jobs/{job_id}/faturas/{arquivo}: the file's bytes (refused above max_bytes)."""
        return self._call("GET", "/jobs/{job_id}/faturas/{arquivo}", job_id, arquivo,
                          read=lambda response: _read_limited(response, max_bytes, "um arquivo"))

    def fetch_fatura(self, job_id, arquivo, max_bytes, directory=None) -> Download:
        """The same file streamed into a temporary file in `directory` while hashing it: a run's invoices
        never sit in memory (refused above max_bytes; the caller moves or deletes the file)."""
        return self._call("GET", "/jobs/{job_id}/faturas/{arquivo}", job_id, arquivo,
                          read=_FileSink(directory, max_bytes))

    def list_tarefas(self):
        """GET /tarefas (contract 1.1, optional): [{"nome", "descricao", "parametros"}]; a server without
        tasks answers 404 (RpaRejected with that status)."""
        return self._checked(answers.tarefas, self._call("GET", "/tarefas"))

    def start_tarefa(self, tarefa, *, parametros, idempotency_key, operadora=None, runtime_arguments=None,
                     runtime_env=None):
        """POST /tarefas/{tarefa} (contract 1.1, optional): start a generic task; {"job_id", "status", ...}.
        A server without tasks, or without this one, answers 404."""
        body = {"parametros": dict(parametros), "operadora": operadora}
        if runtime_arguments:
            body["runtime_arguments"] = [str(argument) for argument in runtime_arguments]
        if runtime_env:
            body["runtime_env"] = {str(name): str(value) for name, value in runtime_env.items()}
        data = self._call("POST", "/tarefas/{tarefa}", tarefa, json=body, idempotency_key=idempotency_key)
        return {**data, "job_id": self._checked(answers.job_id, data)}

    def fetch_arquivo(self, job_id, arquivo, max_bytes, directory=None) -> Download:
        """GET /jobs/{job_id}/arquivos/{arquivo}: a task's file streamed into a temporary file in `directory`
        while hashing it (refused above max_bytes; the caller moves or deletes the file)."""
        return self._call("GET", "/jobs/{job_id}/arquivos/{arquivo}", job_id, arquivo,
                          read=_FileSink(directory, max_bytes))

    @staticmethod
    def _checked(check, data, *args, **kwargs):
        try:
            return check(data, *args, **kwargs)
        except BadAnswer as exc:
            raise RpaBadAnswer(exc.message) from None

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
                    later = (self._delay(attempt, None) if retry.delay is None
                             else min(retry.delay, self.retry_after_cap))
                    raise RpaUnavailable(f"{retry.message} Desistimos após {attempt + 1} tentativa(s).",
                                         status=retry.status, retry_after=later) from None
                self.sleep(self._delay(attempt, retry.delay))
                attempt += 1

    def _base(self):
        base = self.url_guard(self.base_url) if self.url_guard else self.base_url
        return str(base).rstrip("/")

    def _delay(self, attempt, asked):
        """How long this process sleeps before its next try: Retry-After or exponential with jitter, both
        capped at backoff_cap (a job never sleeps: it gets RpaUnavailable.retry_after and reschedules)."""
        if asked is not None:
            return min(asked, self.backoff_cap)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _exchange(self, call, attempt):
        """One HTTP request under the overall deadline; the parsed body, or _Retry, _Refreshed or RpaError."""
        token = self.token_provider.get() if (call.auth and self.token_provider) else None
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if call.idempotency_key:
            headers["Idempotency-Key"] = call.idempotency_key  # same key on every retry: one robot run
        started = time.monotonic()
        with _Watchdog(self.deadline) as watchdog:
            try:
                return self._send(call, headers, token, started, attempt, watchdog)
            except RpaError:
                if watchdog.fired:
                    raise self._too_slow() from None
                raise

    def _send(self, call, headers, token, started, attempt, watchdog):
        try:
            response = self.session.request(call.method, call.url, json=call.json, params=call.params, headers=headers,
                                            timeout=self.timeout, allow_redirects=False, stream=True)
        except requests.RequestException as exc:
            _log(call, type(exc).__name__, started, attempt)
            if watchdog.fired:
                raise self._too_slow() from None
            if isinstance(exc, NETWORK_ERRORS):
                raise _Retry(_network_message(exc)) from None
            raise RpaError(f"Não foi possível chamar a API RPA ({type(exc).__name__}).") from None
        with response:
            _log(call, response.status_code, started, attempt)
            self._check(response, token, call)
            try:
                body = call.read(response)
            except NETWORK_ERRORS as exc:
                if watchdog.fired:
                    raise self._too_slow() from None
                raise _Retry(_network_message(exc)) from None
        if watchdog.fired:  # the cut may have ended the body early without an error
            _discard(body)
            raise self._too_slow()
        return body

    def _too_slow(self):
        return _Retry(f"A API RPA não terminou de responder em {self.deadline:g} s (prazo total da chamada).")

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
        raise RpaBadAnswer(f"A API RPA respondeu de forma inesperada (HTTP {status}).", status=status)

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


def _discard(body):
    if isinstance(body, Download):
        os.unlink(body.path)


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
