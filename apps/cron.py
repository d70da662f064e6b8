"""`rq cron apps/cron.py --url $REDIS_URL`: what the scheduler enqueues; the worker runs it.

Every job is an interval job on purpose: rq cron runs an interval job as soon as it starts,
so a monthly creation missed while the system was down is caught up at start (the job
itself decides whether the month is due; see apps/processos/schedule.py).
"""
import os

from dotenv import load_dotenv
from rq import cron

from apps.aprovacoes.lembretes import lembretes_job
from apps.artefatos.retention import limpar_job
from apps.clientes.importacao import reconcile as reconcile_importacoes
from apps.config import Config
from apps.lotes.services import reconcile as reconcile_lotes
from apps.notificacoes import jobs as notificacoes
from apps.processos.schedule import monthly_job
from apps.robos import heartbeat
from apps.rpa.jobs import reconcile_periodic

load_dotenv()  # apps.config was imported (with the package) before any .env could be read


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name) or getattr(Config, name, None) or default
    return max(1, int(value))


QUEUE = os.environ.get("RQ_QUEUE") or Config.RQ_QUEUE
RECONCILE_INTERVAL = _seconds("RECONCILE_INTERVAL", 15)
MONTHLY_CHECK_INTERVAL = _seconds("MONTHLY_CHECK_INTERVAL", 300)
NOTIFICACOES_INTERVAL = _seconds("NOTIFICACOES_INTERVAL", 10)
APROVACOES_CHECK_INTERVAL = _seconds("APROVACOES_CHECK_INTERVAL", 900)
ROBO_HEARTBEAT_SECONDS = _seconds("ROBO_HEARTBEAT_SECONDS", 15)
RETENCAO_INTERVAL = _seconds("RETENCAO_INTERVAL", 24 * 3600)

# ttl: a check left queued while no worker runs is dropped; the next one replaces it.
cron.register(reconcile_periodic, queue_name=QUEUE, interval=RECONCILE_INTERVAL, ttl=max(120, 2 * RECONCILE_INTERVAL),
              job_timeout=300, result_ttl=600, failure_ttl=7 * 24 * 3600)
cron.register(reconcile_importacoes, queue_name=QUEUE, interval=RECONCILE_INTERVAL, ttl=max(120, 2 * RECONCILE_INTERVAL),
              job_timeout=300, result_ttl=600, failure_ttl=7 * 24 * 3600)
cron.register(reconcile_lotes, queue_name=QUEUE, interval=RECONCILE_INTERVAL, ttl=max(120, 2 * RECONCILE_INTERVAL),
              job_timeout=300, result_ttl=600, failure_ttl=7 * 24 * 3600)
cron.register(monthly_job, queue_name=QUEUE, interval=MONTHLY_CHECK_INTERVAL, ttl=max(600, 2 * MONTHLY_CHECK_INTERVAL),
              job_timeout=900, result_ttl=24 * 3600, failure_ttl=30 * 24 * 3600)
# Notifications: close the grouping windows and queue their messages; daily: old messages, the token's expiry.
cron.register(notificacoes.tick, queue_name=QUEUE, interval=NOTIFICACOES_INTERVAL, ttl=max(60, 3 * NOTIFICACOES_INTERVAL),
              job_timeout=120, result_ttl=60, failure_ttl=7 * 24 * 3600)
cron.register(notificacoes.check_token, queue_name=QUEUE, interval=3600, ttl=3600, job_timeout=120, result_ttl=3600,
              failure_ttl=7 * 24 * 3600)
cron.register(notificacoes.cleanup, queue_name=QUEUE, interval=24 * 3600, ttl=3600, job_timeout=900,
              result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600)
# Approval reminders and escalation: idempotent (each task is claimed once a day), so two rq cron runs are harmless.
cron.register(lembretes_job, queue_name=QUEUE, interval=APROVACOES_CHECK_INTERVAL,
              ttl=max(600, 2 * APROVACOES_CHECK_INTERVAL), job_timeout=900, result_ttl=24 * 3600,
              failure_ttl=7 * 24 * 3600)
# The robots' heartbeat: a Redis key per period makes a second scheduler's run probe nothing.
cron.register(heartbeat.run, queue_name=QUEUE, interval=ROBO_HEARTBEAT_SECONDS, ttl=max(30, 2 * ROBO_HEARTBEAT_SECONDS),
              job_timeout=120, result_ttl=120, failure_ttl=24 * 3600)
# Daily: the artefatos whose retention term passed (idempotent; a missed day is done the next).
cron.register(limpar_job, queue_name=QUEUE, interval=RETENCAO_INTERVAL, ttl=3600, job_timeout=3600,
              result_ttl=7 * 24 * 3600, failure_ttl=30 * 24 * 3600)
