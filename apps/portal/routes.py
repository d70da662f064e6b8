"""Portal pages: the serviços people may ask for, their runs (live log), Minhas solicitações; and the
admin's domínios and serviços."""
from flask import abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from apps.auth.policy import requires
from apps.clientes import services as clientes_services
from apps.clientes.cnpj import format_cnpj
from apps.core.errors import ServiceError
from apps.core.form_errors import save_record, show_service_error
from apps.core.pagination import paginate
from apps.core.records import get_or_404
from apps.core.types import db
from apps.portal import services
from apps.portal.blueprint import bp
from apps.portal.forms import DominioForm, Lists, ServicoForm, answers_of, form_for
from apps.portal.models import Dominio, Servico
from apps.processos.models import Execucao, StatusExecucao
from apps.processos.queries import ALL_SERVICO_RUNS, servico_runs_seen_by
from apps.rpa import runs
from apps.rpa.runs import CancelamentoError


def _user():
    return current_user._get_current_object()


def _portal_page(failed=None, status=200):
    """The portal: one card per serviço the user may run, each with its form (`failed`: (servico, form))."""
    grupos, lists = [], Lists()
    for dominio, servicos_ in services.portal(_user()):
        cards = []
        for servico in servicos_:
            form = failed[1] if failed and failed[0].id == servico.id else form_for(servico, formdata={}, lists=lists)
            cards.append((servico, form))
        grupos.append((dominio, cards))
    return render_template("portal/index.html", grupos=grupos), status


@bp.route("/portal", endpoint="index")
@requires("servico.executar")
def index():
    """The serviços the user may ask for, grouped by domínio."""
    return _portal_page()


@bp.route("/portal/servicos/<servico_id>/solicitar", methods=["POST"], endpoint="solicitar")
@requires("servico.executar")
def solicitar(servico_id):
    """Ask for a serviço: its form checked on the server, then its run started."""
    servico = get_or_404(Servico, servico_id)
    if not services.may_run(servico, _user()):
        abort(403)
    form = form_for(servico, formdata=request.form)
    form.validate()  # the typed values' shapes (a number field's text): kept, the rules come next
    try:
        execucao = services.executar(servico, answers_of(form, servico), by=_user())
    except ServiceError as exc:
        db.session.rollback()
        show_service_error(form, exc)
        return _portal_page(failed=(servico, form), status=exc.status if exc.status != 403 else 403)
    flash(f"Solicitação de {servico.nome} enviada.", "success")
    return redirect(url_for("portal.execucao", execucao_id=execucao.id))


def _execucao_or_404(execucao_id) -> Execucao:
    """A serviço's run, for the person who asked for it or an Operador and up (404 for anyone else)."""
    execucao = get_or_404(Execucao, execucao_id)
    seen = servico_runs_seen_by(_user())  # every run for who runs the robots or keeps the serviços, else one's own
    if execucao.servico_id is None or (seen != ALL_SERVICO_RUNS and execucao.criado_por_id != seen):
        abort(404)
    return execucao


def _live_context(execucao) -> dict:
    return {"execucao": execucao, "servico": execucao.servico,
            "ativa": execucao if execucao.status in StatusExecucao.ACTIVE else None,
            "live_url": url_for("portal.ao_vivo", execucao_id=execucao.id),
            "cancel_url": url_for("portal.cancelar", execucao_id="__id__")}


@bp.route("/portal/execucoes/<execucao_id>", endpoint="execucao")
@requires("servico.executar")
def execucao(execucao_id):
    """A serviço's run: status, parameters sent, result, files and its live log."""
    return render_template("portal/execucao.html", **_live_context(_execucao_or_404(execucao_id)))


@bp.route("/portal/execucoes/<execucao_id>/ao-vivo", endpoint="ao_vivo")
@requires("servico.executar")
def ao_vivo(execucao_id):
    """The live parts of the run's page (its status and its row), for the live log script."""
    response = make_response(render_template("portal/_ao_vivo.html", **_live_context(_execucao_or_404(execucao_id))))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/portal/execucoes/<execucao_id>/cancelar", methods=["POST"], endpoint="cancelar")
@requires("servico.executar")
def cancelar(execucao_id):
    """Stop a serviço's run (the robots are asked to stop its job)."""
    execucao = _execucao_or_404(execucao_id)
    try:
        runs.cancelar(execucao, by=_user())
        flash("Execução cancelada.", "success")
    except CancelamentoError as exc:
        db.session.rollback()
        flash(exc.message, "warning")
    return redirect(url_for("portal.execucao", execucao_id=execucao.id))


@bp.route("/portal/clientes", endpoint="clientes")
@requires("servico.executar")
def clientes():
    """The cliente field's search: up to 20 active clientes whose nome, código or CNPJ holds `q` (2+ characters)."""
    q = (request.args.get("q") or "").strip()[:100]
    found = []
    if len(q) >= 2:
        found = db.session.scalars(clientes_services.list_query(q, ativo=True).limit(20)).all()
    response = jsonify(items=[{"cnpj": format_cnpj(c.cnpj), "nome": c.nome, "operadora": c.operadora.codigo}
                              for c in found])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/portal/solicitacoes", endpoint="solicitacoes")
@requires("servico.executar")
def solicitacoes():
    """Minhas solicitações: what I asked for on the portal and how it ended."""
    return render_template("portal/solicitacoes.html", pagination=paginate(services.solicitacoes_query(_user())))


# -- admin: domínios and serviços ------------------------------------------------------------------
@bp.route("/portal/dominios", methods=["GET", "POST"], endpoint="dominios")
@requires("servico.gerenciar")
def dominios():
    """Domínios of the portal, and a form to create one."""
    form = DominioForm()
    if form.validate_on_submit():
        dominio = save_record(form, lambda: services.create_dominio(form.values(), by=_user()))
        if dominio is not None:
            flash(f"Domínio {dominio.nome} criado.", "success")
            return redirect(url_for("portal.dominios"))
    return render_template("portal/dominios.html", form=form, dominios=services.dominios()), \
        422 if form.is_submitted() else 200


@bp.route("/portal/dominios/<dominio_id>/editar", methods=["GET", "POST"], endpoint="dominio_editar")
@requires("servico.gerenciar")
def dominio_editar(dominio_id):
    """Edit a domínio."""
    dominio = get_or_404(Dominio, dominio_id)
    form = DominioForm(obj=dominio)
    if form.validate_on_submit() and save_record(form, lambda: services.update_dominio(dominio, form.values(),
                                                                                        by=_user())):
        flash(f"Domínio {dominio.nome} atualizado.", "success")
        return redirect(url_for("portal.dominios"))
    return render_template("portal/dominio_form.html", form=form, dominio=dominio), \
        422 if form.is_submitted() else 200


@bp.route("/portal/servicos", endpoint="servicos")
@requires("servico.gerenciar")
def servicos():
    """Every serviço, active or not, by domínio."""
    return render_template("portal/servicos.html", servicos=services.servicos())


def _servico_form_page(form, servico, status):
    return render_template("portal/servico_form.html", form=form, servico=servico), status


@bp.route("/portal/servicos/novo", methods=["GET", "POST"], endpoint="servico_novo")
@requires("servico.gerenciar")
def servico_novo():
    """Create a serviço (its form and run template are checked before saving)."""
    form = ServicoForm()
    if form.validate_on_submit():
        servico = save_record(form, lambda: services.create_servico(form.values(), by=_user()))
        if servico is not None:
            flash(f"Serviço {servico.nome} criado.", "success")
            return redirect(url_for("portal.servicos"))
    return _servico_form_page(form, None, 422 if form.is_submitted() else 200)


@bp.route("/portal/servicos/<servico_id>/editar", methods=["GET", "POST"], endpoint="servico_editar")
@requires("servico.gerenciar")
def servico_editar(servico_id):
    """Edit a serviço."""
    servico = get_or_404(Servico, servico_id)
    form = ServicoForm(obj=servico)
    if form.validate_on_submit() and save_record(form, lambda: services.update_servico(servico, form.values(),
                                                                                        by=_user())):
        flash(f"Serviço {servico.nome} atualizado.", "success")
        return redirect(url_for("portal.servicos"))
    return _servico_form_page(form, servico, 422 if form.is_submitted() else 200)
