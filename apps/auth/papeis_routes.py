"""/papeis: every role and what it allows; admins create, edit and delete custom roles (built-ins are read-only)."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from apps.auth import roles
from apps.auth.blueprint import bp
from apps.auth.forms import ConfirmForm, PapelForm
from apps.auth.permissions import BUILTIN_ROLES, grouped
from apps.auth.policy import requires
from apps.core.types import db


def _custom_or_404(codigo):
    papel = roles.get_custom(codigo)
    if papel is None:
        abort(404)
    return papel


def _form_page(form, papel, selected, status=200):
    return render_template("auth/papel_form.html", form=form, papel=papel, groups=grouped(),
                           selected=set(selected)), status


def _save(form, action):
    """Run `action` (the service call); on a refusal show its messages (on the form, else flashed) and return None."""
    try:
        papel = action()
        db.session.commit()
        return papel
    except roles.PapelError as exc:
        db.session.rollback()
        for field, message in exc.fields.items():
            if field in form:
                form[field].errors = list(form[field].errors) + [message]
        if not set(exc.fields) & set(form._fields):
            flash(exc.message, "danger")
        return None


@bp.route("/papeis")
@requires("papel.ler")
def papeis():
    """Every role with what it allows, grouped; custom roles with their count of users."""
    return render_template("auth/papeis.html", roles=roles.all_roles(), grouped=grouped, confirm_form=ConfirmForm())


@bp.route("/papeis/novo", methods=["GET", "POST"])
@requires("papel.gerenciar")
def papel_create():
    """Create a custom role from a grid of permissions."""
    form = PapelForm()
    selected = request.form.getlist("permissoes")
    if form.validate_on_submit():
        papel = _save(form, lambda: roles.create_papel(form.codigo.data, form.nome.data, form.descricao.data,
                                                       selected, by=current_user._get_current_object()))
        if papel is not None:
            flash(f"Papel {papel.nome} criado.", "success")
            return redirect(url_for("auth.papeis"))
    return _form_page(form, None, selected, 422 if request.method == "POST" else 200)


@bp.route("/papeis/<codigo>/editar", methods=["GET", "POST"])
@requires("papel.gerenciar")
def papel_edit(codigo):
    """Edit a custom role (its code stays); built-in roles cannot be edited."""
    if codigo in BUILTIN_ROLES:
        abort(403, "Os papéis do sistema não podem ser alterados.")
    papel = _custom_or_404(codigo)
    form = PapelForm(obj=papel)
    form.codigo.data = papel.codigo  # fixed: users hold it
    selected = request.form.getlist("permissoes") if request.method == "POST" else papel.permissoes
    if form.validate_on_submit():
        saved = _save(form, lambda: roles.update_papel(papel, nome=form.nome.data, descricao=form.descricao.data,
                                                       permissoes=selected, ativo=form.ativo.data,
                                                       by=current_user._get_current_object()))
        if saved is not None:
            flash(f"Papel {saved.nome} atualizado.", "success")
            return redirect(url_for("auth.papeis"))
    return _form_page(form, papel, selected, 422 if request.method == "POST" else 200)


@bp.route("/papeis/<codigo>/excluir", methods=["POST"])
@requires("papel.gerenciar")
def papel_delete(codigo):
    """Delete a custom role nobody holds."""
    if codigo in BUILTIN_ROLES:
        abort(403, "Os papéis do sistema não podem ser excluídos.")
    papel = _custom_or_404(codigo)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    nome = papel.nome
    try:
        roles.delete_papel(papel, by=current_user._get_current_object())
        db.session.commit()
        flash(f"Papel {nome} excluído.", "success")
    except roles.PapelError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    return redirect(url_for("auth.papeis"))
