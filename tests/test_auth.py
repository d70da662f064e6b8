"""Login, logout, sessions, CSRF, password rules and user management."""
from sqlalchemy import select

from apps.auth.models import Role, User
from apps.auth.passwords import password_problems
from apps.auth.policy import PUBLIC
from apps.core.audit import AuditLog
from apps.core.types import db
from tests.conftest import PASSWORD


def _actions():
    return [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.created_at))]


def test_wrong_password_is_refused_with_a_message_and_audited(client, users):
    response = client.post("/login", data={"login": "admin", "password": "errada-errada"})
    assert response.status_code == 200
    assert "Usuário ou senha incorretos." in response.get_data(as_text=True)
    assert "login_falhou" in _actions()


def test_login_by_email_renews_the_session_and_logout_revokes_the_cookie(client, users):
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "fixation"
    response = client.post("/login", data={"login": "operador@example.com", "password": PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess  # the pre-login session was discarded
        stolen = dict(sess)
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/").status_code == 302
    # A copy of the old signed cookie no longer works: the server bumped the session version.
    with client.session_transaction() as sess:
        sess.update(stolen)
    assert client.get("/").status_code == 302


def test_login_redirects_only_to_local_paths(client, users):
    response = client.post("/login?next=https://evil.example/x", data={"login": "admin", "password": PASSWORD})
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post("/login?next=/usuarios", data={"login": "admin", "password": PASSWORD})
    assert response.headers["Location"] == "/usuarios"


def test_remember_me_sets_an_httponly_cookie(client, users):
    response = client.post("/login", data={"login": "admin", "password": PASSWORD, "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    remember = [c for c in cookies if c.startswith("remember_token=")]
    assert remember and "HttpOnly" in remember[0] and "SameSite=Lax" in remember[0]


def test_post_without_csrf_token_is_refused(client, users):
    response = client.post("/login", data={"login": "admin", "password": PASSWORD}, no_csrf=True)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_inactive_user_cannot_log_in(client, users):
    users[Role.OPERADOR].ativo = False
    db.session.commit()
    response = client.post("/login", data={"login": "operador", "password": PASSWORD})
    assert response.status_code == 200


def test_password_rules():
    assert password_problems("curta") != []
    assert password_problems("senha12345") != []          # common
    assert password_problems("joaosilva-2026", "joaosilva") != []
    assert password_problems("Cavalo-Bateria-Grampo") == []


def test_passwords_are_hashed_with_argon2id(users):
    from argon2 import PasswordHasher

    assert users[Role.ADMIN].password_hash.startswith("$argon2id$")
    production = PasswordHasher()  # the parameters outside tests: RFC 9106 low-memory profile
    assert production.memory_cost >= 65536 and production.time_cost >= 3


def test_admin_creates_edits_resets_and_deactivates_a_user(admin_client):
    response = admin_client.post("/usuarios/novo", data={
        "username": "maria", "nome": "Maria", "email": "maria@example.com", "role": Role.OPERADOR,
        "password": "Cavalo-Bateria-Grampo", "confirm": "Cavalo-Bateria-Grampo"})
    assert response.status_code == 302
    maria = db.session.scalar(select(User).where(User.username == "maria"))
    assert maria.role == Role.OPERADOR
    response = admin_client.post(f"/usuarios/{maria.id}/editar", data={
        "nome": "Maria S.", "email": "maria@example.com", "role": Role.VISUALIZADOR, "ativo": "y"})
    assert response.status_code == 302
    db.session.refresh(maria)
    assert maria.role == Role.VISUALIZADOR and maria.session_version == 2
    response = admin_client.post(f"/usuarios/{maria.id}/senha", data={"password": "123", "confirm": "123"})
    assert response.status_code == 422
    assert "pelo menos 10 caracteres" in response.get_data(as_text=True)
    admin_client.post(f"/usuarios/{maria.id}/desativar")
    db.session.refresh(maria)
    assert maria.ativo is False
    assert {"usuario_criado", "usuario_alterado"} <= set(_actions())


def test_user_form_shows_errors_next_to_the_field(admin_client):
    response = admin_client.post("/usuarios/novo", data={
        "username": "admin", "email": "nao-e-email", "role": Role.ADMIN, "password": "x", "confirm": "y"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "E-mail inválido." in html and "As senhas não conferem." in html
    assert "is-invalid" in html


def test_admin_cannot_demote_or_deactivate_self(admin_client, users):
    admin = users[Role.ADMIN]
    response = admin_client.post(f"/usuarios/{admin.id}/editar", data={
        "email": admin.email, "role": Role.VISUALIZADOR, "ativo": "y"})
    assert "não pode alterar o próprio perfil" in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.role == Role.ADMIN


def test_usuarios_is_forbidden_to_non_admins(client, users, login):
    login(users[Role.OPERADOR])
    response = client.get("/usuarios")
    assert response.status_code == 403
    assert "permissão" in response.get_data(as_text=True)


def test_create_admin_command(runner):
    result = runner.invoke(args=["users", "create-admin", "--username", "chefe", "--password", "Cavalo-Bateria-Grampo"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.username == "chefe")).role == Role.ADMIN
    again = runner.invoke(args=["users", "create-admin", "--username", "chefe", "--if-missing"])
    assert again.exit_code == 0 and "já existe" in again.output


def test_unknown_page_is_404_in_portuguese_and_errors_leak_no_trace(app_config, admin_client, users):
    response = admin_client.get("/nao-existe")
    assert response.status_code == 404 and "Página não encontrada." in response.get_data(as_text=True)

    from apps import create_app
    from tests.conftest import CSRFClient

    other = create_app(dict(app_config))
    other.test_client_class = CSRFClient

    @other.route("/_boom_test")
    def _boom():
        raise RuntimeError("segredo interno")
    _boom.permissions = frozenset({PUBLIC})
    response = other.test_client().get("/_boom_test")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "segredo interno" not in html and "Traceback" not in html and "Erro interno" in html
