"""The home dashboard."""
from flask import render_template

from apps.auth.policy import VIEW, access
from apps.home import bp


@bp.route("/")
@access(VIEW)
def index():
    """The month at a glance."""
    from apps.home.services import month_summary

    return render_template("home/index.html", summary=month_summary())
