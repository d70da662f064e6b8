"""Redis and RQ handles, built from REDIS_URL (one connection pool per process)."""
import redis
from flask import current_app
from rq import Queue

_clients: dict[str, redis.Redis] = {}


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached: actions that need a worker must change nothing."""

    MESSAGE = ("A fila de tarefas (Redis) está indisponível no momento; nada foi alterado. "
               "Tente novamente em instantes ou avise o administrador.")

    def __init__(self):
        super().__init__(self.MESSAGE)


def get_redis(url: str | None = None) -> redis.Redis:
    """One client (and connection pool) per URL per process: building one costs as much as a job."""
    url = url or current_app.config["REDIS_URL"]
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis(connection_pool=redis.ConnectionPool.from_url(
            url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30))
    return client


def get_queue(name: str | None = None) -> Queue:
    return Queue(name or current_app.config["RQ_QUEUE"], connection=get_redis())


def ensure_available() -> None:
    """Raise QueueUnavailable unless Redis answers a PING."""
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        raise QueueUnavailable() from exc
