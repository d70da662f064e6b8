"""Live events: the worker publishes each stored log line and status change on Redis pub/sub.

Pub/sub is at-most-once, so every event published here is also in the database first; a
viewer replays stored lines and then listens, de-duplicating by `seq`.
Channels: `execucao:<execucao_id>` (its log lines and status), `execucoes` (every status change).
"""
import json
import logging

import redis

from apps.core.queues import get_redis

log = logging.getLogger(__name__)
ALL_CHANNEL = "execucoes"


def channel_for(execucao_id) -> str:
    return f"execucao:{execucao_id}"


def log_line_json(line, job_id, operadora) -> dict:
    """The seed's log JSON for one stored line: the one shape pub/sub, the SSE replay and the API send."""
    return {"type": "log", "seq": line.seq, "level": line.level, "message": line.message, "operadora": operadora,
            "job_id": job_id, "timestamp": line.timestamp.isoformat(), "service": line.service, "logger": line.logger}


def log_payload(execucao, line) -> dict:
    """log_line_json for a line of this execucao."""
    processo = execucao.processo
    operadora = processo.cliente.operadora.codigo if processo and processo.cliente else (
        execucao.operadora.codigo if execucao.operadora else None)
    return log_line_json(line, execucao.job_id, operadora)


def status_payload(execucao) -> dict:
    processo = execucao.processo
    return {
        "execucao_id": str(execucao.id),
        "processo_id": str(execucao.processo_id) if execucao.processo_id else None,
        "processo_status": processo.status if processo else None,
        "tipo": execucao.tipo,
        "status": execucao.status,
        "job_id": execucao.job_id,
        "mensagem": execucao.mensagem,
        "data_inicio": execucao.data_inicio.isoformat() if execucao.data_inicio else None,
        "data_fim": execucao.data_fim.isoformat() if execucao.data_fim else None,
    }


def publish_logs(execucao, lines) -> None:
    """Every new line of a run, in one round trip to Redis."""
    if not lines:
        return
    channel = channel_for(execucao.id)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for line in lines:
            pipe.publish(channel, json.dumps({"event": "log", "data": log_payload(execucao, line)}))
        pipe.execute()
    except redis.RedisError:
        log.warning("could not publish %d log line(s) on %s", len(lines), channel)


def publish_status(execucao) -> None:
    """Status change of an execucao; a terminal one also ends its live streams."""
    data = status_payload(execucao)
    events = [(channel_for(execucao.id), "status")]
    if execucao.status == "CONCLUIDO":
        events.append((channel_for(execucao.id), "job_completed"))
    elif execucao.status == "FALHOU":
        events.append((channel_for(execucao.id), "job_failed"))
    events.append((ALL_CHANNEL, "status"))
    try:  # one round trip, in this order
        pipe = get_redis().pipeline(transaction=False)
        for channel, event in events:
            pipe.publish(channel, json.dumps({"event": event, "data": data}))
        pipe.execute()
    except redis.RedisError:
        log.warning("could not publish the status of execucao %s", execucao.id)
