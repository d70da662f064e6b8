"""Sign-in through a real OpenID Connect provider (oidc-provider-mock over HTTP) and a fake GitHub, with the
Flask test client on our side: users created just in time, roles from claims, every refusal."""
import base64
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from apps import create_app
from apps.auth.identities import ExternalIdentity
from apps.auth.models import Role, User
from apps.auth.sso import parse_role_map
from apps.core.types import db
from tests.conftest import CSRFClient, actions
from tests.factories import PASSWORD, UserFactory
from tests.support.identity import GithubUser, github_server, oidc_provider

ROLE_MAP = "RPA.Admin=ADMIN,RPA.Operador=OPERADOR"


@pytest.fixture(scope="module")
def provider():
    with oidc_provider() as running:
        yield running


@pytest.fixture(scope="module")
def github():
    with github_server() as running:
        yield running


@pytest.fixture(scope="module")
def sso_app(app, app_config, provider, github):
    """An app on the suite's database whose OIDC and GitHub settings point at the local providers."""
    application = create_app(dict(
        app_config, OIDC_ISSUER=provider.url, OIDC_CLIENT_ID="rpa-dashboard", OIDC_CLIENT_SECRET="segredo-oidc",
        OIDC_ROLE_CLAIM="roles", OIDC_ROLE_MAP=ROLE_MAP, OIDC_PROVIDER_NAME="Acme SSO",
        GITHUB_ID=github.client_id, GITHUB_SECRET=github.client_secret, GITHUB_ORG="acme",
        GITHUB_ROLE_MAP="operadores=OPERADOR", GITHUB_OAUTH_URL=github.url, GITHUB_API_URL=github.url + "/api"))
    application.test_client_class = CSRFClient
    return application


@pytest.fixture
def web(sso_app):
    return sso_app.test_client()


def oidc_sign_in(web, provider, sub, next_url=None, tamper_state=False):
    """The whole round trip: our redirect, the person's choice at the provider, the callback."""
    start = web.get("/login/oidc" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.get_data(as_text=True)[:300]
    back = provider.authorize(start.headers["Location"], sub)
    if tamper_state:
        back = back.replace("state=", "state=x")
    return web.get(back)


def flashes(web):
    with web.session_transaction() as sess:
        return [message for _category, message in sess.get("_flashes", [])]


def user_by_email(email):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_role_map_keeps_the_written_order_and_skips_malformed_entries():
    assert parse_role_map(" RPA.Admin=ADMIN, lixo ,=X, grupo=com=igual=OPERADOR") == [
        ("RPA.Admin", "ADMIN"), ("grupo=com=igual", "OPERADOR")]


def test_a_mapped_role_we_do_not_have_is_skipped_for_the_next_match():
    from apps.auth.external import mapped_role
    from apps.auth.sso import Profile

    profile = Profile(provider="x", label="x", subject="s", email=None, email_verified=False, username=None,
                      nome=None, role_values=["g1", "g2"], role_map=[("g1", "SUPREMO"), ("g2", "OPERADOR")])
    assert mapped_role(profile) == Role.OPERADOR
    profile.role_values = ["outro"]
    assert mapped_role(profile) == Role.VISUALIZADOR
    profile.role_values = None
    assert mapped_role(profile) is None


def test_login_page_offers_both_providers(web):
    page = web.get("/login").get_data(as_text=True)
    assert "Entrar com Acme SSO" in page and "Entrar com GitHub" in page
    assert 'name="password"' in page and "<details" not in page


def test_first_oidc_sign_in_creates_the_user_with_the_mapped_role(web, provider):
    provider.set_user("ana-sub", email="ana@acme.test", email_verified=True, name="Ana Lima",
                      preferred_username="ana.lima", roles=["Outro", "RPA.Operador"])
    start = web.get("/login/oidc")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["client_id"] == ["rpa-dashboard"]
    with web.session_transaction() as sess:
        sess["plantado"] = "antes do login"
    response = web.get(provider.authorize(start.headers["Location"], "ana-sub"))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = user_by_email("ana@acme.test")
    assert (user.username, user.nome, user.role) == ("ana.lima", "Ana Lima", Role.OPERADOR)
    with web.session_transaction() as sess:  # a fresh session: nothing from before the sign-in survives
        assert "plantado" not in sess and not any(k.startswith("_state_") for k in sess)
    assert web.get("/").status_code == 200
    identity = db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.user_id == user.id))
    assert (identity.provider, identity.subject) == (provider.url, "ana-sub")
    assert [a.detail for a in actions("usuario_criado_provedor")] == ["via Acme SSO; perfil=OPERADOR"]
    assert [a.detail for a in actions("login")] == ["via Acme SSO"]
    # no usable local password, whatever is typed
    assert web.post("/logout").status_code == 302
    assert sso_local_login(web, "ana.lima", "!externo").status_code == 200


def sso_local_login(web, login, password):
    return web.post("/login", data={"login": login, "password": password})


def test_next_sign_in_updates_the_role_from_the_claim_and_ends_other_sessions(web, sso_app, provider):
    provider.set_user("bia-sub", email="bia@acme.test", email_verified=True, roles=["RPA.Admin"])
    oidc_sign_in(web, provider, "bia-sub")
    assert user_by_email("bia@acme.test").role == Role.ADMIN
    other = sso_app.test_client()
    provider.set_user("bia-sub", email="bia@acme.test", email_verified=True, roles=[])
    assert oidc_sign_in(other, provider, "bia-sub").status_code == 302
    assert user_by_email("bia@acme.test").role == Role.VISUALIZADOR
    assert [a.detail for a in actions("perfil_alterado_provedor")] == ["perfil ADMIN→VISUALIZADOR (Acme SSO)"]
    assert web.get("/").status_code == 302  # the first session ended with the role change
    assert other.get("/").status_code == 200


def test_a_tampered_state_is_refused_and_creates_nobody(web, provider):
    provider.set_user("cai-sub", email="cai@acme.test", email_verified=True)
    response = oidc_sign_in(web, provider, "cai-sub", tamper_state=True)
    assert response.headers["Location"] == "/login"
    assert any("state inválido" in m for m in flashes(web))
    assert user_by_email("cai@acme.test") is None
    assert "state inválido" in actions("login_externo_recusado")[0].detail


@pytest.mark.parametrize("change", [
    {"aud": "outro-cliente"}, {"iss": "http://127.0.0.1:1"}, {"exp": 1_000_000_000, "iat": 999_999_000},
    {"nonce": "outro-nonce"}, "foreign key",
], ids=["aud", "iss", "exp", "nonce", "foreign-key"])
def test_an_id_token_that_does_not_check_out_is_refused(web, provider, change):
    provider.set_user("dan-sub", email="dan@acme.test", email_verified=True)
    if change == "foreign key":
        provider.next_id_token_signed_by_foreign_key()
    else:
        provider.next_id_token(**change)
    response = oidc_sign_in(web, provider, "dan-sub")
    assert response.headers["Location"] == "/login"
    assert any("token de identidade do provedor não é válido" in m for m in flashes(web))
    assert user_by_email("dan@acme.test") is None
    assert web.get("/").status_code == 302


def test_a_rotated_key_is_fetched_once_and_accepted(web, sso_app, provider):
    provider.set_user("eva-sub", email="eva@acme.test", email_verified=True)
    oidc_sign_in(web, provider, "eva-sub")
    web.post("/logout")
    fetched = provider.count("/jwks")
    oidc_sign_in(web, provider, "eva-sub")
    assert provider.count("/jwks") == fetched  # the JWKS is kept between sign-ins
    web.post("/logout")
    provider.rotate_key()
    response = oidc_sign_in(web, provider, "eva-sub")
    assert response.headers["Location"] == "/", flashes(web)
    assert provider.count("/jwks") == fetched + 1


def test_a_deactivated_user_is_refused(web, provider):
    provider.set_user("fel-sub", email="fel@acme.test", email_verified=True)
    oidc_sign_in(web, provider, "fel-sub")
    web.post("/logout")
    user = user_by_email("fel@acme.test")
    user.ativo = False
    db.session.commit()
    response = oidc_sign_in(web, provider, "fel-sub")
    assert response.headers["Location"] == "/login"
    assert any("desativado" in m for m in flashes(web))
    assert web.get("/").status_code == 302


def test_an_existing_local_user_is_linked_only_by_a_verified_email(web, provider):
    local = UserFactory(username="gui", email="gui@acme.test", role=Role.OPERADOR)
    provider.set_user("gui-sub", email="gui@acme.test", email_verified=False, roles=["RPA.Operador"])
    response = oidc_sign_in(web, provider, "gui-sub")
    assert response.headers["Location"] == "/login"
    assert any("não verificado" in m for m in flashes(web))
    assert db.session.scalar(select(ExternalIdentity)) is None
    provider.set_user("gui-sub", email="gui@acme.test", email_verified=True, roles=["RPA.Operador"])
    assert oidc_sign_in(web, provider, "gui-sub").headers["Location"] == "/"
    identity = db.session.scalar(select(ExternalIdentity))
    assert identity.user_id == local.id
    assert len(actions("identidade_vinculada")) == 1
    assert sso_local_login(web.application.test_client(), "gui", PASSWORD).status_code == 302  # password kept


def test_next_is_followed_only_inside_the_site(web, sso_app, provider):
    provider.set_user("hel-sub", email="hel@acme.test", email_verified=True)
    assert oidc_sign_in(web, provider, "hel-sub", next_url="/processos").headers["Location"] == "/processos"
    other = sso_app.test_client()
    assert oidc_sign_in(other, provider, "hel-sub", next_url="//evil.example/x").headers["Location"] == "/"
    third = sso_app.test_client()
    assert oidc_sign_in(third, provider, "hel-sub", next_url="/%5Cevil.example/x").headers["Location"] == "/"


def test_a_denial_at_the_provider_is_refused_with_its_reason(web, provider):
    start = web.get("/login/oidc")
    back = requests.post(start.headers["Location"], data={"action": "deny"}, allow_redirects=False, timeout=5)
    response = web.get(back.headers["Location"])
    assert response.headers["Location"] == "/login"
    assert any("recusou o login (access_denied)" in m for m in flashes(web))
    assert web.get("/").status_code == 302


def test_logout_ends_our_session_and_continues_at_the_provider(web, provider):
    provider.set_user("ivo-sub", email="ivo@acme.test", email_verified=True)
    oidc_sign_in(web, provider, "ivo-sub")
    response = web.post("/logout")
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == provider.url + "/oauth2/end_session"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/login"]
    claims = json.loads(base64.urlsafe_b64decode(query["id_token_hint"][0].split(".")[1] + "=="))
    assert claims["sub"] == "ivo-sub"
    assert web.get("/").status_code == 302


def test_a_huge_id_token_is_not_kept_in_the_cookie_and_logout_still_reaches_the_provider(web, provider):
    provider.set_user("jon-sub", email="jon@acme.test", email_verified=True, roles=[f"grupo-{n:04d}" for n in range(300)])
    assert oidc_sign_in(web, provider, "jon-sub").headers["Location"] == "/"
    query = parse_qs(urlsplit(web.post("/logout").headers["Location"]).query)
    assert "id_token_hint" not in query and query["client_id"] == ["rpa-dashboard"]


def test_local_logout_stays_local(web, users, login):
    client = login(users[Role.ADMIN])
    assert client.post("/logout").headers["Location"] == "/login"


def test_local_login_off_leaves_the_password_to_break_glass_admins(web, sso_app, users, monkeypatch):
    monkeypatch.setitem(sso_app.config, "LOCAL_LOGIN", False)
    page = web.get("/login").get_data(as_text=True)
    assert "<details" in page and "Acesso de emergência" in page
    for role in (Role.ADMIN, Role.OPERADOR):
        refused = sso_local_login(web, users[role].username, PASSWORD)
        assert refused.status_code == 200 and "login com senha está desativado" in refused.get_data(as_text=True)
        assert web.post("/api/v1/auth/token", json={"username": users[role].username,
                                                    "password": PASSWORD}).status_code == 401
    admin = users[Role.ADMIN]
    admin.break_glass = True
    db.session.commit()
    assert sso_local_login(web, admin.username, PASSWORD).headers["Location"] == "/"
    assert web.post("/api/v1/auth/token", json={"username": admin.username, "password": PASSWORD}).status_code == 200
    assert "login local desativado" in actions("login_falhou")[0].detail


def test_break_glass_is_set_by_admins_and_only_on_admins(client, users, admin, admin_client):
    target = UserFactory(username="emergencia", role=Role.ADMIN)
    response = client.patch(f"/api/v1/usuarios/{target.id}", json={"break_glass": True}, headers=admin)
    assert response.status_code == 200 and response.get_json()["break_glass"] is True
    viewer = users[Role.VISUALIZADOR]
    refused = client.patch(f"/api/v1/usuarios/{viewer.id}", json={"break_glass": True}, headers=admin)
    assert refused.status_code == 422 and "break_glass" in refused.get_json()["fields"]
    page = admin_client.get(f"/usuarios/{target.id}/editar").get_data(as_text=True)
    checkbox = re.search(r'<input[^>]*name="break_glass"[^>]*>', page).group(0)
    assert "checked" in checkbox
    form = {"email": target.email, "nome": "", "role": Role.OPERADOR, "ativo": "y"}
    assert admin_client.post(f"/usuarios/{target.id}/editar", data=form).status_code == 302
    db.session.expire_all()
    assert (target.role, target.break_glass) == (Role.OPERADOR, False)  # leaving Admin drops it
    form.update(role=Role.ADMIN, break_glass="y")
    assert admin_client.post(f"/usuarios/{target.id}/editar", data=form).status_code == 302
    db.session.expire_all()
    assert target.break_glass is True


def github_sign_in(web, github, login):
    start = web.get("/login/github")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    return web.get(github.authorize(start.headers["Location"], login))


def test_github_org_member_gets_in_with_the_team_role(web, github, admin_client):
    github.add(GithubUser("joana", 101, "joana@acme.test", orgs={"acme": "active"},
                          teams=[("acme", "operadores"), ("outra", "admins")], name="Joana"))
    assert github_sign_in(web, github, "joana").headers["Location"] == "/"
    user = user_by_email("joana@acme.test")
    assert (user.username, user.role) == ("joana", Role.OPERADOR)
    identity = db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.user_id == user.id))
    assert (identity.provider, identity.subject) == ("github", "101")
    page = admin_client.get(f"/usuarios/{user.id}/editar").get_data(as_text=True)
    assert "Identidades externas" in page and "GitHub</strong> · 101 · joana@acme.test" in page


@pytest.mark.parametrize("orgs", [{}, {"acme": "pending"}, {"outra": "active"}])
def test_github_non_member_is_refused(web, github, orgs):
    github.add(GithubUser("kleber", 102, "kleber@acme.test", orgs=orgs))
    response = github_sign_in(web, github, "kleber")
    assert response.headers["Location"] == "/login"
    assert any("não é membro da organização acme" in m for m in flashes(web))
    assert user_by_email("kleber@acme.test") is None
    assert "fora da organização" in actions("login_externo_recusado")[0].detail


def test_providers_not_configured_answer_404(client):
    assert client.get("/login/oidc").status_code == 404
    assert client.get("/login/github/callback").status_code == 404
    assert "Entrar com" not in client.get("/login").get_data(as_text=True).replace("Entrar</button>", "")


@pytest.mark.parametrize("target", ["/\\evil.example", "/\t/evil.example", "https://evil.example", "//evil.example"])
def test_safe_next_refuses_what_a_browser_reads_as_another_site(target):
    from apps.core.pagination import safe_next

    assert safe_next(target, "/") == "/"
    assert safe_next("/processos?competencia=2026-05", "/") == "/processos?competencia=2026-05"


def test_create_admin_can_make_a_break_glass_admin(runner):
    result = runner.invoke(args=["users", "create-admin", "--username", "socorro", "--password",
                                 "Cavalo-Bateria-Grampo", "--break-glass"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.username == "socorro")).break_glass is True
