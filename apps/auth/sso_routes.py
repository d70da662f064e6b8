"""Sign-in through OpenID Connect (/login/oidc) and GitHub (/login/github), and their callbacks."""
from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from apps.auth import external, services, sso
from apps.auth.blueprint import bp
from apps.auth.policy import PUBLIC, requires
from apps.core import audit
from apps.core.pagination import safe_next
from apps.core.types import db


@bp.app_template_global()
def external_identities(user) -> list[dict]:
    """For the user form: the provider accounts linked to `user` (provider as people read it, subject)."""
    names = {sso.GITHUB: "GitHub", sso.issuer(): sso.provider_name()}
    return [{"provider": names.get(i.provider, i.provider), "subject": i.subject,
             "email": i.email, "last_login_at": i.last_login_at} for i in external.identities_of(user)]


def _start(name: str):
    if not sso.enabled(name):
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    try:
        return sso.start(name, safe_next(request.args.get("next"), ""))
    except sso.SignInRefused as exc:
        return _refused(name, exc)


def _finish(name: str):
    if not sso.enabled(name):
        abort(404)
    next_url = sso.take_next()
    try:
        profile, id_token = sso.fetch_profile(name)
        user = external.sign_in(profile)
        services.start_session(user, remember=False, via=sso.label(name))  # a fresh session: no fixation
    except sso.SignInRefused as exc:
        return _refused(name, exc)
    except IntegrityError:  # two first sign-ins of one person at once: the other one won
        db.session.rollback()
        flash("Não foi possível concluir o login agora. Tente novamente.", "danger")
        return redirect(url_for("auth.login"))
    sso.remember_sign_in(name, id_token)
    flash(f"Bem-vindo, {user.nome or user.username}!", "success")
    return redirect(safe_next(next_url, url_for("home.index")))


def _refused(name: str, exc: "sso.SignInRefused"):
    """Audit the refusal (never the tokens), tell the person why, back to the login page."""
    db.session.rollback()
    current_app.logger.warning("sign-in through %s refused: %s", name, exc.reason)
    audit.record("login_externo_recusado", entity=exc.user, user=None,
                 entity_type=None if exc.user else "users", detail=f"{sso.label(name)}: {exc.reason}"[:500])
    db.session.commit()
    flash(exc.message, "danger")
    return redirect(url_for("auth.login"))


@bp.get("/login/oidc")
@requires(PUBLIC)
def oidc_login():
    """Start the OpenID Connect sign-in (code flow with PKCE, state and nonce)."""
    return _start(sso.OIDC)


@bp.get("/login/oidc/callback")
@requires(PUBLIC)
def oidc_callback():
    """The provider's answer: check it, find or create the user, start a fresh session."""
    return _finish(sso.OIDC)


@bp.get("/login/github")
@requires(PUBLIC)
def github_login():
    """Start the GitHub sign-in (code flow with PKCE and state)."""
    return _start(sso.GITHUB)


@bp.get("/login/github/callback")
@requires(PUBLIC)
def github_callback():
    """GitHub's answer: org membership checked through the API, then as OpenID Connect."""
    return _finish(sso.GITHUB)
