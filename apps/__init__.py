"""The RPA Dashboard application factory."""
from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

import apps.config  # noqa: F401  (first of the app's modules: it reads .env before any other is imported)
import apps.models  # noqa: F401  (the whole schema, for Alembic and relationships)
from apps.api import (  # noqa: F401  (each registers its routes on the api blueprint)
    acoes,
    artefatos,
    auditoria,
    auth,
    clientes,
    clientes_import,
    docs,
    execucoes,
    exportar,
    faturas,
    logs_v2,
    lotes,
    mensagens,
    operadoras,
    papeis,
    portal,
    processos,
    robos,
    token_global,
    usuarios,
)
from apps.api import aprovacoes as api_aprovacoes  # noqa: F401  (an alias: the bare name is the apps.aprovacoes package)
from apps.api.blueprint import bp as api_bp
from apps.aprovacoes import routes as aprovacoes_routes  # noqa: F401
from apps.aprovacoes.blueprint import bp as aprovacoes_bp
from apps.artefatos import routes as artefatos_routes  # noqa: F401
from apps.artefatos.blueprint import bp as artefatos_bp
from apps.auditoria import routes as auditoria_routes  # noqa: F401
from apps.auditoria.blueprint import bp as auditoria_bp
from apps.auth import (  # noqa: F401  (sso_routes registers /login/oidc and /login/github)
    papeis_routes,  # noqa: F401
    sso,
    sso_routes,
)
from apps.auth import routes as auth_routes  # noqa: F401
from apps.auth import services as auth_services
from apps.auth.blueprint import bp as auth_bp
from apps.auth.passwords import use_fast_hashing_for_tests
from apps.clientes import import_routes as clientes_import_routes  # noqa: F401
from apps.clientes import routes as clientes_routes  # noqa: F401
from apps.clientes.blueprint import bp as clientes_bp
from apps.config import load_config
from apps.core import commands, errors, health, logs, metrics, security, templating
from apps.extensions import csrf, db, limiter, login_manager, migrate
from apps.graphql_api import routes as graphql_routes  # noqa: F401
from apps.graphql_api.blueprint import bp as graphql_bp
from apps.home import routes as home_routes  # noqa: F401
from apps.home.blueprint import bp as home_bp
from apps.lotes import routes as lotes_routes  # noqa: F401
from apps.lotes.blueprint import bp as lotes_bp
from apps.notificacoes import inbound as notificacoes_inbound  # noqa: F401
from apps.notificacoes import routes as notificacoes_routes  # noqa: F401
from apps.notificacoes.blueprint import bp as notificacoes_bp
from apps.operadoras import routes as operadoras_routes  # noqa: F401
from apps.operadoras.blueprint import bp as operadoras_bp
from apps.portal import routes as portal_routes  # noqa: F401
from apps.portal.blueprint import bp as portal_bp
from apps.processos import export_routes, schedule_routes  # noqa: F401
from apps.processos import routes as processos_routes  # noqa: F401
from apps.processos.blueprint import bp as processos_bp
from apps.realtime import routes as realtime_routes  # noqa: F401
from apps.realtime.blueprint import bp as realtime_bp
from apps.robos import routes as robos_routes  # noqa: F401
from apps.robos.blueprint import bp as robos_bp
from apps.rpa import routes as rpa_routes  # noqa: F401
from apps.rpa.blueprint import bp as rpa_bp

# Importing a routes module registers its views on its blueprint; the order here is the URL map's.
BLUEPRINTS = (home_bp, auth_bp, auditoria_bp, operadoras_bp, clientes_bp, processos_bp, rpa_bp, realtime_bp,
              notificacoes_bp, aprovacoes_bp, robos_bp, artefatos_bp, portal_bp, lotes_bp, api_bp,
              graphql_bp)


def create_app(config=None):
    """Build the app. `config`: None (APP_ENV), a mode name, or a dict of overrides for tests."""
    overrides = {}
    if isinstance(config, dict):
        overrides = dict(config)
        config = overrides.pop("APP_ENV", "testing")
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(load_config(config))
    app.config.update(overrides)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in apps.core.security, Bearer API exempt
    if app.config.get("TESTING"):
        use_fast_hashing_for_tests()
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_hooks(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    if app.config.get("PROXY_FIX"):
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def register_logging(app):
    logs.init_app(app)


def _sqlite_pragmas(connection, _record):
    """The embedded database is shared by the web app, the worker and the scheduler: in WAL mode readers never
    wait for the writer, and a commit is one synced append to the log (synchronous stays FULL: a commit survives
    a power cut); a writer waits its turn for up to 15 s instead of failing with 'database is locked'."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def register_extensions(app):
    sqlite = str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite")
    if sqlite:
        # A file has no server that drops connections: the ping before every checkout (a worker checks one
        # out per job) would be a statement for nothing.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.pop("pool_pre_ping", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    if sqlite:
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Faça login para continuar."
    login_manager.login_message_category = "warning"
    login_manager.user_loader(auth_services.load_session_user)
    sso.init_app(app)


def register_blueprints(app):
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)


def register_hooks(app):
    security.init_app(app)
    health.init_app(app)
    metrics.init_app(app)


def register_errorhandlers(app):
    errors.init_app(app)


def register_template_helpers(app):
    templating.init_app(app)


def register_commands(app):
    commands.init_app(app)
