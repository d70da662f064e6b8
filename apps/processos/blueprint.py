"""The `processos` blueprint; its routes register on it when apps/__init__.py imports them."""
from flask import Blueprint

bp = Blueprint("processos", __name__, template_folder="templates")
