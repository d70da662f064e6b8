"""The one way a robot run ends, finished or failed, whoever ends it.

The follower, the start job, the reconciler's time limit and a robot's own report
(`atualizar-status`) all call `end_run`: it stores the end (conditionally: a run ends once),
publishes it after the last stored log line, releases the follower lease and frees the
operadora's slot at once, so the next waiting run starts without waiting for the reconciler.
"""
import logging

from apps.core.queues import QueueUnavailable
from apps.processos import execucoes as lifecycle
from apps.realtime.events import publish_status
from apps.rpa import follow, throttle

log = logging.getLogger(__name__)


def end_run(execucao, *, error: str | None = None, store=None) -> bool:
    """End the run: `error` fails it; else `store()` records its result (True when it ended it)."""
    ended = lifecycle.falhar(execucao, error) if error is not None else store()
    if ended:
        publish_status(execucao)
    follow.release(execucao.id)
    free_slot(execucao)
    return ended


def free_slot(execucao) -> None:
    """A run ended: let the operadora's next waiting run start."""
    try:
        throttle.dispatch(execucao.processo.cliente.operadora_id)
    except QueueUnavailable:
        log.warning("queue unavailable; waiting runs will be admitted by the reconciler")
