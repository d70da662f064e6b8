"""The one way a robot run ends, finished or failed, whoever ends it.

The follower, the start job, the reconciler's time limit and a robot's own report
(`atualizar-status`) all call `end_run`: it stores the end (conditionally: a run ends once),
publishes it after the last stored log line, releases the follower lease and frees the
operadora's slot at once, so the next waiting run starts without waiting for the reconciler.
A person stops a run with `cancelar`: the robots are asked to stop, then the run ends through
`end_run`; the robot's own FAILED status that follows finds it ended and changes nothing.
"""
import logging

from apps.artefatos import services as artefatos
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.queues import QueueUnavailable
from apps.core.types import db
from apps.notificacoes import events
from apps.processos import execucoes as lifecycle
from apps.processos.models import StatusExecucao
from apps.realtime.events import publish_status
from apps.robos.models import Robo
from apps.rpa import follow, throttle
from apps.rpa.client import RpaError, RpaRejected, RpaUnavailable
from apps.rpa.connect import client_for_execucao

log = logging.getLogger(__name__)
CANNOT_CANCEL = "O servidor RPA não permite cancelar; a execução continua."
CANCEL_RETRIES = 1  # a person waits for the answer: one retry, not the worker's four


class CancelamentoError(ServiceError):
    """A cancellation that did not happen; the run is unchanged."""

    status = 409


def end_run(execucao, *, error: str | None = None, store=None) -> bool:
    """End the run: `error` fails it; else `store()` records its result (True when it ended it)."""
    ended = lifecycle.falhar(execucao, error) if error is not None else store()
    if ended:
        artefatos.after_run(execucao, just_ended=True)  # its log (and SAT receipt) as files; never raises
        publish_status(execucao)
    follow.release(execucao.id)
    free_slot(execucao)
    if ended and error is not None:  # one Redis write: the job finds the admins and counts the item
        link, what = _where(execucao)
        events.notify_later(events.EXECUCAO_FALHOU, [execucao.criado_por_id], admins=True, link=link,
                            text=f"Execução de {what} falhou: {error[:300]}")
    return ended


def _where(execucao) -> tuple[str, str]:
    """(the page of the run, what it was for): its processo's, or a portal task's own page."""
    processo = execucao.processo
    if processo is not None:
        return f"/processos/{processo.id}", f"{processo.cliente_nome} ({processo.competencia})"
    nome = execucao.servico.nome if execucao.servico is not None else "serviço"
    return f"/portal/execucoes/{execucao.id}", nome


def free_slot(execucao) -> None:
    """A run ended: let the next waiting run start (a robot's place freed: any operadora's; else the operadora's)."""
    operadora_id = execucao.operadora_id or (execucao.processo.cliente.operadora_id if execucao.processo else None)
    try:
        if execucao.robo_id is not None:  # its operadora's slot and the robot's place: only who may take them
            throttle.dispatch_freed(operadora_id, db.session.get(Robo, execucao.robo_id))
        elif operadora_id is not None:  # a SERVICO run without an operadora held no slot
            throttle.dispatch(operadora_id)
    except QueueUnavailable:
        log.warning("queue unavailable; waiting runs will be admitted by the reconciler")


def cancelar(execucao, by) -> bool:
    """A person stops a run: asks the robots to stop its job (if it has one), then ends it FALHOU
    saying who cancelled it. Raises CancelamentoError, changing nothing, when the run already ended,
    the RPA server cannot cancel (404/405) or did not answer."""
    if not execucao.ativa:
        label = StatusExecucao.LABELS.get(execucao.status, execucao.status)
        raise CancelamentoError(f"A execução já terminou ({label}); não há o que cancelar.")
    if execucao.job_id:
        _stop_job(execucao)
    # else: PENDENTE, not started at the RPA API yet: nothing to stop there
    username = getattr(by, "username", None) or "Sistema"
    if not end_run(execucao, error=f"Execução cancelada por {username}."):
        db.session.refresh(execucao)
        label = StatusExecucao.LABELS.get(execucao.status, execucao.status)
        raise CancelamentoError(f"A execução terminou antes do cancelamento ({label}).")
    audit.record("execucao_cancelada", entity=execucao.processo or execucao, user=by,
                 detail=f"{execucao.tipo} execucao={execucao.id} job={execucao.job_id or '—'}")
    db.session.commit()
    return True


def _stop_job(execucao) -> None:
    """POST /jobs/{id}/cancel to the server that runs the job; CancelamentoError unless it accepted."""
    try:
        with client_for_execucao(execucao, max_retries=CANCEL_RETRIES) as client:
            job = client.cancel_job(execucao.job_id)
    except RpaRejected as exc:
        if exc.status in (404, 405):
            raise CancelamentoError(CANNOT_CANCEL, status=422) from None
        raise CancelamentoError(f"{exc.message} A execução continua.", status=502) from None
    except RpaUnavailable as exc:
        raise CancelamentoError(f"{exc.message} A execução continua.", status=503) from None
    except RpaError as exc:
        raise CancelamentoError(f"{exc.message} A execução continua.", status=502) from None
    if job["status"] == "COMPLETED":  # it finished first: its result is stored by the follower
        raise CancelamentoError("O robô já concluiu esta execução; o resultado será registrado em instantes.")
