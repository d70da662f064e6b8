"""API v1: the files a run produced (artefatos) and their download; access follows the processo's."""
from flask import g, jsonify

from apps.api.blueprint import bp
from apps.api.helpers import get_or_404, list_envelope
from apps.artefatos import download, services
from apps.artefatos.models import Artefato
from apps.auth.policy import has_permission, requires
from apps.core.errors import ApiError
from apps.processos.models import Execucao


def _iso(value):
    return value.isoformat() if value is not None else None


def artefato_json(a) -> dict:
    return {"id": str(a.id), "execucao_id": str(a.execucao_id) if a.execucao_id else None,
            "processo_id": str(a.processo_id) if a.processo_id else None,
            "fatura_id": str(a.fatura_id) if a.fatura_id else None, "kind": a.kind, "name": a.name,
            "content_type": a.content_type, "size": a.size, "sha256": a.sha256, "created_at": _iso(a.created_at),
            "expira_em": _iso(a.guardado_ate), "removido_em": _iso(a.removido_em),
            "download": None if a.removido_em else f"/api/v1/artefatos/{a.id}/download"}


def _execucao_visible(execucao) -> bool:
    """A run with a processo is seen by everyone who sees the processo; one without (a service run),
    by who asked for it and by who manages the serviços."""
    if execucao.processo_id is not None:
        return True
    return has_permission(g.api_user, "servico.gerenciar") or (
        execucao.criado_por_id is not None and execucao.criado_por_id == g.api_user.id)


@bp.get("/v1/execucoes/<execucao_id>/artefatos")
@requires("artefato.ler")
def api_execucao_artefatos(execucao_id):
    """The files a run produced (removed ones included, with removido_em), oldest first, paginated."""
    execucao = get_or_404(Execucao, execucao_id, "Execução")
    if not _execucao_visible(execucao):
        raise ApiError(404, "Execução não encontrada.")
    return jsonify(list_envelope(services.execucao_query(execucao), artefato_json))


@bp.get("/v1/artefatos/<artefato_id>/download")
@requires("artefato.ler")
def api_artefato_download(artefato_id):
    """The artefato's bytes, streamed, with the same headers as the page's link (410 once removed)."""
    artefato = get_or_404(Artefato, artefato_id, "Artefato")
    if not services.can_read(g.api_user, artefato):
        raise ApiError(404, "Artefato não encontrado.")
    if artefato.removido_em is not None:
        raise ApiError(410, download.removed_message(artefato))
    return download.send_artefato(artefato)
