"""The RQ worker process: one app, one app context, jobs run in-process (SimpleWorker).

Run: `python -m apps.worker [--burst] [--name NAME]`. SimpleWorker avoids a fork per job
(about 3x the throughput here) and keeps the database pool warm; the scheduler inside the
worker moves `enqueue_in` follow-ups to the queue every second.

Only one worker's scheduler runs per queue, under a Redis lock it refreshes every second
(61 s TTL). When that worker dies (SIGKILL, OOM, a lost host), RQ lets the lock run out and
another worker takes it only at its next maintenance pass (every 10 min by default), so every
follow-up poll would wait that long. Here an idle worker wakes every few seconds and frees a
lock its holder stopped refreshing, then RQ's own maintenance starts a scheduler in this worker.
"""
import argparse
import logging
from datetime import date

from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.scripts import release_lock

from apps import create_app
from apps.core.logs import reset_job_request_id, set_job_request_id
from apps.core.queues import get_queue, get_redis
from apps.core.types import db
from apps.processos import schedule

log = logging.getLogger("apps.worker")
SCHEDULER_LOCK_TTL = 61        # RQScheduler: interval (1 s) + 60, refreshed at every heartbeat
SCHEDULER_STALE_SECONDS = 10   # not refreshed for this long: its holder is dead
MAINTENANCE_SECONDS = 5        # how often the worker checks (RQ's default is 600)
WORKER_TTL = 20                # the idle wait for jobs is WORKER_TTL - 15 s, so maintenance can run


def release_dead_scheduler_locks(connection, queue_names) -> list[str]:
    """Free the scheduler lock of each queue whose holder stopped refreshing it; return those queues."""
    freed = []
    for name in queue_names:
        key = RQScheduler.get_locking_key(name)
        owner, ttl = connection.get(key), connection.ttl(key)
        if owner is not None and 0 <= ttl < SCHEDULER_LOCK_TTL - SCHEDULER_STALE_SECONDS:
            if release_lock(connection, key, owner.decode()):
                log.warning("scheduler lock of queue %s held by a dead scheduler (%s): released", name, owner)
                freed.append(name)
    return freed


def configure_session() -> None:
    """Jobs keep what they loaded across their own commits: a job commits several times (log lines, the end,
    the next admission) and would reload its execucao, processo, cliente and operadora after each one. Every
    job starts a new session (AppWorker.perform_job), every state change is a conditional UPDATE that
    refreshes its row, and `_load` reads the execucao fresh, so nothing a job decides on is older than its start."""
    db.session.remove()
    db.session.configure(expire_on_commit=False)


class AppWorker(SimpleWorker):
    """A SimpleWorker that gives every job a fresh database session and replaces a dead scheduler."""

    def perform_job(self, job, queue):
        token = set_job_request_id((job.meta or {}).get("request_id"))
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()
            reset_job_request_id(token)

    def run_maintenance_tasks(self):
        release_dead_scheduler_locks(self.connection, self.queue_names())
        super().run_maintenance_tasks()  # starts our scheduler when the lock is free


def warm_up() -> None:
    """Load at start what the first job would otherwise load while it works: the holiday calendar (approval
    deadlines count business days; the holidays package imports its countries' modules on first use)."""
    schedule.is_business_day(date.today())


def main(argv=None):
    parser = argparse.ArgumentParser(description="RPA Dashboard RQ worker")
    parser.add_argument("--burst", action="store_true", help="sair quando a fila esvaziar")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    app = create_app()
    with app.app_context():
        configure_session()
        warm_up()
        queue = get_queue()
        release_dead_scheduler_locks(get_redis(), [queue.name])
        worker = AppWorker([queue], connection=get_redis(), name=args.name,
                           worker_ttl=WORKER_TTL, maintenance_interval=MAINTENANCE_SECONDS)
        worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")


if __name__ == "__main__":
    main()
