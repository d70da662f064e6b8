"""The `notificacoes` blueprint: /perfil, /mensagens and the inbound webhooks register on it."""
from flask import Blueprint

bp = Blueprint("notificacoes", __name__, template_folder="templates")
