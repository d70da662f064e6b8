"""The `artefatos` blueprint; its routes register on it when apps/__init__.py imports them."""
from flask import Blueprint

bp = Blueprint("artefatos", __name__, template_folder="templates")
