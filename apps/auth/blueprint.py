"""The `auth` blueprint; its routes register on it when apps/__init__.py imports them."""
from flask import Blueprint

from apps.auth import passwords

bp = Blueprint("auth", __name__, template_folder="templates")


@bp.record_once
def _prepare_password_checks(_state) -> None:
    """At start: the dummy hash that unknown logins are checked against (apps/auth/passwords.py)."""
    passwords.prepare()
