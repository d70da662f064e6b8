"""The home dashboard and admin operations pages."""
from flask import Blueprint

bp = Blueprint("home", __name__, template_folder="templates")

from apps.home import routes  # noqa: E402,F401
