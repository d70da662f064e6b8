"""Lote pages: list, upload (with the format and a sample), preview, confirm, progress and the CSV report."""
from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy import select

from apps.auth.forms import ConfirmForm
from apps.auth.policy import requires
from apps.clientes.cnpj import format_cnpj
from apps.clientes.importer import ImportFileError
from apps.core.excel_csv import excel_lines
from apps.core.pagination import page_arg, paginate
from apps.core.queues import QueueUnavailable
from apps.core.records import get_or_404
from apps.lotes import arquivo, progresso, services
from apps.lotes import previa as previa_mod
from apps.lotes.blueprint import bp
from apps.lotes.models import Lote, StatusLote

SESSION_KEY = "lotes_previa"
ERRORS_PER_PAGE = 50
REPORT_HEADER = ("Linha", "CNPJ", "Competência", "Ação", "Processo", "Situação", "Mensagem")
ERRORS_HEADER = ("Linha", "Motivo")
SAMPLE = (("CNPJ", "Competencia", "Acao"), ("11.222.333/0001-81", "2026-10", "DOWNLOAD"),
          ("12.ABC.345/01DE-35", "2026-09", "ENVIO_SAT"))


class LoteForm(FlaskForm):
    """The CSV upload."""

    arquivo = FileField("Arquivo CSV", validators=[
        FileRequired(message="Escolha o arquivo CSV."),
        FileAllowed(["csv", "txt"], message="Envie um arquivo .csv (no Excel: Salvar como › CSV)."),
    ], render_kw={"accept": ".csv,text/csv"})


def _csv_download(header, rows, filename: str) -> Response:
    response = Response(stream_with_context(excel_lines(header, rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _pending(token):
    """The stored file of this session's preview, or 404 (a token is only good for its uploader)."""
    pending = session.get(SESSION_KEY) or {}
    path = arquivo.path_for(token) if pending.get("token") == token else None
    if path is None:
        abort(404, "Arquivo não encontrado: envie o CSV de novo.")
    return path, pending.get("nome")


def _upload_page(form, status=200):
    max_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    return render_template("lotes/novo.html", form=form, max_mb=max_mb, sample=SAMPLE), status


@bp.route("/lotes", endpoint="list")
@requires("processo.ler")
def lotes_list():
    """Every lote, newest first, with its progress."""
    pagination = paginate(select(Lote).order_by(Lote.created_at.desc(), Lote.id))
    counts = progresso.progress_many(pagination.items)
    return render_template("lotes/list.html", pagination=pagination, counts=counts)


@bp.route("/lotes/modelo.csv", endpoint="modelo")
@requires("processo.ler")
def modelo():
    """A sample CSV of a lote, as Excel saves one."""
    return _csv_download(SAMPLE[0], SAMPLE[1:], "modelo-lote.csv")


@bp.route("/lotes/novo", methods=["GET", "POST"], endpoint="novo")
@requires("lote.executar")
def novo():
    """Upload a lote's CSV; a readable file goes to its preview."""
    form = LoteForm()
    if form.validate_on_submit():
        try:
            token = arquivo.save_upload(form.arquivo.data)
        except ImportFileError as exc:
            form.arquivo.errors.append(str(exc))
        else:
            arquivo.delete_upload((session.get(SESSION_KEY) or {}).get("token"))
            session[SESSION_KEY] = {"token": token, "nome": form.arquivo.data.filename[:255]}
            return redirect(url_for("lotes.previa", token=token))
    return _upload_page(form, 422 if form.is_submitted() else 200)


@bp.route("/lotes/previa/<token>", endpoint="previa")
@requires("lote.executar")
def previa(token):
    """The preview: counts and a page of the bad rows; nothing is written."""
    existing = services.by_chave(token)
    if existing is not None:
        return redirect(url_for("lotes.detalhe", lote_id=existing.id))
    _, nome = _pending(token)
    page = page_arg()
    try:
        result = previa_mod.resumo(token)
    except ImportFileError as exc:
        arquivo.delete_upload(token)
        session.pop(SESSION_KEY, None)
        form = LoteForm(formdata=None)
        form.arquivo.errors = [str(exc)]
        return _upload_page(form, 422)
    erros = list(previa_mod.erros(token, (page - 1) * ERRORS_PER_PAGE, ERRORS_PER_PAGE))
    pages = max(1, -(-result.invalidas // ERRORS_PER_PAGE))
    return render_template("lotes/previa.html", preview=result, erros=erros, token=token, nome=nome, page=page,
                           pages=pages, confirm_form=ConfirmForm(),
                           background=result.linhas > int(current_app.config.get("LOTES_BACKGROUND_ROWS",
                                                                                  services.BACKGROUND_ROWS)))


@bp.route("/lotes/previa/<token>/erros.csv", endpoint="previa_erros")
@requires("lote.executar")
def previa_erros(token):
    """Every bad row of the preview as a CSV (line, reason)."""
    _pending(token)
    return _csv_download(ERRORS_HEADER, previa_mod.erros(token), "lote-linhas-com-problema.csv")


@bp.route("/lotes/previa/<token>/confirmar", methods=["POST"], endpoint="confirmar")
@requires("lote.executar")
def confirmar(token):
    """Create the lote and queue its runs (checked again now); a preview confirmed twice is one lote."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    existing = services.by_chave(token)
    if existing is not None:
        flash("Este lote já foi confirmado; cada execução foi enfileirada uma vez.", "info")
        return redirect(url_for("lotes.detalhe", lote_id=existing.id))
    _, nome = _pending(token)
    try:
        lote, created = services.start(token, nome, by=current_user._get_current_object())
    except (QueueUnavailable, services.LoteError) as exc:
        flash(str(exc), "danger")
        return redirect(url_for("lotes.novo"))
    session.pop(SESSION_KEY, None)
    if not created:
        flash("Este lote já foi confirmado; cada execução foi enfileirada uma vez.", "info")
    elif lote.status == StatusLote.FALHOU:
        flash(lote.mensagem, "danger")
    else:
        flash("Lote confirmado: as execuções entram na fila conforme o limite de cada operadora.", "success")
    return redirect(url_for("lotes.detalhe", lote_id=lote.id))


@bp.route("/lotes/<lote_id>", endpoint="detalhe")
@requires("processo.ler")
def detalhe(lote_id):
    """A lote's progress (live) and the lines that failed."""
    lote = get_or_404(Lote, lote_id)
    return render_template("lotes/detalhe.html", lote=lote, counts=progresso.progress(lote),
                           erros=progresso.erros(lote, ERRORS_PER_PAGE), shown=ERRORS_PER_PAGE,
                           labels=StatusLote.LABELS)


@bp.route("/lotes/<lote_id>.json", endpoint="progresso")
@requires("processo.ler")
def progresso_json(lote_id):
    """The lote's counts, polled by its page."""
    lote = get_or_404(Lote, lote_id)
    counts = progresso.progress(lote)
    counts.update(label=StatusLote.LABELS.get(counts["status"], counts["status"]), mensagem=lote.mensagem)
    return jsonify(counts)


@bp.route("/lotes/<lote_id>/relatorio.csv", endpoint="relatorio")
@requires("processo.ler")
def relatorio(lote_id):
    """One line per row of the lote's file: line, CNPJ, competência, ação, processo, situation, message."""
    lote = get_or_404(Lote, lote_id)
    rows = ((linha, format_cnpj(cnpj), *rest) for linha, cnpj, *rest in progresso.report_rows(lote))
    return _csv_download(REPORT_HEADER, rows, f"lote-{lote.id}-relatorio.csv")


@bp.app_template_filter("lote_pct")
def lote_pct(counts) -> int:
    """The share of a lote's lines that ended (done or failed), 0..100."""
    total = counts.get("total") or 0
    return 100 if not total else min(100, 100 * (counts["concluidas"] + counts["falhas"]) // total)
