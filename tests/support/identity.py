"""Real identity providers on localhost for the sign-in tests.

`oidc_provider()`: oidc-provider-mock (a real OpenID Connect provider: discovery, JWKS, code flow, RS256 ID
tokens; `PUT /users/<sub>` sets claims) served over HTTP in a thread. Its ID tokens are re-signed with its own
key to carry the key's `kid` in the header, as real providers' do (this version signs without one). Two test
hooks on the same server change only what a real provider could send:
- `rotate_key()`: the provider's signing key is replaced (new `kid`; the JWKS serves only the new key);
- `next_id_token(**claims)` / `next_id_token_signed_by_foreign_key()`: the next token answer carries an ID
  token with these claims changed, re-signed with the provider's own key (or with a key that is not in
  the JWKS). That is how a wrong `aud`, `iss` or an expired token reach the app with a valid signature.

`github_server()`: a small fake of GitHub's OAuth (authorize, access_token with PKCE checked) and the API
calls the app makes (/user, /user/emails, /user/memberships/orgs/<org>, /user/teams).
"""
import base64
import hashlib
import json
import os
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

import flask
import oidc_provider_mock
import requests
import werkzeug.serving
from authlib import jose
from joserfc import jws
from joserfc.jwk import RSAKey


@contextmanager
def serve_in_thread(app):
    """Serve a WSGI app on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class OidcProvider:
    """Handle on a running oidc-provider-mock: its URL, its users, its key, what the app fetched."""

    def __init__(self):
        self.url = ""
        self.requests: list[str] = []  # paths served, in order
        self._token_changes: dict | None = None
        self._foreign_key = False
        self._rotate = False
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the provider (Authlib's server side) on plain HTTP
        self.app = oidc_provider_mock.app(require_nonce=True)
        self.app.before_request(self._before)
        self.app.after_request(self._after)

    # -- what tests call ------------------------------------------------------------------------------
    def set_user(self, sub: str, **claims) -> None:
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def rotate_key(self) -> None:
        """Replace the signing key at the provider's next request (the storage lives in its request context)."""
        self._rotate = True
        requests.get(f"{self.url}/.well-known/openid-configuration", timeout=5)

    def next_id_token(self, **claims) -> None:
        self._token_changes = claims

    def next_id_token_signed_by_foreign_key(self) -> None:
        self._token_changes, self._foreign_key = {}, True

    def count(self, path: str) -> int:
        return sum(1 for p in self.requests if p == path)

    def authorize(self, authorize_url: str, sub: str) -> str:
        """What a person does on the provider's form (POST sub): the redirect back to the app."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text[:300]
        return response.headers["Location"]

    # -- hooks --------------------------------------------------------------------------------------
    def _before(self):
        self.requests.append(flask.request.path)
        if self._rotate:
            self._rotate = False
            flask.g.oidc_provider_mock_storage.jwk = jose.RSAKey.generate_key(is_private=True)

    def _after(self, response):
        """Every ID token names its key (`kid`), as real providers' do: oidc-provider-mock 0.3.4 under Authlib
        1.9 signs without one, and a rotation could then not be told from a forged signature."""
        if flask.request.path != "/oauth2/token" or response.status_code != 200:
            return response
        changes, foreign = self._token_changes or {}, self._foreign_key
        self._token_changes, self._foreign_key = None, False
        body = json.loads(response.get_data())
        if "id_token" not in body:
            return response
        own = RSAKey.import_key(flask.g.oidc_provider_mock_storage.jwk.as_dict(is_private=True))
        key = RSAKey.generate_key(2048) if foreign else own
        payload = json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[1] + "=="))
        payload.update(changes)
        header = {"alg": "RS256", "kid": key.kid or key.thumbprint()}
        body["id_token"] = jws.serialize_compact(header, json.dumps(payload).encode(), key)
        response.set_data(json.dumps(body))
        return response


@contextmanager
def oidc_provider():
    provider = OidcProvider()
    with serve_in_thread(provider.app) as url:
        provider.url = url
        yield provider


# -- GitHub -------------------------------------------------------------------------------------------------
@dataclass
class GithubUser:
    login: str
    id: int
    email: str
    verified: bool = True
    orgs: dict = field(default_factory=dict)     # org -> "active" | "pending"
    teams: list = field(default_factory=list)    # (org, slug)
    name: str | None = None


class FakeGithub:
    """GitHub's OAuth endpoints and the four API calls, for one registered OAuth app."""

    def __init__(self, client_id="gh-client", client_secret="gh-secret"):  # noqa: S107 (test values)
        self.client_id, self.client_secret = client_id, client_secret
        self.users: dict[str, GithubUser] = {}
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.url = ""
        self.app = self._build()

    def add(self, user: GithubUser) -> GithubUser:
        self.users[user.login] = user
        return user

    def authorize(self, authorize_url: str, login: str) -> str:
        response = requests.post(authorize_url, data={"login": login}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text[:300]
        return response.headers["Location"]

    def _build(self):
        app = flask.Flask("fake_github")
        fake = self

        @app.route("/login/oauth/authorize", methods=["GET", "POST"])
        def authorize():
            args = flask.request.args
            if args.get("client_id") != fake.client_id:
                return "unknown client", 404
            if flask.request.method == "GET":  # a page a browser can use: one button per account
                buttons = "".join(f'<button name="login" value="{u}">Autorizar {u}</button>' for u in fake.users)
                return f'<!doctype html><html lang="en"><title>GitHub</title><form method="post">{buttons}</form>'
            login = flask.request.form["login"]
            code = secrets.token_urlsafe(16)
            fake.codes[code] = {"login": login, "redirect_uri": args.get("redirect_uri"),
                                "challenge": args.get("code_challenge"), "method": args.get("code_challenge_method")}
            query = urlencode({"code": code, "state": args.get("state", "")})
            return flask.redirect(f"{args['redirect_uri']}?{query}")

        @app.post("/login/oauth/access_token")
        def access_token():
            form = flask.request.form
            auth = flask.request.authorization
            client_id = auth.username if auth else form.get("client_id")
            secret = auth.password if auth else form.get("client_secret")
            if (client_id, secret) != (fake.client_id, fake.client_secret):
                return flask.jsonify(error="incorrect_client_credentials")
            grant = fake.codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return flask.jsonify(error="bad_verification_code")
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant["method"] != "S256" or digest != grant["challenge"]:
                return flask.jsonify(error="invalid_grant", error_description="PKCE verification failed")
            token = secrets.token_urlsafe(20)
            fake.tokens[token] = grant["login"]
            return flask.jsonify(access_token=token, token_type="bearer", scope=form.get("scope", ""))

        def current():
            header = flask.request.headers.get("Authorization", "")
            login = fake.tokens.get(header.partition(" ")[2])
            if login is None:
                flask.abort(401)
            return fake.users[login]

        @app.get("/api/user")
        def user():
            u = current()
            return flask.jsonify(login=u.login, id=u.id, name=u.name, email=None)

        @app.get("/api/user/emails")
        def emails():
            u = current()
            return flask.jsonify([{"email": u.email, "primary": True, "verified": u.verified}])

        @app.get("/api/user/memberships/orgs/<org>")
        def membership(org):
            u = current()
            if org not in u.orgs:
                return flask.jsonify(message="Not Found"), 404
            return flask.jsonify(state=u.orgs[org], role="member", organization={"login": org})

        @app.get("/api/user/teams")
        def teams():
            u = current()
            return flask.jsonify([{"slug": slug, "organization": {"login": org}} for org, slug in u.teams])

        return app


@contextmanager
def github_server():
    fake = FakeGithub()
    with serve_in_thread(fake.app) as url:
        fake.url = url
        yield fake
