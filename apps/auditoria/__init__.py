"""The audit trail page for admins: filter and export who did what."""
from flask import Blueprint

bp = Blueprint("auditoria", __name__, template_folder="templates")

from apps.auditoria import routes  # noqa: E402,F401
