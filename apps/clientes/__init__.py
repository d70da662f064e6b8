"""Business customers: list, create, edit, deactivate, CSV import."""
from flask import Blueprint

bp = Blueprint("clientes", __name__, template_folder="templates")

from apps.clientes import import_routes, routes  # noqa: E402,F401
