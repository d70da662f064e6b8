"""The global RPA token page: see it masked, paste a new one, renew it, test the connection."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import BooleanField

from apps.auth.forms import ConfirmForm
from apps.auth.policy import requires
from apps.core.templating import local_dt
from apps.core.types import utcnow
from apps.rpa import token as global_token
from apps.rpa.blueprint import bp
from apps.rpa.client import RpaError
from apps.rpa.forms import GlobalTokenForm


class CandidateTokenForm(GlobalTokenForm):
    """The paste form plus the second submit's "salvar mesmo assim" for a token that could not be tested."""

    forcar = BooleanField("Salvar mesmo assim, sem o teste")


def time_left(expiry, now=None):
    """(words, badge colour) for how long a token still lasts: "em 23 h", "em 40 min", "em 12 dias"."""
    seconds = (expiry - (now or utcnow())).total_seconds()
    if seconds < 3600:
        return f"em {max(1, int(seconds // 60))} min", "danger"
    if seconds < 48 * 3600:
        return f"em {int(seconds // 3600)} h", "warning"
    days = int(seconds // 86400)
    return f"em {days} dias", "warning" if days < 15 else "success"


def _page(form, status=200, untested=None):
    """Render the page with the token's source and expiry (the template masks the token)."""
    current = global_token.current_token()
    expiry = global_token.token_expiry(current)
    expired = bool(expiry and expiry <= utcnow())
    left, left_color = time_left(expiry) if expiry and not expired else (None, None)
    return render_template(
        "rpa/token.html", form=form, confirm_form=ConfirmForm(), token=current,
        source=global_token.token_source(), expiry=expiry, left=left, left_color=left_color,
        expired=expired, is_jwt=bool(current and global_token.is_jwt(current)), untested=untested,
    ), status


@bp.route("/token-global", methods=["GET", "POST"])
@requires("token.gerenciar")
def token():
    """Show the global token (masked); test a pasted one against the RPA API, then save it."""
    form = CandidateTokenForm()
    if not form.validate_on_submit():
        return _page(form, 422 if form.is_submitted() else 200)
    forced = bool(form.forcar.data)
    try:
        global_token.save_checked_token(form.token.data, by_user=current_user._get_current_object(),
                                        reason=form.motivo.data or "token colado na página Token global",
                                        force=forced)
    except global_token.TokenError as exc:
        form.token.errors.append(str(exc))
        return _page(form, 422)
    except global_token.TokenUntested as exc:
        form.forcar.data = False
        return _page(form, 422, untested=exc.message)
    if forced:
        flash("Token global atualizado sem teste, como você confirmou.", "warning")
        _warn_about(form.token.data)
    else:
        flash("Token global atualizado: a API RPA o aceitou.", "success")
    return redirect(url_for("rpa.token"))


def _warn_about(saved):
    """Flash a warning when a token saved untested is not a JWT (its expiry cannot be checked)."""
    if not global_token.is_jwt(saved):
        flash("O token salvo não é um JWT: a data de expiração não pode ser conferida.", "warning")


@bp.route("/token-global/renovar", methods=["POST"])
@requires("token.gerenciar")
def token_refresh():
    """Get a new JWT from the RPA API with BRM_TOKEN_PASSWORD."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        fresh = global_token.refresh_global_token(by_user=current_user._get_current_object(), reason="renovação manual")
    except RpaError as exc:
        flash(f"Não foi possível obter um novo token: {exc.message}", "danger")
    else:
        expiry = global_token.token_expiry(fresh)
        flash("Novo token global obtido" + (f", válido até {local_dt(expiry)}." if expiry else "."), "success")
    return redirect(url_for("rpa.token"))


@bp.route("/token-global/testar", methods=["POST"])
@requires("token.gerenciar")
def token_test():
    """Check that the RPA API answers and accepts the global token."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = global_token.test_connection(by_user=current_user._get_current_object())
    category = "success" if result["ok"] else ("warning" if result["api_ok"] else "danger")
    flash(result["message"], category)
    return redirect(url_for("rpa.token"))
