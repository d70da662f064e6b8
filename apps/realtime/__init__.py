"""Live robot logs: Redis pub/sub helpers and the SSE stream."""
from flask import Blueprint

bp = Blueprint("realtime", __name__, template_folder="templates")

from apps.realtime import routes  # noqa: E402,F401
