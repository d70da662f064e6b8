"""The RPA API: HTTP client, RQ jobs, the global token page."""
from flask import Blueprint

bp = Blueprint("rpa", __name__, template_folder="templates")

from apps.rpa import routes  # noqa: E402,F401
