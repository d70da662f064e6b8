"""Login, logout and user management (/usuarios)."""
from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates")

from apps.auth import routes  # noqa: E402,F401
