"""The `robos` blueprint (the page's routes register on it when apps/__init__.py imports them)."""
from flask import Blueprint

bp = Blueprint("robos", __name__, template_folder="templates")
