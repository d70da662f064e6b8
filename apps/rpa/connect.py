"""The RPA client for a run: which server, which credential, which settings (the app's side of rpa.client).

Own robots are reached at API_EXTERNA_URL (set by the operator: trusted, not SSRF-checked) with the
global token. An outsourced operadora (`rpa_terceirizado`) is reached at its own `url_endpoint_rpa`,
checked by the SSRF guard before every call, with ITS OWN credential only: the global token is a
365-day credential valid for every operadora and never leaves for a third party. With no credential
configured, no Authorization header is sent.
"""
from flask import current_app

from apps.core.types import db
from apps.operadoras.credentials import credential_for
from apps.operadoras.url_validation import validate_rpa_url
from apps.robos.models import Robo
from apps.rpa.client import RpaClient, RpaConfigError
from apps.rpa.token import TokenProvider

_DEFAULT = object()


class StaticCredential:
    """A fixed bearer (an outsourced operadora's own credential) that is never renewed."""

    def __init__(self, token):
        self.token = token or None

    def get(self):
        return self.token

    def refresh(self, rejected_token=None):
        return None


def default_client(token_provider=_DEFAULT, **overrides) -> RpaClient:
    """A client of our own RPA API (API_EXTERNA_URL) with the global token, renewable after a 401."""
    provider = TokenProvider() if token_provider is _DEFAULT else token_provider
    return RpaClient.from_settings(current_app.config["API_EXTERNA_URL"], current_app.config,
                                   token_provider=provider, **overrides)


def client_for(operadora, token_provider=_DEFAULT, **overrides) -> RpaClient:
    """The client of the server that runs this operadora's robots."""
    if not operadora.rpa_terceirizado:
        return default_client(token_provider, **overrides)
    url = (operadora.url_endpoint_rpa or "").strip()
    if not url:
        raise RpaConfigError(f"A operadora {operadora.codigo} usa RPA terceirizado mas não tem URL do endpoint cadastrada.")
    allow_private = bool(current_app.config.get("RPA_ALLOW_PRIVATE_TARGETS"))

    def guard(base_url):
        try:
            return validate_rpa_url(base_url, allow_private=allow_private)
        except ValueError as exc:
            raise RpaConfigError(f"URL do RPA da operadora {operadora.codigo} recusada: {exc}") from None

    provider = StaticCredential(credential_for(operadora)) if token_provider is _DEFAULT else token_provider
    return RpaClient.from_settings(url, current_app.config, token_provider=provider, url_guard=guard, **overrides)


def client_for_robo(robo, token_provider=_DEFAULT, **overrides) -> RpaClient:
    """The client of a registered robot (apps.robos): its URL, SSRF-checked before every call, with the global
    token (our own robots; an outsourced operadora never runs on one)."""
    allow_private = bool(current_app.config.get("RPA_ALLOW_PRIVATE_TARGETS"))

    def guard(base_url):
        try:
            return validate_rpa_url(base_url, allow_private=allow_private)
        except ValueError as exc:
            raise RpaConfigError(f"URL do robô {robo.nome} recusada: {exc}") from None

    provider = TokenProvider() if token_provider is _DEFAULT else token_provider
    return RpaClient.from_settings(robo.url, current_app.config, token_provider=provider, url_guard=guard, **overrides)


def client_for_execucao(execucao, token_provider=_DEFAULT, **overrides) -> RpaClient:
    """The client of the server that runs this execucao: the robot it was dispatched to (every call of its job
    goes there: start, status, logs, files, cancel), else its operadora's (its processo's, or a SERVICO run's),
    else our own RPA API (a SERVICO run that names no operadora)."""
    robo = db.session.get(Robo, execucao.robo_id) if execucao.robo_id else None
    if robo is not None:
        return client_for_robo(robo, token_provider, **overrides)
    operadora = execucao.processo.cliente.operadora if execucao.processo is not None else execucao.operadora
    if operadora is None:
        return default_client(token_provider, **overrides)
    return client_for(operadora, token_provider, **overrides)
