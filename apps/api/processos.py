"""API v1: processos, their robot runs (execucoes) and the runs' stored log lines."""
from flask import g, jsonify, request

from apps.api.blueprint import bp
from apps.api.helpers import bool_arg, get_or_404, int_arg, json_body, optional_json_body, seek_envelope, uuid_arg
from apps.auth.policy import requires
from apps.core.errors import ApiError
from apps.core.queues import QueueUnavailable
from apps.processos import queries, services
from apps.processos.models import Execucao, Processo, StatusProcesso
from apps.processos.state import ProcessoError


def _iso(value):
    return value.isoformat() if value is not None else None


def processo_json(p) -> dict:
    return {"id": str(p.id), "cliente_id": str(p.cliente_id), "cliente_nome": p.cliente.nome,
            "operadora_id": str(p.cliente.operadora_id), "competencia": p.competencia, "status": p.status,
            "protocolo_sat": p.protocolo_sat, "created_at": _iso(p.created_at), "updated_at": _iso(p.updated_at)}


def execucao_json(e) -> dict:
    return {"id": str(e.id), "processo_id": str(e.processo_id) if e.processo_id else None, "tipo": e.tipo, "status": e.status,
            "job_id": e.job_id, "data_inicio": _iso(e.data_inicio), "data_fim": _iso(e.data_fim),
            "mensagem": e.mensagem, "robo_id": str(e.robo_id) if e.robo_id else None}


def fatura_json(f) -> dict:
    return {"id": str(f.id), "numero": f.numero, "valor": f"{f.valor:.2f}", "emissao": _iso(f.emissao),
            "vencimento": _iso(f.vencimento), "sha256": f.sha256, "tamanho": f.tamanho,
            "rejeitada": f.rejeitada, "motivo_rejeicao": f.motivo_rejeicao}


def processo_detail_json(p) -> dict:
    return {**processo_json(p), "faturas": [fatura_json(f) for f in p.faturas],
            "execucoes": [execucao_json(e) for e in p.execucoes]}


@bp.post("/v1/processos/gerar")
@requires("agenda.gerenciar")
def api_processos_gerar():
    """Create the month's processos (one per active cliente); idempotent."""
    competencia = json_body().get("competencia")
    if not isinstance(competencia, str) or not competencia:
        raise ApiError(422, "Competência inválida: use o formato AAAA-MM.", {"competencia": "AAAA-MM"})
    try:
        result = services.gerar_processos(competencia, by=g.api_user)
    except ProcessoError as exc:
        raise ApiError(exc.status, exc.message, {"competencia": "AAAA-MM"}) from exc
    return jsonify(result)


@bp.get("/v1/processos")
@requires("processo.ler")
def api_processos_list():
    """Processos filtered by competencia, status, operadora_id, cliente_id and ultima_falhou, paginated."""
    status = request.args.get("status") or None
    if status and status not in StatusProcesso.ALL:
        raise ApiError(400, "Status desconhecido.", {"status": "um de " + ", ".join(StatusProcesso.ALL)})
    competencia = request.args.get("competencia") or None
    if competencia:
        try:
            services.parse_competencia(competencia)
        except ProcessoError as exc:
            raise ApiError(400, exc.message, {"competencia": "AAAA-MM"}) from exc
    filters = dict(competencia=competencia, status=status, operadora_id=uuid_arg("operadora_id"),
                   cliente_id=uuid_arg("cliente_id"), ultima_falhou=bool(bool_arg("ultima_falhou")))
    total = queries.processos_total(**filters)
    return jsonify(seek_envelope(queries.processos_page(**filters, total=total), processo_json, total))


@bp.get("/v1/processos/<processo_id>")
@requires("processo.ler")
def api_processo_get(processo_id):
    """One processo with its faturas and execucoes."""
    return jsonify(processo_detail_json(get_or_404(Processo, processo_id, "Processo")))


@bp.post("/v1/processos/<processo_id>/executar")
@requires("processo.executar", "processo.enviar_sat")
def api_processo_executar(processo_id):
    """Start the robot run the status calls for: 202 with the execucao id."""
    processo = get_or_404(Processo, processo_id, "Processo")
    try:
        execucao = services.executar(processo, by=g.api_user)
    except QueueUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    return jsonify(execucao_id=str(execucao.id)), 202


@bp.post("/v1/processos/<processo_id>/aprovar")
@requires("processo.aprovar")
def api_processo_aprovar(processo_id):
    """Approve the invoices; optional {"comentario"}."""
    processo = get_or_404(Processo, processo_id, "Processo")
    comentario = optional_json_body().get("comentario")
    if comentario is not None and not isinstance(comentario, str):
        raise ApiError(422, "O comentário deve ser um texto.", {"comentario": "texto"})
    services.aprovar(processo, by=g.api_user, comentario=comentario)
    return jsonify(processo_detail_json(processo))


@bp.post("/v1/processos/<processo_id>/rejeitar")
@requires("processo.aprovar")
def api_processo_rejeitar(processo_id):
    """Reject the invoices; {"motivo"} is required."""
    processo = get_or_404(Processo, processo_id, "Processo")
    motivo = optional_json_body().get("motivo")
    if not isinstance(motivo, str) or not motivo.strip():
        raise ApiError(422, "Informe o motivo da rejeição.", {"motivo": "obrigatório"})
    services.rejeitar(processo, by=g.api_user, motivo=motivo)
    return jsonify(processo_detail_json(processo))


@bp.get("/v1/execucoes/<execucao_id>")
@requires("processo.ler")
def api_execucao_get(execucao_id):
    """One robot run."""
    return jsonify(execucao_json(get_or_404(Execucao, execucao_id, "Execução")))


@bp.get("/v1/execucoes/<execucao_id>/logs")
@requires("processo.ler")
def api_execucao_logs(execucao_id):
    """Stored log lines with seq > after, oldest first; `next` is the last seq returned (or after)."""
    execucao = get_or_404(Execucao, execucao_id, "Execução")
    after = int_arg("after", 0)
    lines = queries.logs_after(execucao, after)
    items = [{"seq": line.seq, "level": line.level, "message": line.message, "timestamp": _iso(line.timestamp)}
             for line in lines]
    return jsonify(items=items, next=lines[-1].seq if lines else after)
