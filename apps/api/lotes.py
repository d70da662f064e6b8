"""API v1: lotes (mass runs by CSV). `POST /v1/lotes` previews (dry_run) or starts one; `GET` reads its progress."""
import json

from flask import Response, jsonify, request, stream_with_context, url_for
from sqlalchemy import select

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, list_envelope, with_location
from apps.auth.policy import current_identity, requires
from apps.core.errors import ApiError
from apps.core.queues import QueueUnavailable
from apps.lotes import arquivo, previa, progresso, services
from apps.lotes.models import Lote

MAX_ERROS = 1000  # failed lines listed by GET /v1/lotes/<id> (the CSV report has every one)
BAD_ROWS = "O arquivo tem linhas com problema; nenhuma foi executada. Corrija-as e envie o arquivo de novo."
FLUSH_AT = 64 * 1024


def _dry_run() -> bool:
    value = request.args.get("dry_run", request.form.get("dry_run", ""))
    lowered = value.strip().lower()
    if lowered in {"", "false", "0", "nao", "não", "no"}:
        return False
    if lowered in {"true", "1", "sim", "yes"}:
        return True
    raise ApiError(400, "Parâmetro 'dry_run' deve ser true ou false.", {"dry_run": "valor booleano esperado"})


def _report(head: dict, token: str, status: int) -> Response:
    """`head` plus "erros" (every bad row, streamed from the file: never all in memory); the stored file is
    removed once the answer is sent."""

    def chunks():
        try:
            buffer = [json.dumps(head, ensure_ascii=False)[:-1] + ', "erros": [']
            size, separator = 0, ""
            for linha, motivo in previa.erros(token):
                piece = separator + json.dumps({"linha": linha, "motivo": motivo}, ensure_ascii=False)
                buffer.append(piece)
                size, separator = size + len(piece), ","
                if size >= FLUSH_AT:
                    yield "".join(buffer)
                    buffer, size = [], 0
            buffer.append("]}")
            yield "".join(buffer)
        finally:
            arquivo.delete_upload(token)

    return Response(stream_with_context(chunks()), status=status, mimetype="application/json")


@bp.post("/v1/lotes")
@requires("lote.executar")
def lotes_criar():
    """A lote from a CSV (multipart `arquivo`): with dry_run the preview; else 202 {"lote_id"}, or 422 with every
    bad row when there is any (then nothing runs)."""
    dry_run = _dry_run()
    token = arquivo.save_upload(request.files.get("arquivo"))
    try:
        counts = previa.resumo(token)
    except BaseException:
        arquivo.delete_upload(token)
        raise
    head = {"linhas": counts.linhas, "validas": counts.validas}
    if dry_run:
        if not counts.invalidas:
            arquivo.delete_upload(token)
            return jsonify({**head, "erros": []})
        return _report(head, token, 200)
    if counts.invalidas:
        return _report({"error": BAD_ROWS, "fields": {"arquivo": f"{counts.invalidas} linha(s) com problema"},
                        **head}, token, 422)
    try:
        lote, _ = services.start(token, request.files["arquivo"].filename, by=current_identity())
    except QueueUnavailable as exc:
        arquivo.delete_upload(token)
        raise ApiError(503, str(exc)) from exc
    except services.LoteError:
        arquivo.delete_upload(token)
        raise
    return with_location({"lote_id": str(lote.id)}, url_for("api.lotes_detalhe", lote_id=lote.id), status=202)


@bp.get("/v1/lotes/<lote_id>")
@requires("processo.ler")
def lotes_detalhe(lote_id):
    """A lote's status and counts (from SQL aggregates) and its failed lines (the first 1,000)."""
    lote = get_or_404(Lote, lote_id, "Lote")
    counts = progresso.progress(lote)
    return jsonify({key: counts[key] for key in ("status", "total", "concluidas", "falhas", "aguardando")}
                   | {"erros": [{"linha": linha, "motivo": motivo} for linha, motivo in progresso.erros(lote, MAX_ERROS)],
                      "mensagem": lote.mensagem})


@bp.get("/v1/lotes")
@requires("processo.ler")
def lotes_lista():
    """Lotes, newest first, each with its counts (one grouped aggregate for the page)."""
    envelope = list_envelope(select(Lote).order_by(Lote.created_at.desc(), Lote.id), lambda lote: lote)
    counts = progresso.progress_many(envelope["items"])
    envelope["items"] = [
        {"id": str(lote.id), "arquivo_nome": lote.arquivo_nome, "criado_em": lote.created_at.isoformat(),
         **{key: counts[lote.id][key] for key in ("status", "total", "concluidas", "falhas", "aguardando")}}
        for lote in envelope["items"]]
    return jsonify(envelope)
