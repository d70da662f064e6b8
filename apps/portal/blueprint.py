"""The `portal` blueprint; its routes register on it when apps/__init__.py imports them."""
from flask import Blueprint

bp = Blueprint("portal", __name__, template_folder="templates")
