"""Fixtures: a real Redis, SQLite or a real PostgreSQL (TEST_DATABASE=postgresql), the app,
clients that carry CSRF tokens, and one user per role."""
import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import create_engine, event, make_url, select, text

from apps import create_app
from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from tests.factories import PASSWORD, UserFactory
from tests.support.s3 import s3_settings, s3_url  # noqa: F401 (fixtures)
from tests.support.servers import postgres_server, redis_server
from tests.support.sim import sim, sim_knobs, sim_server  # noqa: F401 (fixtures)

USING_POSTGRES = os.environ.get("TEST_DATABASE", "sqlite") == "postgresql"
# The cluster lane (two machines behind nginx, tests/cluster) is its own run: `make test-cluster`.
collect_ignore = [] if os.environ.get("CLUSTER_LANE") else ["cluster"]


@pytest.fixture(scope="session")
def redis_url():
    with redis_server() as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def database_url():
    if USING_POSTGRES:
        with postgres_server() as url:
            yield url
    else:
        folder = tempfile.mkdtemp(prefix="rpa-sqlite-")
        yield f"sqlite:///{folder}/test.db"


@pytest.fixture(scope="session")
def app_config(database_url, redis_url, tmp_path_factory):
    return {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "FATURAS_DIR": tmp_path_factory.mktemp("faturas"),
        "INSTANCE_DIR": tmp_path_factory.mktemp("instance"),
    }


@pytest.fixture(scope="session")
def app(app_config):
    """One app for the session; the schema is built by the real migrations."""
    from flask_migrate import upgrade

    application = create_app(dict(app_config))
    application.test_client_class = CSRFClient
    with application.app_context():
        upgrade()
    return application


@pytest.fixture(autouse=True)
def _clean_state(app, redis_url):
    """Each test starts with empty tables and an empty Redis."""
    ctx = app.app_context()
    ctx.push()
    yield
    db.session.rollback()
    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if USING_POSTGRES:
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    ctx.pop()


class CSRFClient(FlaskClient):
    """A test client that adds a valid CSRF token to form posts, as a browser's form would."""

    def csrf_token(self) -> str:
        import hashlib

        with self.session_transaction() as sess:
            if "csrf_token" not in sess:
                sess["csrf_token"] = hashlib.sha1(os.urandom(64)).hexdigest()
            raw = sess["csrf_token"]
        return URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)

    def open(self, *args, **kwargs):
        no_csrf = kwargs.pop("no_csrf", False)
        method = kwargs.get("method", "GET")
        data = kwargs.get("data")
        form_like = data is None or isinstance(data, dict)
        if not no_csrf and form_like and method in {"POST", "PUT", "PATCH", "DELETE"} and "json" not in kwargs:
            data = dict(data or {})
            data.setdefault("csrf_token", self.csrf_token())
            kwargs["data"] = data
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def make_user(role, username=None):
    """A committed user of `role`, named after it unless `username` is given."""
    return UserFactory(role=role, username=username or role.lower())


@pytest.fixture
def users(app):
    """One active user per built-in role: users['VISUALIZADOR'], ['APROVADOR'], ['OPERADOR'], ['MANTENEDOR'], ['ADMIN']."""
    return {role: make_user(role) for role in Role.ALL}


@pytest.fixture
def login(client):
    """login(user) logs the client in through the real login form."""

    def _login(user, password=PASSWORD):
        response = client.post("/login", data={"login": user.username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return _login


@pytest.fixture
def admin_client(client, users, login):
    return login(users[Role.ADMIN])


@pytest.fixture
def operador_client(client, users, login):
    return login(users[Role.OPERADOR])


@pytest.fixture
def api_headers(client, users):
    """api_headers(role) -> {'Authorization': 'Bearer ...'} from the real token endpoint."""

    def _headers(role=Role.ADMIN):
        user = users[role]
        response = client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access']}"}

    return _headers


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def admin(api_headers):
    """An Admin's Bearer headers."""
    return api_headers(Role.ADMIN)


@pytest.fixture
def viewer(api_headers):
    """A Visualizador's Bearer headers."""
    return api_headers(Role.VISUALIZADOR)


@pytest.fixture
def op(api_headers):
    """An Operador's Bearer headers."""
    return api_headers(Role.OPERADOR)


@pytest.fixture
def maint(api_headers):
    """A Mantenedor's Bearer headers (registries: clientes, operadoras, robôs, serviços, agenda)."""
    return api_headers(Role.MANTENEDOR)


@pytest.fixture
def enqueued(monkeypatch):
    """Replaces the real enqueue with a recorder: the execucao ids it was asked to start."""
    calls = []
    monkeypatch.setattr("apps.rpa.follow.enqueue_start", lambda execucao, **_: calls.append(execucao.id))
    return calls


def actions(action):
    """The audit entries of one action."""
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()


@contextmanager
def count_queries():
    """The SQL statements run inside the block."""
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """An empty database of the lane's kind, for a migration test: a SQLite file, or a new database in the
    PostgreSQL cluster (dropped afterwards)."""
    if not USING_POSTGRES:
        yield f"sqlite:///{tmp_path}/antes.db"
        return
    name = f"antes_{uuid.uuid4().hex[:12]}"
    server = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()
