"""Clientes pages: list, create, edit, deactivate and reactivate."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from apps.auth.forms import ConfirmForm
from apps.auth.policy import requires
from apps.clientes import services
from apps.clientes.blueprint import bp
from apps.clientes.forms import ClienteForm
from apps.clientes.models import Cliente
from apps.core.form_errors import save_record
from apps.core.pagination import paginate, safe_next
from apps.core.records import RecordError, get_or_404
from apps.core.types import db, parse_uuid
from apps.operadoras.models import Operadora
from apps.operadoras.services import active_operadoras

ATIVO_FILTERS = {"1": True, "0": False}


def _save(form, cliente=None):
    """Create or update through the service; None (messages on the form) when a rule refuses it."""
    user = current_user._get_current_object()
    if cliente is None:
        return save_record(form, lambda: services.create_cliente(form.values(), by=user))
    return save_record(form, lambda: services.update_cliente(cliente, form.values(), by=user))


@bp.route("/clientes", endpoint="list")
@requires("cliente.ler")
def list_clientes():
    """Clientes with search (nome, código, CNPJ) and operadora and active filters."""
    q = request.args.get("q", "").strip()
    ativo = request.args.get("ativo", "")
    operadora_arg = request.args.get("operadora", "")
    query = services.list_query(q, parse_uuid(operadora_arg) if operadora_arg else None, ATIVO_FILTERS.get(ativo))
    operadoras = db.session.scalars(select(Operadora).order_by(Operadora.codigo)).all()
    return render_template("clientes/list.html", pagination=paginate(query), q=q, ativo=ativo,
                           operadora=operadora_arg, operadoras=operadoras)


@bp.route("/clientes/novo", methods=["GET", "POST"])
@requires("cliente.gerenciar")
def create():
    """Create a cliente."""
    form = ClienteForm()
    form.set_operadoras(active_operadoras())
    if form.validate_on_submit():
        cliente = _save(form)
        if cliente is not None:
            flash(f"Cliente {cliente.nome} criado.", "success")
            return redirect(url_for("clientes.list"))
    status = 422 if form.is_submitted() else 200
    return render_template("clientes/form.html", form=form, cliente=None), status


@bp.route("/clientes/<cliente_id>/editar", methods=["GET", "POST"])
@requires("cliente.gerenciar")
def edit(cliente_id):
    """Edit a cliente."""
    cliente = get_or_404(Cliente, cliente_id)
    form = ClienteForm(obj=cliente)
    form.set_operadoras(active_operadoras(), current=cliente.operadora)
    if not form.is_submitted():
        form.cnpj.data = cliente.cnpj_formatado
        form.operadora_id.data = str(cliente.operadora_id)
    if form.validate_on_submit() and _save(form, cliente) is not None:
        flash(f"Cliente {cliente.nome} atualizado.", "success")
        return redirect(url_for("clientes.list"))
    status = 422 if form.is_submitted() else 200
    return render_template("clientes/form.html", form=form, cliente=cliente), status


def _set_active(cliente_id, ativo: bool):
    cliente = get_or_404(Cliente, cliente_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        changed = services.set_active(cliente, ativo, by=current_user._get_current_object())
        db.session.commit()
    except RecordError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(safe_next(request.form.get("next"), url_for("clientes.list")))
    if not changed:
        flash(f"O cliente {cliente.nome} já estava {'ativo' if ativo else 'inativo'}.", "info")
    else:
        flash(f"Cliente {cliente.nome} {'reativado' if ativo else 'desativado'}.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("clientes.list")))


@bp.route("/clientes/<cliente_id>/desativar", methods=["POST"])
@requires("cliente.gerenciar")
def deactivate(cliente_id):
    """Deactivate a cliente (its processos are kept)."""
    return _set_active(cliente_id, False)


@bp.route("/clientes/<cliente_id>/reativar", methods=["POST"])
@requires("cliente.gerenciar")
def reactivate(cliente_id):
    """Reactivate a cliente (its operadora must be active)."""
    return _set_active(cliente_id, True)
