"""`rq cron apps/cron.py --url $REDIS_URL`: what the scheduler enqueues; the worker runs it.

Every job is an interval job on purpose: rq cron runs an interval job as soon as it starts,
so a monthly creation missed while the system was down is caught up at start (the job
itself decides whether the month is due; see apps/processos/schedule.py).
"""
import os

from dotenv import load_dotenv
from rq import cron

from apps.clientes.importacao import reconcile as reconcile_importacoes
from apps.config import Config
from apps.lotes.services import reconcile as reconcile_lotes
from apps.processos.schedule import monthly_job
from apps.rpa.jobs import reconcile

load_dotenv()  # apps.config was imported (with the package) before any .env could be read


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name) or getattr(Config, name, None) or default
    return max(1, int(value))


QUEUE = os.environ.get("RQ_QUEUE") or Config.RQ_QUEUE
RECONCILE_INTERVAL = _seconds("RECONCILE_INTERVAL", 60)
MONTHLY_CHECK_INTERVAL = _seconds("MONTHLY_CHECK_INTERVAL", 300)

# ttl: a check left queued while no worker runs is dropped; the next one replaces it.
cron.register(reconcile, queue_name=QUEUE, interval=RECONCILE_INTERVAL, ttl=max(120, 2 * RECONCILE_INTERVAL),
              job_timeout=300, result_ttl=600, failure_ttl=7 * 24 * 3600)
cron.register(reconcile_importacoes, queue_name=QUEUE, interval=RECONCILE_INTERVAL, ttl=max(120, 2 * RECONCILE_INTERVAL),
              job_timeout=300, result_ttl=600, failure_ttl=7 * 24 * 3600)
cron.register(reconcile_lotes, queue_name=QUEUE, interval=RECONCILE_INTERVAL, ttl=max(120, 2 * RECONCILE_INTERVAL),
              job_timeout=300, result_ttl=600, failure_ttl=7 * 24 * 3600)
cron.register(monthly_job, queue_name=QUEUE, interval=MONTHLY_CHECK_INTERVAL, ttl=max(600, 2 * MONTHLY_CHECK_INTERVAL),
              job_timeout=900, result_ttl=24 * 3600, failure_ttl=30 * 24 * 3600)
