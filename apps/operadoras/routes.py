"""Operadoras pages: list, create, edit, deactivate and reactivate."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from apps.aprovacoes.tarefas import aprovadores_possiveis
from apps.auth.forms import ConfirmForm
from apps.auth.policy import can, requires
from apps.core.form_errors import save_record
from apps.core.pagination import paginate, safe_next
from apps.core.records import get_or_404
from apps.core.types import db
from apps.operadoras import credentials, services
from apps.operadoras.blueprint import bp
from apps.operadoras.forms import OperadoraForm
from apps.operadoras.models import Operadora
from apps.operadoras.services import ROBOT_SETTINGS

ATIVO_FILTERS = {"1": True, "0": False}


def _form(operadora=None) -> OperadoraForm:
    form = OperadoraForm(obj=operadora)
    if not can(ROBOT_SETTINGS):
        form.drop_rpa_fields()
    else:
        form.aprovadores.choices = [(str(u.id), u.username) for u in aprovadores_possiveis()]
        if not form.is_submitted():
            form.aprovadores.data = [str(u.id) for u in operadora.aprovadores] if operadora else []
    return form


def _render_form(form, operadora, status):
    """The form page; an Admin sees whether a credential is stored (masked, as the global token page does)."""
    configurada = bool(operadora is not None and operadora.credencial_configurada)
    mascarada = credentials.credential_for(operadora) if configurada and can(ROBOT_SETTINGS) else None
    return render_template("operadoras/form.html", form=form, operadora=operadora,
                           credencial_configurada=configurada, credencial_mascarada=mascarada), status


def _save(form, operadora=None):
    """Create or update through the service; None (messages on the form) when a rule refuses it."""
    user = current_user._get_current_object()
    if operadora is None:
        return save_record(form, lambda: services.create_operadora(form.values(), by=user))
    return save_record(form, lambda: services.update_operadora(operadora, form.values(), by=user))


@bp.route("/operadoras", endpoint="list")
@requires("operadora.ler")
def list_operadoras():
    """Operadoras with search by código or nome and an active filter."""
    q = request.args.get("q", "").strip()
    ativo = request.args.get("ativo", "")
    pagination = paginate(services.list_query(q, ATIVO_FILTERS.get(ativo)))
    counts = services.clientes_count([op.id for op in pagination.items])
    return render_template("operadoras/list.html", pagination=pagination, q=q, ativo=ativo,
                           counts=counts)


@bp.route("/operadoras/nova", methods=["GET", "POST"])
@requires("operadora.gerenciar")
def create():
    """Create an operadora."""
    form = _form()
    if form.validate_on_submit():
        operadora = _save(form)
        if operadora is not None:
            flash(f"Operadora {operadora.codigo} criada.", "success")
            return redirect(url_for("operadoras.list"))
    return _render_form(form, None, 422 if form.is_submitted() else 200)


@bp.route("/operadoras/<operadora_id>/editar", methods=["GET", "POST"])
@requires("operadora.gerenciar")
def edit(operadora_id):
    """Edit an operadora (robot settings: Admin only)."""
    operadora = get_or_404(Operadora, operadora_id)
    form = _form(operadora)
    if form.validate_on_submit() and _save(form, operadora) is not None:
        flash(f"Operadora {operadora.codigo} atualizada.", "success")
        return redirect(url_for("operadoras.list"))
    return _render_form(form, operadora, 422 if form.is_submitted() else 200)


def _set_active(operadora_id, ativo: bool):
    operadora = get_or_404(Operadora, operadora_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    changed = services.set_active(operadora, ativo, by=current_user._get_current_object())
    db.session.commit()
    if not changed:
        flash(f"A operadora {operadora.codigo} já estava {'ativa' if ativo else 'inativa'}.", "info")
    elif ativo:
        flash(f"Operadora {operadora.codigo} reativada.", "success")
    else:
        ativos = services.clientes_count([operadora.id]).get(operadora.id, 0)
        extra = f" Ela ainda tem {ativos} cliente(s) ativo(s)." if ativos else ""
        flash(f"Operadora {operadora.codigo} desativada.{extra}", "success")
    return redirect(safe_next(request.form.get("next"), url_for("operadoras.list")))


@bp.route("/operadoras/<operadora_id>/desativar", methods=["POST"])
@requires("operadora.gerenciar")
def deactivate(operadora_id):
    """Deactivate an operadora (its history is kept)."""
    return _set_active(operadora_id, False)


@bp.route("/operadoras/<operadora_id>/reativar", methods=["POST"])
@requires("operadora.gerenciar")
def reactivate(operadora_id):
    """Reactivate an operadora."""
    return _set_active(operadora_id, True)
