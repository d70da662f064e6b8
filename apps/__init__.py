"""The RPA Dashboard application factory."""
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from apps.config import load_config
from apps.extensions import csrf, db, limiter, login_manager, migrate


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
        from apps.auth.passwords import use_fast_hashing_for_tests

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
    from apps.core import logs

    logs.init_app(app)


def register_extensions(app):
    import apps.models  # noqa: F401  (the whole schema, for Alembic and relationships)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Faça login para continuar."
    login_manager.login_message_category = "warning"
    from apps.auth import services as auth_services

    login_manager.user_loader(auth_services.load_session_user)


def register_blueprints(app):
    from apps.api import bp as api_bp
    from apps.auditoria import bp as auditoria_bp
    from apps.auth import bp as auth_bp
    from apps.clientes import bp as clientes_bp
    from apps.home import bp as home_bp
    from apps.operadoras import bp as operadoras_bp
    from apps.processos import bp as processos_bp
    from apps.realtime import bp as realtime_bp
    from apps.rpa import bp as rpa_bp

    for bp in (home_bp, auth_bp, auditoria_bp, operadoras_bp, clientes_bp, processos_bp, rpa_bp, realtime_bp, api_bp):
        app.register_blueprint(bp)


def register_hooks(app):
    from apps.core import health, metrics, security

    security.init_app(app)
    health.init_app(app)
    metrics.init_app(app)


def register_errorhandlers(app):
    from apps.core import errors

    errors.init_app(app)


def register_template_helpers(app):
    from apps.core import templating

    templating.init_app(app)


def register_commands(app):
    from apps.core import commands

    commands.init_app(app)
