"""API v1: a processo's faturas, their PDFs, and the manual upload for operadoras without a robot."""
from flask import g, jsonify, request
from sqlalchemy import select

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, list_envelope
from apps.api.processos import fatura_json, processo_detail_json
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.processos import manual
from apps.processos import routes as pages
from apps.processos.forms import EnviarFaturasForm
from apps.processos.models import Fatura, Processo


@bp.get("/v1/processos/<processo_id>/faturas")
@requires("processo.ler")
def api_processo_faturas(processo_id):
    """The processo's faturas (rejected ones included, marked), oldest first, paginated."""
    processo = get_or_404(Processo, processo_id, "Processo")
    query = select(Fatura).where(Fatura.processo_id == processo.id).order_by(Fatura.created_at, Fatura.id)
    return jsonify(list_envelope(query, fatura_json))


@bp.get("/v1/faturas/<fatura_id>/pdf")
@requires("processo.ler")
def api_fatura_pdf(fatura_id):
    """The fatura's PDF, with the same checks and headers as the page's link."""
    get_or_404(Fatura, fatura_id, "Fatura")
    return pages.fatura_pdf(fatura_id)


def _form_errors(form) -> dict:
    """The upload form's errors keyed by the multipart field names (faturas-0-valor, ...)."""
    fields = {}
    for entry in form.faturas.entries:
        for field in entry.form:
            if field.errors:
                fields[field.name] = " ".join(str(e) for e in field.errors)
    top = [e for e in form.faturas.errors if isinstance(e, str)]
    if top:
        fields["faturas"] = " ".join(top)
    return fields


@bp.post("/v1/processos/<processo_id>/faturas")
@requires("processo.enviar_faturas")
def api_processo_enviar_faturas(processo_id):
    """Manual upload (multipart, faturas-N-arquivo/numero/valor/vencimento/emissao): 201 with the processo."""
    processo = get_or_404(Processo, processo_id, "Processo")
    if request.mimetype != "multipart/form-data":  # the form would otherwise read a JSON body itself
        raise ApiError(415, "Envie as faturas como multipart/form-data.")
    form = EnviarFaturasForm(meta={"csrf": False})
    if not form.validate():
        raise ApiError(422, "Dados das faturas inválidos.", _form_errors(form))
    entries = [manual.FaturaManual(
        data=entry.arquivo.data.read(), nome_original=entry.arquivo.data.filename or "",
        numero=entry.numero.data, valor=entry.valor.data, vencimento=entry.vencimento.data,
        emissao=entry.emissao.data) for entry in form.faturas]
    manual.enviar_faturas(processo, entries, by=g.api_user)
    return jsonify(processo_detail_json(processo)), 201
