"""The `lotes` blueprint; its routes register on it when apps/__init__.py imports them."""
from flask import Blueprint

bp = Blueprint("lotes", __name__, template_folder="templates")
