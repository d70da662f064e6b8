"""Telecom operators: list, create, edit, deactivate."""
from flask import Blueprint

bp = Blueprint("operadoras", __name__, template_folder="templates")

from apps.operadoras import routes  # noqa: E402,F401
