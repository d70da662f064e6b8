"""The `realtime` blueprint; its routes register on it when apps/__init__.py imports them."""
from flask import Blueprint

bp = Blueprint("realtime", __name__, template_folder="templates")
