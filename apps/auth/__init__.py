"""Login, logout and user management (/usuarios)."""
from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates")


@bp.record_once
def _prepare_password_checks(_state) -> None:
    """At start: the dummy hash that unknown logins are checked against (apps/auth/passwords.py)."""
    from apps.auth import passwords

    passwords.prepare()


from apps.auth import routes  # noqa: E402,F401
