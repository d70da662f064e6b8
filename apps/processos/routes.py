"""Processos pages: list with bulk actions, detail with its live parts, actions, manual upload, PDFs."""
import io
import re
import unicodedata
from datetime import timedelta

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from apps.artefatos import download
from apps.artefatos import services as artefatos
from apps.auth.policy import require, requires
from apps.clientes.models import Cliente
from apps.core.clock import current_competencia
from apps.core.pagination import count, paginate_seek, safe_next
from apps.core.queues import QueueUnavailable
from apps.core.records import get_or_404
from apps.core.templating import duration
from apps.core.types import db, parse_uuid, utcnow
from apps.operadoras.models import Operadora
from apps.processos import manual, queries, services, state, storage
from apps.processos.blueprint import bp
from apps.processos.forms import AprovarForm, BulkForm, EnviarFaturasForm, RejeitarForm
from apps.processos.models import Execucao, Fatura, Processo, StatusProcesso, TipoExecucao
from apps.processos.state import ProcessoError
from apps.rpa import runs

TIPO_LABELS = {TipoExecucao.DOWNLOAD: "Download", TipoExecucao.ENVIO_SAT: "Envio ao SAT"}
HISTORY_LABELS = {
    "processo_aprovar": "Aprovado",
    "processo_rejeitar": "Rejeitado",
    "processo_faturas_enviadas": "Faturas enviadas manualmente",
    "processo_download_concluido": "Download concluído",
    "processo_envio_sat_concluido": "Envio ao SAT concluído",
    "execucao_iniciada": "Execução iniciada",
    "execucao_falhou": "Execução falhou",
    "execucao_cancelada": "Execução cancelada",
    "aprovacao_atribuida": "Aprovação atribuída", "aprovacao_reatribuida": "Aprovação reatribuída",
    "aprovacao_assumida": "Aprovação assumida", "aprovacao_primeira": "Primeira aprovação",
    "comentario_adicionado": "Comentário",
}


def _user():
    return current_user._get_current_object()


def _back(processo):
    return redirect(url_for("processos.detail", processo_id=processo.id))


def _run_tipo(processo):
    """The robot run the processo's status calls for now, or None (nothing to run, or one is active)."""
    if processo.execucao_ativa is not None:
        return None
    try:
        return services.tipo_para(processo)
    except ProcessoError:
        return None


def _live_context(processo) -> dict:
    """What the live parts of the detail page (status, execucoes, faturas) need."""
    return {"processo": processo, "cliente": processo.cliente, "operadora": processo.cliente.operadora,
            "actions": state.allowed_actions(processo, _user()), "run_tipo": _run_tipo(processo),
            "ativa": processo.execucao_ativa}


def _detail_page(processo, upload_form=None, status=200):
    context = _live_context(processo)
    return render_template(
        "processos/detail.html", **context, historico=queries.historico(processo), history_labels=HISTORY_LABELS,
        aprovar_form=AprovarForm(formdata=None), rejeitar_form=RejeitarForm(formdata=None),
        upload_form=upload_form or EnviarFaturasForm(formdata=None),
        show_upload=("faturas_enviadas" in context["actions"] and not context["operadora"].possui_rpa
                     and context["ativa"] is None),
    ), status


@bp.app_template_filter("duracao")
def duracao(execucao) -> str:
    """How long a run took (or has been running)."""
    if execucao is None or execucao.data_inicio is None:
        return "—"
    end = execucao.data_fim or (utcnow() if execucao.ativa else None)
    if end is None:
        return "—"
    return duration((end - execucao.data_inicio) / timedelta(seconds=1))


def _list_filters(args) -> dict:
    """The list's filters; without a competência in the URL, the current month (people work on it,
    and a fixed competência lets the database page through its index instead of sorting every month)."""
    return {
        "competencia": args.get("competencia", "").strip() if "competencia" in args else current_competencia(),
        "status": args.get("status", "") if args.get("status") in StatusProcesso.ALL else "",
        "operadora": args.get("operadora", ""),
        "q": args.get("q", "").strip(),
        "ultima_falhou": "1" if args.get("ultima_falhou", "").strip().lower() in ("1", "true", "on", "sim") else "",
    }


def _query_args(filters) -> dict:
    return dict(competencia=filters["competencia"] or None, status=filters["status"] or None,
                operadora_id=parse_uuid(filters["operadora"]), q=filters["q"] or None,
                ultima_falhou=bool(filters.get("ultima_falhou")))


@bp.route("/processos", endpoint="list")
@requires("processo.ler")
def list_processos():
    """Processos filtered by competência, status, operadora, cliente (nome or CNPJ) and a failed last run."""
    filters = _list_filters(request.args)
    args = _query_args(filters)
    total = queries.processos_total(**args)
    pagination = paginate_seek(queries.processos_page(**args, total=total), total)
    return render_template(
        "processos/list.html", pagination=pagination,
        ultimas=queries.ultimas_execucoes(p.id for p in pagination.items),
        filters=filters, bulk_form=BulkForm(formdata=None),
        competencias=queries.competencias(), operadoras=queries.operadoras(), atual=current_competencia(),
        status_labels=StatusProcesso.LABELS,
    )


@bp.route("/processos/<processo_id>", endpoint="detail")
@requires("processo.ler")
def detail(processo_id):
    """A processo: cliente, status and actions, runs, invoices, history."""
    return _detail_page(get_or_404(Processo, processo_id))


@bp.route("/processos/<processo_id>/fragmento", endpoint="fragmento")
@requires("processo.ler")
def fragmento(processo_id):
    """The live parts of the detail page (#processo-status, #execucoes-table, #faturas-table) as HTML."""
    response = make_response(render_template("processos/_fragmento.html", **_live_context(get_or_404(Processo, processo_id))))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/processos/<processo_id>/ao-vivo", endpoint="ao_vivo")
@requires("processo.ler")
def ao_vivo(processo_id):
    """Every live part of the detail page as HTML: the fragmento's three plus #processo-historico."""
    processo = get_or_404(Processo, processo_id)
    response = make_response(render_template("processos/_ao_vivo.html", **_live_context(processo),
                                             historico=queries.historico(processo), history_labels=HISTORY_LABELS))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/processos/<processo_id>/execucoes/<execucao_id>/cancelar", methods=["POST"], endpoint="cancelar_execucao")
@requires("processo.executar")
def cancelar_execucao(processo_id, execucao_id):
    """Stop a robot run (confirmed on the page): it ends FALHOU saying who cancelled it."""
    processo = get_or_404(Processo, processo_id)
    execucao = get_or_404(Execucao, execucao_id)
    if execucao.processo_id != processo.id:
        abort(404)
    try:
        runs.cancelar(execucao, by=_user())
    except runs.CancelamentoError as exc:
        flash(exc.message, "warning")
    else:
        flash(f"Execução cancelada ({TIPO_LABELS.get(execucao.tipo, execucao.tipo)}).", "success")
    return redirect(url_for("processos.detail", processo_id=processo.id, logs=execucao.id))  # its log stays open


@bp.route("/processos/<processo_id>/executar", methods=["POST"], endpoint="executar")
@requires("processo.executar", "processo.enviar_sat")
def executar(processo_id):
    """Start the robot run the status calls for (download or SAT upload)."""
    processo = get_or_404(Processo, processo_id)
    try:
        execucao = services.executar(processo, by=_user())
    except ProcessoError as exc:
        flash(exc.message, "danger")
    except QueueUnavailable as exc:
        flash(str(exc), "warning")
    else:
        flash(f"Execução iniciada ({TIPO_LABELS.get(execucao.tipo, execucao.tipo)}). "
              "Acompanhe o andamento nesta página.", "success")
    return _back(processo)


@bp.route("/processos/<processo_id>/aprovar", methods=["POST"], endpoint="aprovar")
@requires("processo.aprovar")
def aprovar(processo_id):
    """Approve the invoices (optional comment)."""
    processo = get_or_404(Processo, processo_id)
    form = AprovarForm()
    if not form.validate_on_submit():
        flash(" ".join(form.comentario.errors) or "Formulário inválido.", "danger")
        return _back(processo)
    try:
        flash(*services.depois_de_aprovar(services.aprovar(processo, by=_user(),
                                                           comentario=form.comentario.data or None)))
    except ProcessoError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    return _back(processo)


@bp.route("/processos/<processo_id>/rejeitar", methods=["POST"], endpoint="rejeitar")
@requires("processo.aprovar")
def rejeitar(processo_id):
    """Reject the invoices (reason required); the processo goes back to download."""
    processo = get_or_404(Processo, processo_id)
    form = RejeitarForm()
    if not form.validate_on_submit():
        flash(" ".join(form.motivo.errors) or "Formulário inválido.", "danger")
        return _back(processo)
    try:
        flash(*services.depois_de_rejeitar(services.rejeitar(processo, by=_user(), motivo=form.motivo.data)))
    except ProcessoError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    return _back(processo)


@bp.route("/processos/<processo_id>/faturas", methods=["POST"], endpoint="enviar_faturas")
@requires("processo.enviar_faturas")
def enviar_faturas(processo_id):
    """Manual upload of invoices (PDFs) for an operadora without a robot."""
    processo = get_or_404(Processo, processo_id)
    formdata, from_kept = _upload_formdata(processo)
    form = EnviarFaturasForm(formdata=formdata)
    if not form.validate_on_submit():
        return _upload_refused(processo, form, from_kept)
    entries = [manual.FaturaManual(
        data=entry.arquivo.data.read(), nome_original=entry.arquivo.data.filename or "",
        numero=entry.numero.data, valor=entry.valor.data, vencimento=entry.vencimento.data,
        emissao=entry.emissao.data) for entry in form.faturas]
    try:
        faturas = manual.enviar_faturas(processo, entries, by=_user())
    except manual.UploadError as exc:
        for position, message in exc.problems.items():
            target = form.faturas[position].arquivo
            target.errors = [*target.errors, message]
        if not exc.problems:
            flash(exc.message, "danger")
        return _upload_refused(processo, form, from_kept, [entry.data for entry in entries], set(exc.problems))
    except ProcessoError as exc:
        flash(exc.message, "danger")
        return _back(processo)
    manual.discard(processo.id, from_kept.values())
    flash(f"{len(faturas)} fatura(s) registrada(s); o processo aguarda aprovação.", "success")
    return _back(processo)


KEPT_FIELD = re.compile(r"(faturas-\d+-arquivo)_mantido")


def _upload_formdata(processo):
    """The upload's fields, with the file kept from the last try standing in for each one not chosen
    again; and {file field: token} of those used."""
    files, from_kept = request.files.copy(), {}
    for key, token in request.form.items():
        match = KEPT_FIELD.fullmatch(key)
        chosen = files.get(match.group(1)) if match else None
        if match is None or (chosen is not None and chosen.filename):
            continue  # not a kept file, or another file was chosen in its place
        data = manual.kept(processo.id, token)
        if data is not None:
            name = request.form.get(f"{key}_nome", "")[:255] or "fatura.pdf"
            files[match.group(1)] = FileStorage(io.BytesIO(data), filename=name, content_type="application/pdf")
            from_kept[match.group(1)] = token
    return CombinedMultiDict([files, request.form]), from_kept


def _upload_refused(processo, form, from_kept, datas=None, refused=frozenset()):
    """The detail page again (422), keeping every good file chosen so only what was wrong is chosen again."""
    if datas is None:
        datas = [entry.arquivo.data.read() if isinstance(entry.arquivo.data, FileStorage) else b""
                 for entry in form.faturas]
    known, earlier, form.kept = {f.sha256 for f in processo.faturas_ativas}, {}, {}
    for position, (entry, data) in enumerate(zip(form.faturas, datas, strict=True)):
        field, name = entry.arquivo.name, getattr(entry.arquivo.data, "filename", "") or ""
        digest = storage.sha256_hex(data) if data else ""
        if not data or position in refused or manual.file_problem(data, name, digest, known, earlier):
            continue
        earlier[digest] = (position, name)
        form.kept[field] = (from_kept.get(field) or manual.keep(processo.id, data), name)
        entry.arquivo.flags.required = False  # the kept file stands in; choosing one again is optional
    return _detail_page(processo, form, 422)


BULK_TITLES = {"aprovar": "Aprovar selecionados", "executar": "Executar selecionados",
               "reexecutar": "Reexecutar falhas"}
NAO_ENCONTRADO = "processo não encontrado (pode ter sido removido)."


def _bulk_page(acao: str, ids: list, feitos, result: dict, back: str):
    """The result of a bulk action: one row per processo, in the order chosen, "Feito" or "Ignorado: <motivo>"."""
    motivos = {p.id: msg for p, msg in result["erros"]}
    motivos.update({pid: NAO_ENCONTRADO for pid in result["nao_encontrados"]})
    found = {pid: (nome, competencia, operadora) for pid, nome, competencia, operadora in db.session.execute(
        select(Processo.id, Cliente.nome, Processo.competencia, Operadora.codigo)
        .join(Cliente, Cliente.id == Processo.cliente_id).join(Operadora, Operadora.id == Cliente.operadora_id)
        .where(Processo.id.in_(ids)))}
    feitos, linhas = set(feitos), []
    for pid in ids:
        nome, competencia, operadora = found.get(pid, (None, None, None))
        linhas.append({"id": pid, "cliente": nome, "competencia": competencia, "operadora": operadora,
                       "feito": pid in feitos, "motivo": None if pid in feitos else motivos.get(pid, "não processado.")})
    done = sum(1 for linha in linhas if linha["feito"])
    return render_template("processos/_resultado_lote.html", titulo=BULK_TITLES[acao], linhas=linhas, back=back,
                           verbo="aprovado" if acao == "aprovar" else "iniciado", feitos=done,
                           ignorados=len(linhas) - done)


@bp.route("/processos/acoes", methods=["POST"], endpoint="bulk")
@requires("processo.aprovar", "processo.executar", "processo.enviar_sat")
def bulk():
    """Approve or run the selected processos; each refusal is reported with its reason."""
    formdata = request.form.copy()
    formdata.setlist("ids", request.form.getlist("ids") + request.form.getlist("ids[]"))  # both spellings
    form = BulkForm(formdata=formdata)
    next_url = safe_next(request.form.get("next"), url_for("processos.list"))
    if not form.validate_on_submit():
        flash(" ".join(form.ids.errors) or "Escolha Aprovar ou Executar.", "danger")
        return redirect(next_url)
    require(*services.BULK_PERMISSIONS[form.action.data])
    if form.action.data == "aprovar":
        result = services.aprovar_varios(form.uuids, by=_user())
        return _bulk_page("aprovar", form.uuids, result["aprovados"], result, next_url)
    try:
        result = services.executar_varios(form.uuids, by=_user())
    except QueueUnavailable as exc:
        flash(str(exc), "warning")
        return redirect(next_url)
    return _bulk_page("executar", form.uuids, result["execucoes"], result, next_url)


@bp.route("/processos/reexecutar-falhas", endpoint="reexecutar_falhas_confirmar")
@requires("processo.executar", "processo.enviar_sat")
def reexecutar_falhas_confirmar():
    """Confirmation page naming how many processos of the filter have a failed run to redo."""
    filters = _list_filters(request.args)
    total = count(queries.falhas_query(**_query_args(filters)))
    return render_template("processos/reexecutar_falhas.html", filters=filters, total=total,
                           back=url_for("processos.list", **{k: v for k, v in filters.items() if v}))


@bp.route("/processos/reexecutar-falhas", methods=["POST"], endpoint="reexecutar_falhas")
@requires("processo.executar", "processo.enviar_sat")
def reexecutar_falhas():
    """Run again every processo of the filter whose last run for its current step failed."""
    next_url = safe_next(request.form.get("next"), url_for("processos.list"))
    ids = list(db.session.scalars(queries.falhas_query(**_query_args(_list_filters(request.form)))))
    if not ids:
        flash("Nenhuma execução falha a reexecutar neste filtro.", "info")
        return redirect(next_url)
    try:
        result = services.executar_varios(ids, by=_user())
    except QueueUnavailable as exc:
        flash(str(exc), "warning")
        return redirect(next_url)
    return _bulk_page("reexecutar", ids, result["execucoes"], result, next_url)


def _ascii_filename(numero: str) -> str:
    text = unicodedata.normalize("NFKD", numero or "").encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "fatura"
    return f"{text[:80]}.pdf"


@bp.route("/faturas/<fatura_id>/pdf", endpoint="fatura_pdf")
@requires("processo.ler")
def fatura_pdf(fatura_id):
    """The invoice's PDF, shown in the browser (streamed from storage, in a CSP sandbox)."""
    fatura = get_or_404(Fatura, fatura_id)
    artefato = artefatos.of_fatura(fatura)
    if artefato is not None and artefato.removido_em is not None:
        abort(410, download.removed_message(artefato))
    return download.send(fatura.arquivo, content_type="application/pdf", filename=_ascii_filename(fatura.numero),
                         inline=True)


@bp.route("/em-execucao", endpoint="em_execucao")
@requires("processo.ler")
def em_execucao():
    """Every robot run in progress, across processos."""
    return render_template("processos/em_execucao.html",
                           execucoes=queries.execucoes_ativas(queries.servico_runs_seen_by(current_user)))
