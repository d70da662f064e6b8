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


def once_per(name: str, seconds: float) -> bool:
    """True for the first caller of `name` in this period, across every process and machine.

    `rq cron` has no leader: two schedulers both enqueue every job. A periodic job that must not run
    twice per period asks this first. The lock lasts 90% of the period, so the same scheduler's next
    run, a little late or early, is never refused.
    """
    return bool(get_redis().set(f"cron:once:{name}", "1", nx=True, px=max(1000, int(seconds * 900))))
