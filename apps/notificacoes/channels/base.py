"""The one interface every channel adapter implements, and the error it raises."""
from dataclasses import dataclass

import requests

MAX_ERROR_CHARS = 300


class ChannelError(Exception):
    """A send that did not happen. `retryable`: try again later (429, 5xx, network); `retry_after`: the
    seconds the provider asked us to wait (Telegram's parameters.retry_after, Twilio's Retry-After)."""

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message, self.retryable, self.retry_after = message[:MAX_ERROR_CHARS], retryable, retry_after


@dataclass(frozen=True)
class Outgoing:
    """What an adapter sends: the message's id (an idempotency handle), its address, text and full link."""

    id: str
    destino: str
    texto: str
    link: str | None = None
    evento: str | None = None
    secret: str | None = None  # the webhook subscription's signing secret

    @property
    def body(self) -> str:
        return f"{self.texto}\n{self.link}" if self.link else self.texto


class Channel:
    """A channel: its settings (off without them) and `send`, which returns the provider's id or raises."""

    name = ""
    label = ""
    required: tuple = ()  # the settings it needs, in the words of .env.example

    def missing(self, config) -> list[str]:
        return [key for key in self.required if not config.get(key)]

    def enabled(self, config) -> bool:
        return not self.missing(config)

    def status_text(self, config) -> str:
        missing = self.missing(config)
        return "ativo" if not missing else "desativado: defina " + ", ".join(missing)

    def send(self, out: Outgoing, config) -> str:
        raise NotImplementedError


def timeouts(config) -> tuple:
    total = float(config.get("NOTIFICACOES_TIMEOUT", 10))
    return (min(5.0, total), total)


def retry_after_header(response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def http_failure(response, provider: str, retry_after=None) -> ChannelError:
    """The ChannelError of a provider's non-2xx answer: 429 and 5xx retryable, other 4xx final."""
    status = response.status_code
    detail = (response.text or "")[:200].replace("\n", " ")
    retryable = status == 429 or status >= 500
    if retry_after is None:
        retry_after = retry_after_header(response)
    return ChannelError(f"{provider} respondeu {status}: {detail}", retryable=retryable, retry_after=retry_after)


def network_failure(exc: Exception, provider: str) -> ChannelError:
    """A timeout or connection error: retryable, and said without the URL (it may carry a token)."""
    kind = "tempo esgotado" if isinstance(exc, requests.Timeout) else "falha de conexão"
    return ChannelError(f"{provider}: {kind} ({exc.__class__.__name__})", retryable=True)
