"""Sign-in through an identity provider, with Authlib's Flask client.

OpenID Connect: discovery from OIDC_ISSUER, authorization code flow with PKCE (S256), `state` and `nonce`
(kept in the session until the callback); the ID token's signature is checked against the provider's JWKS
(an unknown `kid` makes Authlib fetch the JWKS once more: key rotation), and its `iss`, `aud`, `exp`, `iat`
and `nonce`. GitHub: OAuth code flow with PKCE and `state`; only members of GITHUB_ORG (asked through the
API) get in.

What comes back is a `Profile`; apps/auth/external.py decides which user it is.
"""
import logging
from dataclasses import dataclass
from urllib.parse import quote

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import current_app, session, url_for
from joserfc.errors import JoseError

from apps.core.errors import ServiceError

log = logging.getLogger(__name__)

OIDC, GITHUB = "oidc", "github"
GITHUB_SCOPES = "read:user user:email read:org"
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
ID_TOKEN_LEEWAY = 60  # seconds of clock difference tolerated on exp/iat
# The session is a cookie (4 KB at most in browsers): an ID token full of groups is not kept, and the logout
# then reaches the provider with client_id instead of id_token_hint.
ID_TOKEN_HINT_MAX = 2000
_SESSION_NEXT, _SESSION_PROVIDER, _SESSION_ID_TOKEN = "sso_next", "sso_provider", "sso_id_token"


class SignInRefused(ServiceError):
    """A sign-in through a provider that we refuse: `message` for the person, `reason` for the audit trail."""

    status = 403

    def __init__(self, message: str, reason: str, user=None):
        super().__init__(message)
        self.reason, self.user = reason, user


@dataclass
class Profile:
    """Who the provider says signed in. `role_values`: None when the provider is not asked about roles."""

    provider: str            # the key kept in identidades_externas: the OIDC issuer, or "github"
    label: str               # the provider as people read it
    subject: str
    email: str | None
    email_verified: bool
    username: str | None
    nome: str | None
    role_values: list[str] | None
    role_map: list[tuple[str, str]]


def parse_role_map(text: str | None) -> list[tuple[str, str]]:
    """'RPA.Admin=ADMIN, RPA.Operador=OPERADOR' -> [('RPA.Admin', 'ADMIN'), ...], in the order written
    (when several values match, the first written wins). Malformed entries are skipped with a warning."""
    pairs = []
    for item in (text or "").split(","):
        value, sep, role = item.strip().rpartition("=")
        if not item.strip():
            continue
        if not sep or not value.strip() or not role.strip():
            log.warning("role map entry ignored (expected value=ROLE): %r", item.strip()[:80])
            continue
        pairs.append((value.strip(), role.strip()))  # role codes as written: external.role_exists decides
    return pairs


def oidc_enabled(config=None) -> bool:
    config = config or current_app.config
    return bool(config.get("OIDC_ISSUER") and config.get("OIDC_CLIENT_ID"))


def github_enabled(config=None) -> bool:
    config = config or current_app.config
    return bool(config.get("GITHUB_ID") and config.get("GITHUB_SECRET") and config.get("GITHUB_ORG"))


def enabled(name: str) -> bool:
    return oidc_enabled() if name == OIDC else github_enabled() if name == GITHUB else False


def issuer(config=None) -> str:
    return (config or current_app.config).get("OIDC_ISSUER", "").rstrip("/")


def init_app(app) -> None:
    """Register the configured providers on this app's own Authlib registry (no state shared between apps)."""
    config = app.config
    oauth = OAuth(app)
    timeout = float(config.get("SSO_HTTP_TIMEOUT", 10))
    if oidc_enabled(config):
        oauth.register(
            OIDC, client_id=config["OIDC_CLIENT_ID"], client_secret=config.get("OIDC_CLIENT_SECRET") or None,
            server_metadata_url=issuer(config) + "/.well-known/openid-configuration",
            client_kwargs={"scope": config.get("OIDC_SCOPES") or "openid email profile",
                           "code_challenge_method": "S256", "default_timeout": timeout})
    if config.get("GITHUB_ID") and not config.get("GITHUB_ORG"):
        app.logger.warning("GITHUB_ID set without GITHUB_ORG: GitHub sign-in stays off (any account would get in)")
    if github_enabled(config):
        oauth_url, api_url = config["GITHUB_OAUTH_URL"].rstrip("/"), config["GITHUB_API_URL"].rstrip("/")
        oauth.register(
            GITHUB, client_id=config["GITHUB_ID"], client_secret=config["GITHUB_SECRET"],
            authorize_url=oauth_url + "/login/oauth/authorize", access_token_url=oauth_url + "/login/oauth/access_token",
            api_base_url=api_url + "/",
            client_kwargs={"scope": GITHUB_SCOPES, "code_challenge_method": "S256", "default_timeout": timeout})
    app.jinja_env.globals.update(sso_buttons=buttons, local_login_enabled=lambda: bool(
        current_app.config.get("LOCAL_LOGIN", True)))


def _client(name: str):
    return current_app.extensions["authlib.integrations.flask_client"].create_client(name)


def buttons() -> list[dict]:
    """The login page's buttons, one per configured provider."""
    found = []
    if oidc_enabled():
        found.append({"url": url_for("auth.oidc_login"), "label": f"Entrar com {provider_name()}",
                      "icon": "bi-shield-lock"})
    if github_enabled():
        found.append({"url": url_for("auth.github_login"), "label": "Entrar com GitHub", "icon": "bi-github"})
    return found


def provider_name() -> str:
    return current_app.config.get("OIDC_PROVIDER_NAME") or "provedor de identidade"


def label(name: str) -> str:
    return provider_name() if name == OIDC else "GitHub"


# -- the flow ---------------------------------------------------------------------------------------------
def start(name: str, next_url: str | None):
    """Redirect to the provider; `next_url` (already checked by safe_next) is followed after the callback."""
    session[_SESSION_NEXT] = next_url or ""
    client = _client(name)
    try:
        if name == OIDC:
            _check_discovery(client)
        return client.authorize_redirect(url_for(f"auth.{name}_callback", _external=True))
    except (requests.RequestException, ValueError) as exc:
        raise SignInRefused(f"{label(name)} não respondeu. Tente novamente em instantes.",
                            f"provedor indisponível ({type(exc).__name__})") from exc


def take_next() -> str:
    return session.pop(_SESSION_NEXT, "") or ""


def fetch_profile(name: str):
    """Finish the provider's side of the callback: (Profile, id_token or None), or SignInRefused."""
    client = _client(name)
    try:
        if name == OIDC:
            _check_discovery(client)
            token = client.authorize_access_token(leeway=ID_TOKEN_LEEWAY)
            return _oidc_profile(token), token.get("id_token")
        token = client.authorize_access_token()
        return _github_profile(client, token), None
    except MismatchingStateError as exc:
        raise SignInRefused("A resposta do provedor não corresponde a um login iniciado aqui (state inválido). "
                            "Tente entrar de novo.", "state inválido") from exc
    except OAuthError as exc:
        raise SignInRefused(f"{label(name)} recusou o login ({exc.error}).",
                            f"erro do provedor: {exc.error}: {(exc.description or '')[:120]}") from exc
    except (JoseError, AuthlibBaseError) as exc:
        raise SignInRefused("O token de identidade do provedor não é válido (assinatura, emissor, público ou "
                            "validade). Login recusado.", f"ID token recusado: {type(exc).__name__}: "
                            f"{str(exc)[:160]}") from exc
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise SignInRefused(f"{label(name)} não respondeu como esperado. Tente novamente em instantes.",
                            f"resposta inesperada do provedor ({type(exc).__name__})") from exc


def _check_discovery(client) -> None:
    """The discovery document must name the issuer we were configured with (OpenID Connect Discovery §4.3)."""
    found = str(client.load_server_metadata().get("issuer", "")).rstrip("/")
    if found != issuer():
        raise SignInRefused("O provedor de identidade está mal configurado (emissor divergente).",
                            f"issuer da descoberta {found[:120]!r} difere de OIDC_ISSUER")


def _oidc_profile(token: dict) -> Profile:
    claims = token.get("userinfo")  # the ID token's claims, already checked by Authlib
    if not claims or not claims.get("sub"):
        raise SignInRefused("O provedor não enviou um token de identidade. Login recusado.", "sem ID token")
    config = current_app.config
    role_claim = config.get("OIDC_ROLE_CLAIM") or ""
    return Profile(
        provider=issuer(), label=provider_name(), subject=str(claims["sub"]),
        email=_email(claims.get("email")), email_verified=claims.get("email_verified") in (True, "true"),
        username=claims.get("preferred_username") or None, nome=claims.get("name") or None,
        role_values=_values(claims.get(role_claim)) if role_claim else None,
        role_map=parse_role_map(config.get("OIDC_ROLE_MAP")))


def _values(raw) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, (list, tuple)):
        return [str(v) for v in raw if isinstance(v, (str, int))]
    return []


def _email(raw) -> str | None:
    return raw.strip().lower() if isinstance(raw, str) and "@" in raw else None


def _github_get(client, token, path: str):
    return client.get(path, token=token, headers=GITHUB_HEADERS)


def _github_profile(client, token: dict) -> Profile:
    config = current_app.config
    org = config["GITHUB_ORG"]
    user = _github_get(client, token, "user")
    user.raise_for_status()
    user = user.json()
    membership = _github_get(client, token, f"user/memberships/orgs/{quote(org, safe='')}")
    if membership.status_code != 200 or membership.json().get("state") != "active":
        raise SignInRefused(f"Sua conta do GitHub não é membro da organização {org}. Login recusado.",
                            f"GitHub {user.get('login')!r} fora da organização {org} "
                            f"(HTTP {membership.status_code})")
    emails = _github_get(client, token, "user/emails")
    emails.raise_for_status()
    primary = next((e for e in emails.json() if e.get("primary")), None) or {}
    role_map = parse_role_map(config.get("GITHUB_ROLE_MAP"))
    teams = None
    if role_map:
        found = _github_get(client, token, "user/teams")
        found.raise_for_status()
        teams = [t.get("slug") for t in found.json()
                 if (t.get("organization") or {}).get("login", "").lower() == org.lower() and t.get("slug")]
    return Profile(
        provider=GITHUB, label="GitHub", subject=str(user["id"]),
        email=_email(primary.get("email") or user.get("email")), email_verified=bool(primary.get("verified")),
        username=user.get("login"), nome=user.get("name") or None, role_values=teams, role_map=role_map)


# -- after sign-in and at logout ------------------------------------------------------------------------
def remember_sign_in(name: str, id_token: str | None) -> None:
    """Called after the fresh session starts: which provider, and the ID token for the logout's id_token_hint."""
    session[_SESSION_PROVIDER] = name
    if id_token and len(id_token) <= ID_TOKEN_HINT_MAX:
        session[_SESSION_ID_TOKEN] = id_token


def provider_logout_url() -> str | None:
    """Where logout continues: the provider's end_session_endpoint when it publishes one, else None."""
    if session.get(_SESSION_PROVIDER) != OIDC or not oidc_enabled():
        return None
    client = _client(OIDC)
    try:
        endpoint = client.load_server_metadata().get("end_session_endpoint")
    except (requests.RequestException, ValueError):
        return None
    if not endpoint:
        return None
    return client.create_logout_url(post_logout_redirect_uri=url_for("auth.login", _external=True),
                                    id_token_hint=session.get(_SESSION_ID_TOKEN),
                                    client_id=current_app.config["OIDC_CLIENT_ID"])["url"]

