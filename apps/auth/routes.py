"""Login, logout and the admin's user management pages."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from apps.aprovacoes import tarefas
from apps.auth import roles, services, sso
from apps.auth.blueprint import bp
from apps.auth.forms import ConfirmForm, LoginForm, PasswordResetForm, UserCreateForm, UserEditForm
from apps.auth.limits import LoginThrottled, throttled_response
from apps.auth.models import User
from apps.auth.policy import PUBLIC, SIGNED_IN, requires
from apps.core.pagination import paginate, safe_next
from apps.core.records import contains
from apps.core.types import db, parse_uuid


def _get_user(user_id):
    user = db.session.get(User, parse_uuid(user_id)) if parse_uuid(user_id) else None
    if user is None:
        abort(404)
    return user


def _role_help(form):
    """What each role offered in the form allows, generated from its permissions (so it cannot drift)."""
    return [role for code, _ in form.role.choices if (role := roles.resolve(code)) is not None]


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login():
    """Log in with username (or e-mail) and password (limits: apps/auth/limits.py)."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    try:
        valid = form.validate_on_submit()
    except LoginThrottled as exc:
        form.password.errors = [exc.message]
        return throttled_response(exc, render_template("auth/login.html", form=form))
    if valid:
        services.start_session(form.user, remember=form.remember.data)
        flash(f"Bem-vindo, {form.user.nome or form.user.username}!", "success")
        landing = url_for("aprovacoes.inbox") if tarefas.lands_on_inbox(form.user) else url_for("home.index")
        return redirect(safe_next(request.args.get("next"), landing))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@requires(SIGNED_IN)
def logout():
    """End the session (server-side too), then the provider's when it publishes an end_session_endpoint."""
    provider_logout = sso.provider_logout_url()  # read before the session is cleared
    services.end_session(current_user._get_current_object())
    flash("Você saiu do sistema.", "info")
    return redirect(provider_logout or url_for("auth.login"))


@bp.route("/usuarios")
@requires("usuario.gerenciar")
def users():
    """List users with search."""
    q = request.args.get("q", "").strip()
    query = select(User).order_by(User.busca, User.username, User.id)  # the username's key first: Portuguese order
    if q:
        query = query.where(contains(q, keys=(User.busca,)))
    return render_template("auth/users.html", pagination=paginate(query), q=q, confirm_form=ConfirmForm())


@bp.route("/usuarios/novo", methods=["GET", "POST"])
@requires("usuario.gerenciar")
def user_create():
    """Create a user."""
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(form.username.data, form.email.data, form.password.data,
                                        role=form.role.data, nome=form.nome.data or None, by=current_user)
            db.session.commit()
        except services.UserError as exc:
            db.session.rollback()
            getattr(form, exc.field or "username").errors.append(str(exc))
        else:
            flash(f"Usuário {user.username} criado.", "success")
            return redirect(url_for("auth.users"))
    return render_template("auth/user_form.html", form=form, user=None, role_help=_role_help(form))


@bp.route("/usuarios/<user_id>/editar", methods=["GET", "POST"])
@requires("usuario.gerenciar")
def user_edit(user_id):
    """Edit a user's e-mail, name, role and active flag."""
    user = _get_user(user_id)
    form = UserEditForm(obj=user)
    if form.validate_on_submit():
        try:
            services.update_user(user, email=form.email.data, role=form.role.data, nome=form.nome.data or None,
                                 ativo=form.ativo.data, break_glass=form.break_glass.data, by=current_user)
            tarefas.definir_ausencia(user, form.ausente_ate.data, by=current_user)
            db.session.commit()
        except services.UserError as exc:
            db.session.rollback()
            getattr(form, exc.field or "email").errors.append(str(exc))
        except tarefas.AprovacaoError as exc:
            db.session.rollback()
            form.ausente_ate.errors.append(exc.message)
        else:
            flash(f"Usuário {user.username} atualizado.", "success")
            return redirect(url_for("auth.users"))
    return render_template("auth/user_form.html", form=form, user=user, reset_form=PasswordResetForm(),
                           role_help=_role_help(form))


@bp.route("/usuarios/<user_id>/senha", methods=["POST"])
@requires("usuario.gerenciar")
def user_reset_password(user_id):
    """Set a new password for a user (ends their sessions)."""
    user = _get_user(user_id)
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            services.reset_password(user, form.password.data, by=current_user)
            db.session.commit()
            flash(f"Senha de {user.username} redefinida.", "success")
            return redirect(url_for("auth.users"))
        except services.UserError as exc:
            db.session.rollback()
            form.password.errors.append(str(exc))
    edit_form = UserEditForm(obj=user)
    return render_template("auth/user_form.html", form=edit_form, user=user, reset_form=form,
                           role_help=_role_help(edit_form)), 422


@bp.route("/usuarios/<user_id>/desativar", methods=["POST"])
@requires("usuario.gerenciar")
def user_deactivate(user_id):
    """Deactivate a user: their sessions and API tokens stop working at once."""
    user = _get_user(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.update_user(user, email=user.email, role=user.role, nome=user.nome, ativo=False, by=current_user)
        db.session.commit()
        flash(f"Usuário {user.username} desativado.", "success")
    except services.UserError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    return redirect(url_for("auth.users"))
