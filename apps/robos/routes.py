"""The Robôs page: everyone with view rights sees the registry live; admins manage it."""
from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from apps.auth.forms import ConfirmForm
from apps.auth.policy import requires
from apps.core.errors import ServiceError
from apps.core.form_errors import save_record
from apps.core.records import get_or_404
from apps.core.types import db
from apps.robos import services
from apps.robos.blueprint import bp
from apps.robos.forms import RoboForm, VersaoAtivaForm
from apps.robos.models import Robo, StatusRobo


def _user():
    return current_user._get_current_object()


def _versao_form() -> VersaoAtivaForm:
    form = VersaoAtivaForm()
    form.versao.choices = [("", "— nenhuma (liberar) —")] + [(v, v) for v in services.known_versions()]
    return form


def _context() -> dict:
    return {"rows": services.overview(), "labels": StatusRobo.LABELS, "pinned": services.pinned()}


@bp.route("/robos", endpoint="list")
@requires("robo.ler")
def list_robos():
    """Robots with status, load, version, last contact, latency and their last 24 h."""
    return render_template("robos/list.html", versao_form=_versao_form(), **_context())


@bp.route("/robos/fragmento", endpoint="fragmento")
@requires("robo.ler")
def fragmento():
    """The robots' table alone, which the page fetches every few seconds."""
    response = make_response(render_template("robos/_tabela.html", **_context()))
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_form(form, robo, status):
    return render_template("robos/form.html", form=form, robo=robo), status


@bp.route("/robos/novo", methods=["GET", "POST"], endpoint="create")
@requires("robo.gerenciar")
def create():
    """Register a robot."""
    form = RoboForm()
    if form.validate_on_submit():
        robo = save_record(form, lambda: services.create_robo(form.values(), by=_user()))
        if robo is not None:
            flash(f"Robô {robo.nome} cadastrado; ele recebe execuções assim que responder ao /health.", "success")
            return redirect(url_for("robos.list"))
    return _render_form(form, None, 422 if form.is_submitted() else 200)


@bp.route("/robos/<robo_id>/editar", methods=["GET", "POST"], endpoint="edit")
@requires("robo.gerenciar")
def edit(robo_id):
    """Edit a robot."""
    robo = get_or_404(Robo, robo_id)
    form = RoboForm(obj=robo)
    if not form.is_submitted():
        form.tags.data = ", ".join(robo.tag_list)
    if form.validate_on_submit() and save_record(form, lambda: services.update_robo(robo, form.values(), by=_user())):
        flash(f"Robô {robo.nome} atualizado.", "success")
        return redirect(url_for("robos.list"))
    return _render_form(form, robo, 422 if form.is_submitted() else 200)


def _act(robo_id, action, done, unchanged):
    robo = get_or_404(Robo, robo_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    nome = robo.nome
    try:
        changed = action(robo)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        flash((done if changed is not False else unchanged).format(nome=nome), "success" if changed is not False else "info")
    return redirect(url_for("robos.list"))


@bp.route("/robos/<robo_id>/excluir", methods=["POST"], endpoint="delete")
@requires("robo.gerenciar")
def delete(robo_id):
    """Delete a robot holding no run."""
    return _act(robo_id, lambda r: services.delete_robo(r, by=_user()), "Robô {nome} excluído.", "")


@bp.route("/robos/<robo_id>/ativar", methods=["POST"], endpoint="activate")
@requires("robo.gerenciar")
def activate(robo_id):
    """Switch a robot on (ends a drain too)."""
    return _act(robo_id, lambda r: services.set_active(r, True, by=_user()), "Robô {nome} ativado.",
                "O robô {nome} já estava ativo.")


@bp.route("/robos/<robo_id>/desativar", methods=["POST"], endpoint="deactivate")
@requires("robo.gerenciar")
def deactivate(robo_id):
    """Switch a robot off: no probes, no new runs."""
    return _act(robo_id, lambda r: services.set_active(r, False, by=_user()), "Robô {nome} desativado.",
                "O robô {nome} já estava desativado.")


@bp.route("/robos/<robo_id>/drenar", methods=["POST"], endpoint="drain")
@requires("robo.gerenciar")
def drain(robo_id):
    """No new runs for a robot; the ones it holds finish."""
    return _act(robo_id, lambda r: services.drain(r, by=_user()),
                "Robô {nome} drenando: não recebe novas execuções; as atuais terminam.", "O robô {nome} já estava drenando.")


@bp.route("/robos/versao-ativa", methods=["POST"], endpoint="versao_ativa")
@requires("robo.gerenciar")
def versao_ativa():
    """Pin the version of a tag, or unpin it (no version chosen)."""
    form = _versao_form()
    if not form.validate_on_submit():
        abort(400)
    try:
        pinned = services.set_pinned_version(form.tag.data, form.versao.data or None, by=_user())
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        flash(" ".join([exc.message, *exc.fields.values()]) if exc.fields else exc.message, "danger")
    else:
        flash(f"Versão {pinned.versao} fixada para {pinned.tag}." if pinned
              else f"Versão liberada para {(form.tag.data or '').strip().upper()}.", "success")
    return redirect(url_for("robos.list"))
