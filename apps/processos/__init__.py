"""Monthly processos: list, detail, approval, robot runs, state machine."""
from flask import Blueprint

bp = Blueprint("processos", __name__, template_folder="templates")

from apps.processos import export_routes, routes, schedule_routes  # noqa: E402,F401
