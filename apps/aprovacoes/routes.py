"""Aprovações pages: the inbox (tabs, badge, bulk approval), the review view, taking and reassigning, comments."""
from decimal import Decimal

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from apps.aprovacoes import caixa, comentarios, regras, tarefas
from apps.aprovacoes.blueprint import bp
from apps.aprovacoes.forms import AprovarForm, AtribuirForm, ComentarioForm, RejeitarForm, SelecaoForm
from apps.aprovacoes.models import TarefaAprovacao
from apps.aprovacoes.prazo import hoje
from apps.auth.models import User
from apps.auth.policy import can, requires
from apps.core.errors import ServiceError
from apps.core.pagination import paginate, safe_next
from apps.core.records import get_or_404
from apps.core.types import db
from apps.processos import services
from apps.processos.models import Processo


def _user():
    return current_user._get_current_object()


def _aba(value) -> str:
    return value if value in caixa.ABAS else "minhas"


@bp.app_context_processor
def _badge():
    """`aprovacoes_badge()` for the sidebar: computed only where the sidebar asks for it."""
    def aprovacoes_badge():
        if not current_user.is_authenticated or not can("processo.aprovar"):
            return None
        return caixa.badge(current_user)

    return {"aprovacoes_badge": aprovacoes_badge}


@bp.app_template_global("aprovacao_do_processo")
def aprovacao_do_processo(processo_id):
    """The processo's open approval task (for the processo page), or None."""
    return db.session.scalar(select(TarefaAprovacao).where(TarefaAprovacao.processo_id == processo_id,
                                                           TarefaAprovacao.aberta.is_(True))
                             .options(db.joinedload(TarefaAprovacao.responsavel)))


@bp.app_template_global("comentarios_do_processo")
def comentarios_do_processo(processo_id):
    return comentarios.do_processo(processo_id)


@bp.app_template_global("comentario_form")
def comentario_form():
    return ComentarioForm(formdata=None)


@bp.route("/aprovacoes", endpoint="inbox")
@requires("processo.aprovar")
def inbox():
    """Minhas aprovações: open tasks by prazo in tabs, each with its total and its change against past months."""
    aba, today = _aba(request.args.get("aba")), hoje()
    pagination = paginate(caixa.fila(_user(), aba, today=today), total=caixa.total(_user(), aba, today=today))
    return render_template(
        "aprovacoes/inbox.html", pagination=pagination, aba=aba, abas=caixa.ABAS, today=today,
        contagens=caixa.contagens(_user(), today), alerta=caixa.alerta, selecao_form=SelecaoForm(formdata=None),
        comentarios=comentarios.contagem(t.processo_id for t in pagination.items))


def _tarefa_ou_404(processo_id):
    """(the open task or None, the processo or 404)."""
    processo = get_or_404(Processo, processo_id)
    return db.session.scalar(caixa.fila().where(TarefaAprovacao.processo_id == processo.id)), processo


@bp.route("/aprovacoes/<processo_id>/revisar", endpoint="revisar")
@requires("processo.aprovar")
def revisar(processo_id):
    """The review view: the processo's PDFs one after the other, Aprovar / Rejeitar e próximo, shortcuts."""
    aba = _aba(request.args.get("aba"))
    tarefa, processo = _tarefa_ou_404(processo_id)
    if tarefa is None:
        flash("Este processo não aguarda aprovação.", "info")
        return redirect(url_for("aprovacoes.inbox", aba=aba))
    return render_template(
        "aprovacoes/revisar.html", tarefa=tarefa, processo=processo, aba=aba, abas=caixa.ABAS, today=hoje(),
        alerta=caixa.alerta(tarefa), faturas=processo.faturas_ativas,
        proximo=caixa.vizinha(_user(), aba, tarefa), anterior=caixa.vizinha(_user(), aba, tarefa, depois=False),
        aprovar_form=AprovarForm(formdata=None), rejeitar_form=RejeitarForm(formdata=None),
        comentario_form=ComentarioForm(formdata=None), thread=comentarios.do_processo(processo.id),
        pode_assumir=can("processo.aprovar") and tarefa.responsavel_id != _user().id)


def _seguir(aba, proximo):
    if proximo is not None:
        return redirect(url_for("aprovacoes.revisar", processo_id=proximo, aba=aba))
    flash("Não há mais processos nesta aba.", "info")
    return redirect(url_for("aprovacoes.inbox", aba=aba))


def _decidir(processo_id, form, field, decide):
    """Aprovar/Rejeitar e próximo: the form checked, the decision taken (`decide(processo, form)` gives the
    flash), then the next processo of the tab; a refusal goes back to the processo with its message."""
    aba = _aba(request.args.get("aba"))
    tarefa, processo = _tarefa_ou_404(processo_id)
    if not form.validate_on_submit():
        flash(" ".join(field.errors) or "Formulário inválido.", "danger")
        return redirect(url_for("aprovacoes.revisar", processo_id=processo.id, aba=aba))
    proximo = caixa.vizinha(_user(), aba, tarefa) if tarefa is not None else None
    try:
        flash(*decide(processo, form))
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("aprovacoes.revisar", processo_id=processo.id, aba=aba))
    return _seguir(aba, proximo)


def _aprovado(processo, form) -> tuple[str, str]:
    return services.depois_de_aprovar(services.aprovar(processo, by=_user(), comentario=form.comentario.data or None))


def _rejeitado(processo, form) -> tuple[str, str]:
    return services.depois_de_rejeitar(services.rejeitar(processo, by=_user(), motivo=form.motivo.data))


@bp.route("/aprovacoes/<processo_id>/aprovar", methods=["POST"], endpoint="aprovar")
@requires("processo.aprovar")
def aprovar(processo_id):
    """Aprovar e próximo."""
    form = AprovarForm()
    return _decidir(processo_id, form, form.comentario, _aprovado)


@bp.route("/aprovacoes/<processo_id>/rejeitar", methods=["POST"], endpoint="rejeitar")
@requires("processo.aprovar")
def rejeitar(processo_id):
    """Rejeitar e próximo (motivo required)."""
    form = RejeitarForm()
    return _decidir(processo_id, form, form.motivo, _rejeitado)


@bp.route("/aprovacoes/<processo_id>/assumir", methods=["POST"], endpoint="assumir")
@requires("processo.aprovar")
def assumir(processo_id):
    """Take a task without responsável, or one of an absent colleague."""
    processo = get_or_404(Processo, processo_id)
    back = safe_next(request.form.get("next"), url_for("aprovacoes.inbox"))
    try:
        tarefas.assumir(processo, by=_user())
        db.session.commit()
        flash(f"Você assumiu a aprovação de {processo.cliente_nome}.", "success")
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    return redirect(back)


@bp.route("/aprovacoes/<processo_id>/atribuir", methods=["POST"], endpoint="atribuir")
@requires("aprovacao.atribuir")
def atribuir(processo_id):
    """An Admin gives the task to another approver."""
    processo = get_or_404(Processo, processo_id)
    back = safe_next(request.form.get("next"), url_for("aprovacoes.inbox"))
    form = AtribuirForm()
    if not form.validate_on_submit():
        flash(" ".join(form.usuario_id.errors) or "Formulário inválido.", "danger")
        return redirect(back)
    try:
        tarefas.atribuir(processo, db.session.get(User, form.uuid), by=_user())
        db.session.commit()
        flash(f"Aprovação de {processo.cliente_nome} reatribuída.", "success")
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    return redirect(back)


def _selecionadas(ids):
    return list(db.session.scalars(caixa.fila().where(TarefaAprovacao.processo_id.in_(ids))))


@bp.route("/aprovacoes/confirmar", methods=["POST"], endpoint="confirmar")
@requires("processo.aprovar")
def confirmar():
    """Bulk approval, step 1: how many were chosen and their total, before anything is approved."""
    form = SelecaoForm()
    aba = _aba(request.args.get("aba"))
    if not form.validate_on_submit():
        flash(" ".join(form.ids.errors) or "Seleção inválida.", "danger")
        return redirect(url_for("aprovacoes.inbox", aba=aba))
    selecionadas = _selecionadas(form.uuids)
    total = sum((t.total for t in selecionadas), Decimal("0"))
    return render_template("aprovacoes/confirmar.html", selecionadas=selecionadas, total=total, aba=aba,
                           ausentes=len(form.uuids) - len(selecionadas), form=SelecaoForm(formdata=None),
                           duplas=sum(1 for t in selecionadas if regras.exige_dupla(t.operadora, t.total)))


@bp.route("/aprovacoes/aprovar-selecionados", methods=["POST"], endpoint="aprovar_selecionados")
@requires("processo.aprovar")
def aprovar_selecionados():
    """Bulk approval, step 2: approve each confirmed processo; each refusal is reported with its reason."""
    form = SelecaoForm()
    aba = _aba(request.args.get("aba"))
    back = url_for("aprovacoes.inbox", aba=aba)
    if not form.validate_on_submit():
        flash(" ".join(form.ids.errors) or "Seleção inválida.", "danger")
        return redirect(back)
    result = services.aprovar_varios(form.uuids, by=_user())
    motivos = {p.id: msg for p, msg in result["erros"]}
    nomes = {p.id: (p.cliente_nome, p.competencia) for p in db.session.scalars(
        select(Processo).where(Processo.id.in_(form.uuids)))}
    feitos = set(result["aprovados"])
    linhas = [{"id": pid, "cliente": nomes.get(pid, (None, None))[0], "competencia": nomes.get(pid, (None, None))[1],
               "operadora": None, "feito": pid in feitos,
               "motivo": None if pid in feitos else motivos.get(pid, "processo não encontrado.")} for pid in form.uuids]
    return render_template("processos/_resultado_lote.html", titulo="Aprovar selecionados", linhas=linhas, back=back,
                           verbo="aprovado", feitos=len(feitos), ignorados=len(linhas) - len(feitos))


@bp.route("/processos/<processo_id>/comentarios", methods=["POST"], endpoint="comentar")
@requires("processo.aprovar")
def comentar(processo_id):
    """Add a comment to the processo's thread."""
    processo = get_or_404(Processo, processo_id)
    back = safe_next(request.form.get("next"), url_for("processos.detail", processo_id=processo.id))
    form = ComentarioForm()
    if not form.validate_on_submit():
        flash(" ".join(form.texto.errors) or "Formulário inválido.", "danger")
        return redirect(back)
    try:
        comentarios.comentar(processo, by=_user(), texto=form.texto.data)
        db.session.commit()
        flash("Comentário adicionado.", "success")
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    return redirect(back)


@bp.app_template_global("aprovadores_escolha")
def aprovadores_escolha():
    return tarefas.aprovadores_possiveis()
