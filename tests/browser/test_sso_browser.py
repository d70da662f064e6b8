"""Sign-in through a real OpenID Connect provider (oidc-provider-mock, over HTTP) and a fake GitHub, driven in
Debian's Chromium against the dashboard under gunicorn (one worker, so the JWKS it keeps is the one we count).

The provider's own authorization form is filled as a person would; refusals are what the provider (or a
tampered redirect) really sends. axe-core checks the login page with the buttons, light and dark.
"""
import os
import sys

import pytest
from sqlalchemy import select

from apps.auth.models import Role, User
from apps.auth.services import create_user
from apps.core.types import db
from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER, ROOT, System, remove_workdir
from tests.browser.test_accessibility_browser import AXE, BLOCKING, violations
from tests.support.identity import GithubUser, github_server, oidc_provider
from tests.support.servers import free_port, postgres_server, redis_server

PROVIDER_NAME = "Acme SSO"
BREAK_GLASS_USER, BREAK_GLASS_PASSWORD = "emergencia.admin", "Senha-De-Emergencia-Forte-42"


class SsoSystem(System):
    """Only what sign-in needs: Redis, a migrated database, the first admin and gunicorn with these settings."""

    def __init__(self, workdir, database, settings: dict):
        super().__init__(workdir, database, web_workers=1)
        self.settings = settings

    def _env(self, db_url, redis_url):
        env = super()._env(db_url, redis_url)
        env.update(self.settings)
        return env

    def start(self, sim_knobs=None):
        redis_url, _proc = self.stack.enter_context(redis_server())
        if self.database == "postgresql":
            db_url = self.stack.enter_context(postgres_server())
        else:
            db_url = f"sqlite:///{self.workdir}/dashboard.db"
        self.env = self._env(db_url, redis_url)
        self.flask("db", "upgrade")
        self.flask("users", "create-admin", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD)
        self.start_web()
        return self


@pytest.fixture(scope="module")
def providers():
    with oidc_provider() as provider, github_server() as github:
        yield provider, github


@pytest.fixture(scope="module")
def sso_system(providers, tmp_path_factory):
    provider, github = providers
    settings = {
        "OIDC_ISSUER": provider.url, "OIDC_CLIENT_ID": "rpa-dashboard", "OIDC_CLIENT_SECRET": "segredo-oidc",
        "OIDC_ROLE_CLAIM": "roles", "OIDC_ROLE_MAP": "RPA.Admin=ADMIN,RPA.Operador=OPERADOR",
        "OIDC_PROVIDER_NAME": PROVIDER_NAME, "GITHUB_ID": github.client_id, "GITHUB_SECRET": github.client_secret,
        "GITHUB_ORG": "acme", "GITHUB_OAUTH_URL": github.url, "GITHUB_API_URL": github.url + "/api",
    }
    database = "postgresql" if os.environ.get("TEST_DATABASE") == "postgresql" else "sqlite"
    running = SsoSystem(tmp_path_factory.mktemp("sso-system"), database, settings)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        remove_workdir(running)


@pytest.fixture(scope="module")
def sso_app(sso_system):
    return sso_system.app()


@pytest.fixture
def new_page(browser):
    contexts = []

    def _open(theme=None):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR", bypass_csp=True)
        if theme:
            context.add_init_script(f"try {{ localStorage.setItem('rpa-theme', '{theme}'); }} catch (e) {{}}")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield _open
    for context in contexts:
        context.close()


def user_row(app, email):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        row = None if user is None else {"role": user.role, "username": user.username, "id": user.id}
        db.session.remove()
        return row


def sign_in_at_provider(page, system, sub):
    """Click our button, fill the provider's form as a person would, come back."""
    page.goto(system.base_url + "/login")
    page.get_by_role("link", name=f"Entrar com {PROVIDER_NAME}").click()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(lambda url: url.startswith(system.base_url) and "/callback" not in url)


def test_sign_in_creates_the_user_with_the_claimed_role_and_updates_it_next_time(new_page, sso_system, sso_app,
                                                                                  providers):
    provider, _github = providers
    provider.set_user("ana-sub", email="ana@acme.test", email_verified=True, name="Ana Lima",
                      preferred_username="ana.lima", roles=["RPA.Admin"])
    page = new_page()
    sign_in_at_provider(page, sso_system, "ana-sub")
    assert page.url == sso_system.base_url + "/"
    assert page.get_by_text("Bem-vindo, Ana Lima!").is_visible()
    assert page.locator("nav").get_by_text("Admin", exact=True).is_visible()
    assert user_row(sso_app, "ana@acme.test")["role"] == Role.ADMIN
    # logout ends our session and then the provider's (its end-session page), and comes back to /login
    page.get_by_role("button", name="Sair").click()
    page.wait_for_url(lambda url: url.startswith(provider.url + "/oauth2/end_session"))
    assert "id_token_hint=" in page.url
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(sso_system.base_url + "/login**")
    assert page.goto(sso_system.base_url + "/").url.startswith(sso_system.base_url + "/login")

    provider.set_user("ana-sub", email="ana@acme.test", email_verified=True, name="Ana Lima",
                      preferred_username="ana.lima", roles=["RPA.Operador"])
    page = new_page()
    sign_in_at_provider(page, sso_system, "ana-sub")
    assert user_row(sso_app, "ana@acme.test")["role"] == Role.OPERADOR
    assert page.locator("nav").get_by_text("Operador", exact=True).is_visible()


def test_a_tampered_state_is_refused(new_page, sso_system, sso_app, providers):
    provider, _github = providers
    provider.set_user("bia-sub", email="bia@acme.test", email_verified=True)
    page = new_page()

    def tamper(route):
        """The provider's redirect back, its state changed on the way (Playwright does not route redirects)."""
        if route.request.method != "POST":
            return route.continue_()
        answer = route.fetch(max_redirects=0)
        location = answer.headers["location"]
        assert "state=" in location
        return route.fulfill(status=302, headers={"Location": location.replace("state=", "state=adulterado")})

    page.route(lambda url: url.startswith(provider.url + "/oauth2/authorize"), tamper)
    page.goto(sso_system.base_url + "/login")
    page.get_by_role("link", name=f"Entrar com {PROVIDER_NAME}").click()
    page.get_by_placeholder("sub").fill("bia-sub")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(sso_system.base_url + "/login")
    assert page.get_by_text("state inválido").is_visible()
    assert user_row(sso_app, "bia@acme.test") is None


def test_an_id_token_for_another_audience_is_refused(new_page, sso_system, sso_app, providers):
    provider, _github = providers
    provider.set_user("cai-sub", email="cai@acme.test", email_verified=True)
    provider.next_id_token(aud="outro-cliente")  # signed with the provider's own key: only the audience is wrong
    page = new_page()
    sign_in_at_provider(page, sso_system, "cai-sub")
    assert page.url == sso_system.base_url + "/login"
    assert page.get_by_text("O token de identidade do provedor não é válido").is_visible()
    assert user_row(sso_app, "cai@acme.test") is None


def test_a_rotated_signing_key_is_fetched_once_and_accepted(new_page, sso_system, sso_app, providers):
    provider, _github = providers
    provider.set_user("dan-sub", email="dan@acme.test", email_verified=True)
    sign_in_at_provider(new_page(), sso_system, "dan-sub")  # the worker has the JWKS now
    before = provider.count("/jwks")
    provider.rotate_key()
    page = new_page()
    sign_in_at_provider(page, sso_system, "dan-sub")
    assert page.url == sso_system.base_url + "/"
    assert provider.count("/jwks") == before + 1


def test_a_deactivated_user_is_refused(new_page, sso_system, sso_app, providers):
    provider, _github = providers
    provider.set_user("eva-sub", email="eva@acme.test", email_verified=True)
    sign_in_at_provider(new_page(), sso_system, "eva-sub")
    with sso_app.app_context():
        user = db.session.scalar(select(User).where(User.email == "eva@acme.test"))
        user.ativo = False
        db.session.commit()
        db.session.remove()
    page = new_page()
    sign_in_at_provider(page, sso_system, "eva-sub")
    assert page.url == sso_system.base_url + "/login"
    assert page.get_by_text("Seu usuário está desativado").is_visible()


def sign_in_with_github(page, system, login):
    page.goto(system.base_url + "/login")
    page.get_by_role("link", name="Entrar com GitHub").click()
    page.get_by_role("button", name=f"Autorizar {login}").click()
    page.wait_for_url(lambda url: url.startswith(system.base_url) and "/callback" not in url)


def test_github_member_gets_in_and_non_member_is_refused(new_page, sso_system, sso_app, providers):
    _provider, github = providers
    github.add(GithubUser("joana", 101, "joana@acme.test", orgs={"acme": "active"}, name="Joana"))
    github.add(GithubUser("kleber", 102, "kleber@acme.test", orgs={"outra": "active"}))
    page = new_page()
    sign_in_with_github(page, sso_system, "joana")
    assert page.url == sso_system.base_url + "/"
    assert user_row(sso_app, "joana@acme.test")["role"] == Role.VISUALIZADOR
    page = new_page()
    sign_in_with_github(page, sso_system, "kleber")
    assert page.url == sso_system.base_url + "/login"
    assert page.get_by_text("não é membro da organização acme").is_visible()
    assert user_row(sso_app, "kleber@acme.test") is None


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_login_page_with_the_buttons_passes_axe(new_page, sso_system, theme):
    assert AXE.is_file(), "axe-core falta: rode `make assets` (npm ci)"
    page = new_page(theme)
    page.goto(sso_system.base_url + "/login")
    assert page.get_by_role("link", name=f"Entrar com {PROVIDER_NAME}").is_visible()
    assert page.get_by_role("link", name="Entrar com GitHub").is_visible()
    blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
    assert blocking == [], blocking


def start_second_web(system, **settings) -> tuple[str, object]:
    """Another gunicorn on the same database and Redis with these settings changed: (base URL, process)."""
    port = free_port()
    env, system.env = system.env, dict(system.env, **settings)
    try:
        proc = system.spawn(f"web-{port}", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn-cfg.py"),
                                            "-b", f"127.0.0.1:{port}"])
    finally:
        system.env = env
    base_url = f"http://127.0.0.1:{port}"
    system.wait_http(base_url + "/login", 60)
    return base_url, proc


def test_local_login_off_leaves_only_break_glass_admins(new_page, sso_system, sso_app, providers):
    provider, _github = providers
    with sso_app.app_context():
        create_user(BREAK_GLASS_USER, "emergencia@acme.test", BREAK_GLASS_PASSWORD, role=Role.ADMIN, break_glass=True)
        db.session.commit()
        db.session.remove()
    base_url, proc = start_second_web(sso_system, LOCAL_LOGIN="false")
    try:
        page = new_page()
        page.goto(base_url + "/login")
        assert not page.locator("input[name=password]").is_visible()  # folded under the emergency access
        assert [v for v in violations(page) if v["impact"] in BLOCKING] == []
        for login, password, allowed in ((ADMIN_USER, ADMIN_PASSWORD, False),
                                         (BREAK_GLASS_USER, BREAK_GLASS_PASSWORD, True)):
            page.goto(base_url + "/login")
            page.get_by_text("Acesso de emergência (administradores)").click()
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", password)
            page.get_by_role("button", name="Entrar", exact=True).click()
            page.wait_for_load_state()
            if allowed:
                assert page.url == base_url + "/"
            else:
                assert page.get_by_text("o login com senha está desativado para esta conta").is_visible()
        provider.set_user("fel-sub", email="fel@acme.test", email_verified=True)
        page = new_page()
        page.goto(base_url + "/login")
        page.get_by_role("link", name=f"Entrar com {PROVIDER_NAME}").click()
        page.get_by_placeholder("sub").fill("fel-sub")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(base_url + "/")  # the provider still signs people in
    finally:
        System._stop(proc)
