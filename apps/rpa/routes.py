"""The global RPA token page: see it masked, paste a new one, renew it, test the connection."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from apps.auth.forms import ConfirmForm
from apps.auth.policy import ADMIN, access
from apps.core.templating import local_dt
from apps.core.types import utcnow
from apps.rpa import token as global_token
from apps.rpa.blueprint import bp
from apps.rpa.client import RpaError
from apps.rpa.forms import GlobalTokenForm


def _page(form, status=200):
    """Render the page with the token's source and expiry (the template masks the token)."""
    current = global_token.current_token()
    expiry = global_token.token_expiry(current)
    days_left = (expiry - utcnow()).days if expiry else None
    return render_template(
        "rpa/token.html", form=form, confirm_form=ConfirmForm(), token=current,
        source=global_token.token_source(), expiry=expiry, days_left=days_left,
        expired=bool(expiry and expiry <= utcnow()), is_jwt=bool(current and global_token.is_jwt(current)),
    ), status


@bp.route("/token-global", methods=["GET", "POST"])
@access(ADMIN)
def token():
    """Show the global token (masked) and save a pasted one."""
    form = GlobalTokenForm()
    if not form.validate_on_submit():
        return _page(form, 422 if form.is_submitted() else 200)
    try:
        global_token.save_token(form.token.data, by_user=current_user._get_current_object(),
                                reason=form.motivo.data or "token colado na página Token global")
    except global_token.TokenError as exc:
        form.token.errors.append(str(exc))
        return _page(form, 422)
    flash("Token global atualizado.", "success")
    _warn_about(form.token.data)
    return redirect(url_for("rpa.token"))


def _warn_about(saved):
    """Flash a warning when the saved token is not a JWT or is already expired."""
    if not global_token.is_jwt(saved):
        flash("O token salvo não é um JWT: a data de expiração não pode ser conferida.", "warning")
        return
    expiry = global_token.token_expiry(saved)
    if expiry and expiry <= utcnow():
        flash(f"Atenção: o token salvo já está expirado (desde {local_dt(expiry)}); a API RPA vai recusá-lo.", "warning")


@bp.route("/token-global/renovar", methods=["POST"])
@access(ADMIN)
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
@access(ADMIN)
def token_test():
    """Check that the RPA API answers and accepts the global token."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = global_token.test_connection(by_user=current_user._get_current_object())
    category = "success" if result["ok"] else ("warning" if result["api_ok"] else "danger")
    flash(result["message"], category)
    return redirect(url_for("rpa.token"))
