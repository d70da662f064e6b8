"""JSON API v1 (Bearer JWT) and the seed's /api/v2/logs-tempo-real routes."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from apps.api import auth, clientes, operadoras, processos  # noqa: E402,F401
