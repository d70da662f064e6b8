"""JSON API v1 (Bearer JWT) and the seed's /api/v2/logs-tempo-real routes."""
from flask import Blueprint

from apps.auth.limits import api_limit

bp = Blueprint("api", __name__, url_prefix="/api", template_folder="templates")
api_limit(bp)

from apps.api import (  # noqa: E402,F401
    acoes,
    auditoria,
    auth,
    clientes,
    clientes_import,
    docs,
    execucoes,
    exportar,
    faturas,
    logs_v2,
    operadoras,
    processos,
    token_global,
    usuarios,
)
