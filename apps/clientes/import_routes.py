"""CSV import pages: upload, preview (nothing written), confirm, result with progress and report."""
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

from apps.auth.forms import ConfirmForm
from apps.auth.policy import requires
from apps.clientes import importacao as imports
from apps.clientes import importer
from apps.clientes.blueprint import bp
from apps.clientes.importacao import Importacao, ImportFailed, StatusImportacao
from apps.core.excel_csv import excel_lines
from apps.core.queues import QueueUnavailable
from apps.core.records import get_or_404

SESSION_KEY = "clientes_importacao"
ERRORS_SHOWN = 200
REPORT_HEADER = ("Linha", "Motivo", "Linha original")
REFRESH_SECONDS = 5  # while an import runs, its page reloads to show the counts and bad lines so far


class ImportarForm(FlaskForm):
    """The CSV upload."""

    arquivo = FileField("Arquivo CSV", validators=[
        FileRequired(message="Escolha o arquivo CSV."),
        FileAllowed(["csv", "txt"], message="Envie um arquivo .csv (no Excel: Salvar como › CSV)."),
    ], render_kw={"accept": ".csv,text/csv"})


def _pending(token):
    """The stored file of this session's preview, or 404 (a token is only good for its uploader)."""
    pending = session.get(SESSION_KEY) or {}
    path = imports.path_for(token) if pending.get("token") == token else None
    if path is None:
        abort(404, "Arquivo não encontrado: envie o CSV de novo.")
    return path, pending.get("nome")


def _csv_download(rows, filename: str) -> Response:
    response = Response(stream_with_context(excel_lines(REPORT_HEADER, rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _upload_page(form, status=200):
    max_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    return render_template("clientes/importar.html", form=form, max_mb=max_mb), status


def _store(upload) -> str:
    """Save the upload (its header checked); the session remembers it for the preview."""
    token = imports.save_upload(upload)
    imports.delete_upload((session.get(SESSION_KEY) or {}).get("token"))
    session[SESSION_KEY] = {"token": token, "nome": upload.filename[:255]}
    return token


@bp.route("/clientes/importar", methods=["GET", "POST"], endpoint="importar")
@requires("cliente.importar")
def importar():
    """Upload a CSV of clientes; a readable file goes to its preview."""
    form = ImportarForm()
    if form.validate_on_submit():
        try:
            return redirect(url_for("clientes.importar_previa", token=_store(form.arquivo.data)))
        except importer.ImportFileError as exc:
            form.arquivo.errors.append(str(exc))
    return _upload_page(form, 422 if form.is_submitted() else 200)


@bp.route("/clientes/importar/<token>", endpoint="importar_previa")
@requires("cliente.importar")
def importar_previa(token):
    """The preview: counts and the first errors; nothing is written."""
    path, nome = _pending(token)
    try:
        result = importer.preview(path, limit=ERRORS_SHOWN)
    except importer.ImportFileError as exc:
        imports.delete_upload(token)
        session.pop(SESSION_KEY, None)
        form = ImportarForm(formdata=None)
        form.arquivo.errors = [str(exc)]
        return _upload_page(form, 422)
    return render_template("clientes/importar_previa.html", preview=result, token=token, nome=nome,
                           background=result.total > imports.background_threshold(), confirm_form=ConfirmForm(),
                           shown=ERRORS_SHOWN)


@bp.route("/clientes/importar/<token>/relatorio.csv", endpoint="importar_previa_relatorio")
@requires("cliente.importar")
def importar_previa_relatorio(token):
    """Every error of the preview as a CSV (line, reason, the row as the file had it)."""
    path, _ = _pending(token)
    return _csv_download(importer.iter_errors(path), "previa-importacao-erros.csv")


@bp.route("/clientes/importar/<token>/confirmar", methods=["POST"], endpoint="importar_confirmar")
@requires("cliente.importar")
def importar_confirmar(token):
    """Import the valid rows (checked again now): in this request, or in the background when large."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    _, nome = _pending(token)
    try:
        importacao = imports.start(token, nome, by=current_user._get_current_object())
    except (QueueUnavailable, ImportFailed) as exc:
        flash(str(exc), "danger")
        return redirect(url_for("clientes.importar_previa", token=token))
    session.pop(SESSION_KEY, None)
    if importacao.status == StatusImportacao.CONCLUIDA:
        flash(f"{importacao.importadas} cliente(s) importado(s).", "success")
    elif importacao.status == StatusImportacao.FALHOU:
        flash(importacao.mensagem, "danger")
    return redirect(url_for("clientes.importacao", importacao_id=importacao.id))


@bp.route("/clientes/importacoes/<importacao_id>", endpoint="importacao")
@requires("cliente.importar")
def importacao_page(importacao_id):
    """An import's result, with a progress bar while it runs."""
    importacao = get_or_404(Importacao, importacao_id)
    return render_template("clientes/importar_resultado.html", importacao=importacao,
                           erros=imports.linhas_com_erro(importacao, ERRORS_SHOWN), shown=ERRORS_SHOWN,
                           refresh=REFRESH_SECONDS)


@bp.route("/clientes/importacoes/<importacao_id>.json", endpoint="importacao_json")
@requires("cliente.importar")
def importacao_json(importacao_id):
    """Status and progress, polled by the result page every second."""
    importacao = get_or_404(Importacao, importacao_id)
    return jsonify(status=importacao.status, progresso=importacao.progresso, validas=importacao.validas,
                   invalidas=importacao.invalidas, importadas=importacao.importadas, mensagem=importacao.mensagem)


@bp.route("/clientes/importacoes/<importacao_id>/relatorio.csv", endpoint="importacao_relatorio")
@requires("cliente.importar")
def importacao_relatorio(importacao_id):
    """Every error of an import as a CSV (line, reason, the row as the file had it)."""
    importacao = get_or_404(Importacao, importacao_id)
    return _csv_download(imports.iter_erros(importacao), f"importacao-{importacao.id}-erros.csv")
