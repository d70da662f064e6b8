"""API v1: CSV import of clientes (preview with dry_run, import now or in the background)."""
from flask import jsonify, request, url_for

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, with_location
from apps.auth.policy import current_identity, requires
from apps.clientes import importacao as imports
from apps.clientes import importer
from apps.clientes.importacao import Importacao, StatusImportacao
from apps.core.errors import ApiError
from apps.core.queues import QueueUnavailable

MAX_ERROS = 1000  # errors listed in a response; "erros_truncados" says when there are more


def _dry_run() -> bool:
    value = request.args.get("dry_run", request.form.get("dry_run", ""))
    lowered = value.strip().lower()
    if lowered in {"", "false", "0", "nao", "não", "no"}:
        return False
    if lowered in {"true", "1", "sim", "yes"}:
        return True
    raise ApiError(400, "Parâmetro 'dry_run' deve ser true ou false.", {"dry_run": "valor booleano esperado"})


def _store_upload() -> str:
    """The multipart field `arquivo`, stored and its header checked; 400 or 422 otherwise."""
    return imports.save_upload(request.files.get("arquivo"))


def serialize(importacao) -> dict:
    """An import: status, progress (0..100), counts and the first errors."""
    rows = imports.erros(importacao, MAX_ERROS)
    return {
        "id": str(importacao.id), "status": importacao.status, "progresso": importacao.progresso,
        "arquivo_nome": importacao.arquivo_nome, "validas": importacao.validas, "invalidas": importacao.invalidas,
        "importadas": importacao.importadas, "mensagem": importacao.mensagem,
        "erros": [{"linha": linha, "motivo": motivo} for linha, motivo in rows],
        "erros_truncados": importacao.invalidas > len(rows),
        "criado_em": importacao.created_at.isoformat(),
        "concluida_em": importacao.concluida_em.isoformat() if importacao.concluida_em else None,
    }


def _preview(token: str) -> dict:
    try:
        result = importer.preview(imports.path_for(token), limit=MAX_ERROS)
    finally:
        imports.delete_upload(token)
    return {"validas": result.validas, "invalidas": result.invalidas, "importadas": 0,
            "erros": [{"linha": linha, "motivo": motivo} for linha, motivo in result.erros],
            "erros_truncados": result.invalidas > len(result.erros)}


@bp.post("/v1/clientes/importar")
@requires("cliente.importar")
def clientes_importar():
    """Import a CSV (multipart `arquivo`): 200 with the report, or 202 when it runs in the background."""
    dry_run = _dry_run()
    token = _store_upload()
    if dry_run:
        return jsonify(_preview(token))
    filename = request.files["arquivo"].filename
    try:
        importacao = imports.start(token, filename, by=current_identity())
    except QueueUnavailable as exc:
        imports.delete_upload(token)
        raise ApiError(503, str(exc)) from exc
    if importacao.status == StatusImportacao.PROCESSANDO:
        return with_location({"importacao_id": str(importacao.id), "status": importacao.status,
                              "progresso": importacao.progresso},
                             url_for("api.clientes_importacao", importacao_id=importacao.id), status=202)
    body = serialize(importacao)
    if importacao.status == StatusImportacao.FALHOU:
        raise ApiError(409, importacao.mensagem or "A importação falhou; nada foi gravado.",
                       {"importacao_id": body["id"]})
    body["importacao_id"] = body["id"]
    return jsonify(body)


@bp.get("/v1/clientes/importacoes/<importacao_id>")
@requires("cliente.importar")
def clientes_importacao(importacao_id):
    """An import's status, progress (0..100) and report (the first 1,000 errors)."""
    importacao = get_or_404(Importacao, importacao_id, "Importação")
    return jsonify(serialize(importacao))
