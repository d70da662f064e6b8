"""A worker dies (SIGKILL) while following a robot run: a new worker and the reconciler finish it."""
from apps.core.types import db, parse_uuid
from apps.processos import services
from apps.processos.models import Execucao, StatusExecucao, StatusProcesso
from apps.rpa import jobs
from tests.integration.conftest import wait_for
from tests.integration.helpers import SimHttp, finished, processo_of, stored_logs

ROBOT_SECONDS = 9


def test_worker_killed_while_following_a_run_is_replaced_and_the_run_completes(app, cycle, sim, processo):
    sim.set_config(job_duration=ROBOT_SECONDS, log_lines=12)
    [first] = cycle.start_workers(1, wait=False)
    execucao = services.executar(processo_of(processo.id))
    wait_for(lambda: _status(execucao.id) == StatusExecucao.EXECUTANDO and len(stored_logs(execucao.id)) >= 2,
             15, message="execução seguida pelo worker")

    first.kill()  # SIGKILL to the worker and the scheduler it forked: nothing runs its cleanup
    first.proc.wait(5)
    cycle.start_workers(1, wait=False)  # boots while the lease runs out
    lease = f"rpa:follow:{execucao.id}"
    wait_for(lambda: not cycle.redis().exists(lease), app.config["FOLLOW_LEASE_SECONDS"] + 5,
             message="concessão do seguidor expirar")
    assert _status(execucao.id) == StatusExecucao.EXECUTANDO, "nobody should follow it before reconcile"
    assert sim.stats()["active_jobs"] == 1, "the robot must still be working when the follower is replaced"

    assert jobs.reconcile() == {"retomadas": 1, "falhas": 0}

    done = wait_for(lambda: finished(execucao.id), ROBOT_SECONDS + 8, message="execução terminar após reconcile")
    assert done.status == StatusExecucao.CONCLUIDO, done.mensagem
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_APROVACAO
    assert stored_logs(execucao.id) == SimHttp(sim).logs(done.job_id)
    assert sim.stats()["jobs_created"] == {"download": 1, "sat": 0}


def _status(execucao_id):
    return db.session.get(Execucao, parse_uuid(execucao_id), populate_existing=True).status
