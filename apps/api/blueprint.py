"""The `api` blueprint (rate-limited per caller); its routes register on it when apps/__init__.py imports them."""
from flask import Blueprint

from apps.auth.limits import api_limit

bp = Blueprint("api", __name__, url_prefix="/api", template_folder="templates")
api_limit(bp)
