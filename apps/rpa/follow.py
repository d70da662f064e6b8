"""Who follows a robot run: the Redis lease that names its one live follower job, and the enqueueing.

Every enqueue writes a new follower token into the run's lease, and a poll goes on only while the
lease names it (or has expired). So the reconciler can restart following any active execucao whose
lease expired (its worker died), and a stale or duplicated job (an RQ retry, a slow worker waking up)
stops instead of growing a second chain of polls. Jobs are enqueued by dotted name, so this module
and the throttle never import the jobs that drive the run.
"""
import math
import uuid
from datetime import timedelta

from flask import current_app
from redis import RedisError
from rq import Retry

from apps.core.logs import current_request_id
from apps.core.queues import QueueUnavailable, get_queue, get_redis
from apps.core.types import db

START = "apps.rpa.jobs.start_execucao"
POLL = "apps.rpa.jobs.poll_execucao"
JOB_TIMEOUT = 300
# A follower job's result is a word for whoever looks at RQ soon after ("COMPLETED", "aguardando vaga"); nothing
# reads it later. A run makes two or more jobs: kept 600 s, a busy month held every job of the last ten minutes
# (its hash and its result stream, several kB each) in Redis.
RESULT_TTL = 60
# Take the lease when it is free or already names this follower; refuse when it names another.
CLAIM_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


def lease_key(execucao_id) -> str:
    return f"rpa:follow:{execucao_id}"


def lease_seconds() -> int:
    return int(current_app.config.get("FOLLOW_LEASE_SECONDS", 120))


def enqueue(func: str, execucao_id, delay: float = 0, job_id: str | None = None, **state):
    """Enqueue (or schedule) the run's next job; the lease now names that job as its only follower.

    `state` travels with the chain of polls (consecutive bad answers, when the end was first seen).
    """
    queue = get_queue()
    follower = uuid.uuid4().hex
    options = dict(job_timeout=JOB_TIMEOUT, result_ttl=RESULT_TTL, failure_ttl=7 * 24 * 3600,
                   meta={"execucao_id": str(execucao_id), "request_id": current_request_id()},
                   retry=Retry(max=2, interval=[2, 10]), args=(str(execucao_id), follower), kwargs=state)
    try:
        get_redis().set(lease_key(execucao_id), follower, ex=math.ceil(delay) + lease_seconds())
        if delay > 0:
            return queue.enqueue_in(timedelta(seconds=delay), func, **options)
        return queue.enqueue(func, job_id=job_id, **options)
    except RedisError as exc:
        raise QueueUnavailable() from exc


def claim(execucao_id, follower: str | None) -> bool:
    """True when this job may follow the run: the lease names it, or nobody (it expired)."""
    token = follower or uuid.uuid4().hex  # a job queued without a token only takes a free lease
    return bool(get_redis().eval(CLAIM_SCRIPT, 1, lease_key(execucao_id), token, lease_seconds()))


def hold(execucao_id, follower: str | None) -> str:
    """The start job is talking to the robots: nobody else may start or follow the run meanwhile
    (for one lease, or one whole RPA call when that is longer). Returns the token the lease names."""
    token = follower or uuid.uuid4().hex
    get_redis().set(lease_key(execucao_id), token, ex=_busy_seconds())
    return token


def renew(execucao_id, follower: str | None) -> None:
    """A follower busy for long (downloading many invoices) keeps its lease, so the reconciler does not
    start a second one; a lease that already names someone else is left alone."""
    if follower:
        get_redis().eval(CLAIM_SCRIPT, 1, lease_key(execucao_id), follower, _busy_seconds())


def _busy_seconds() -> int:
    """A lease that outlasts one whole RPA call (RPA_CALL_DEADLINE), however short the lease setting."""
    return max(lease_seconds(), math.ceil(float(current_app.config.get("RPA_CALL_DEADLINE", 30))) + 5)


def release(execucao_id) -> None:
    """The run ended: no follower is needed any more."""
    try:
        get_redis().delete(lease_key(execucao_id))
    except RedisError:
        pass  # the lease expires by itself; the run is already ended in the database


def is_followed(execucao_id) -> bool:
    return bool(get_redis().exists(lease_key(execucao_id)))


def enqueue_start(execucao, job_id: str | None = None) -> None:
    """Queue the job that asks the RPA API to start this run (a run admitted by apps.rpa.throttle already names it)."""
    job = enqueue(START, execucao.id, job_id=job_id or f"rpa-start-{execucao.id}")
    if execucao.rq_job_id != job.id:
        execucao.rq_job_id = job.id
        db.session.commit()


def enqueue_poll(execucao) -> None:
    """Look at this run now (e.g. the robot reported its end): the new job becomes its only follower."""
    enqueue(POLL, execucao.id)
