"""Error pages in Portuguese and JSON errors for the API; never a stack trace.

A service refuses with ServiceError (or a domain subclass): pages show it on the form
(apps/core/form_errors.py), and an API view lets it through to one handler here, which answers
{"error", "fields"} with its status.
"""
from flask import current_app, g, jsonify, render_template, request
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from apps.extensions import db

MESSAGES = {
    400: "Requisição inválida.",
    401: "Autenticação necessária.",
    403: "Você não tem permissão para acessar esta página.",
    404: "Página não encontrada.",
    405: "Método não permitido.",
    409: "Conflito com o estado atual do registro.",
    413: "Arquivo grande demais.",
    422: "Dados inválidos.",
    429: "Muitas tentativas. Aguarde um pouco e tente novamente.",
    500: "Erro interno. A equipe foi avisada; tente novamente em instantes.",
    503: "Serviço temporariamente indisponível. Tente novamente em instantes.",
}


class ServiceError(Exception):
    """A service's refusal, for people: `message`, the HTTP `status` it means (each domain subclass has
    its own default) and `fields`, the messages by form or JSON field."""

    status = 422

    def __init__(self, message: str, status: int | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = type(self).status if status is None else status
        self.fields = dict(fields or {})


class ApiError(Exception):
    """An error the JSON API answers as {"error", "fields"} with a status."""

    def __init__(self, status: int, error: str, fields: dict | None = None):
        super().__init__(error)
        self.status, self.error, self.fields = status, error, fields or {}


BEARER_ONLY = ("/api/v1/", "/api/graphql")  # these never trust the session cookie, only a Bearer token


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def is_bearer_only() -> bool:
    """API v1 and GraphQL: the caller is who the Bearer token names, or nobody (401)."""
    return request.path.startswith(BEARER_ONLY)


def _respond(status: int, message: str, fields=None):
    if is_api_request():
        body = {"error": message}
        if fields:
            body["fields"] = fields
        response = jsonify(body)
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response
    template = f"errors/{status}.html" if status in (403, 404, 500, 503) else "errors/generic.html"
    return render_template(template, status=status, message=message), status


def handle_http(exc: HTTPException):
    message = exc.description if exc.description and not exc.description.startswith(("The ", "You ")) else None
    return _respond(exc.code or 500, message or MESSAGES.get(exc.code, "Erro."))


def handle_csrf(exc: CSRFError):
    return _respond(400, "O formulário expirou ou não é válido (proteção CSRF). Recarregue a página e tente de novo.")


def handle_api_error(exc: ApiError):
    return _respond(exc.status, exc.error, exc.fields)


def handle_service_error(exc: ServiceError):
    """The API's answer to a refusal its view let through; a page shows its own (save_record), so one
    that reaches here from a page is a bug, answered as such."""
    if not is_api_request():
        return handle_unexpected(exc)
    db.session.rollback()
    return _respond(exc.status, exc.message, exc.fields)


def handle_db_down(exc: OperationalError):
    try:
        db.session.rollback()
    except OperationalError:
        pass
    g._login_user = AnonymousUserMixin()  # the error page must not ask the database who is logged in

    current_app.logger.error("database unavailable: %s", exc.__class__.__name__)
    return _respond(503, "Banco de dados indisponível no momento. Tente novamente em instantes.")


def handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return handle_http(exc)
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _respond(500, MESSAGES[500])


def init_app(app):
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(OperationalError, handle_db_down)
    app.register_error_handler(Exception, handle_unexpected)
