"""A worker dies (SIGKILL) while following a robot run: a new worker and the reconciler finish it."""
from apps.core.types import db, parse_uuid, utcnow
from apps.processos import services
from apps.processos.models import Execucao, StatusExecucao, StatusProcesso
from apps.rpa import jobs
from tests.integration.conftest import wait_for
from tests.integration.helpers import SimHttp, finished, processo_of, stored_logs

ROBOT_SECONDS = 10


def test_worker_killed_while_following_a_run_is_replaced_and_the_run_completes(app, cycle, sim, processo):
    sim.set_config(job_duration=ROBOT_SECONDS, log_lines=12)
    [first] = cycle.start_workers(1, wait=False)
    execucao = services.executar(processo_of(processo.id))
    wait_for(lambda: _row(execucao.id).status == StatusExecucao.EXECUTANDO and len(stored_logs(execucao.id)) >= 2,
             15, message="execução seguida pelo worker")

    first.kill()  # SIGKILL to the worker and the scheduler it forked: nothing runs its cleanup
    first.proc.wait(5)
    cycle.start_workers(1, wait=False)  # boots while the lease runs out
    lease = f"rpa:follow:{execucao.id}"
    wait_for(lambda: not cycle.redis().exists(lease), app.config["FOLLOW_LEASE_SECONDS"] + 5,
             message="concessão do seguidor expirar")
    wait_for(lambda: utcnow() - _row(execucao.id).updated_at > jobs.RECENT, 5, message="execução parada")
    assert _row(execucao.id).status == StatusExecucao.EXECUTANDO, "nobody should follow it before reconcile"
    assert sim.stats()["active_jobs"] == 1, "the robot must still be working when the follower is replaced"

    assert _resumed_failed(jobs.reconcile()) == (1, 0)

    done = wait_for(lambda: finished(execucao.id), ROBOT_SECONDS + 8, message="execução terminar após reconcile")
    assert done.status == StatusExecucao.CONCLUIDO, done.mensagem
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_APROVACAO
    assert stored_logs(execucao.id) == SimHttp(sim).logs(done.job_id)
    assert sim.stats()["jobs_created"] == {"download": 1, "sat": 0}


def _resumed_failed(result) -> tuple:
    return result["retomadas"], result["falhas"]


def _row(execucao_id) -> Execucao:
    return db.session.get(Execucao, parse_uuid(execucao_id), populate_existing=True)


def test_a_poll_the_lease_does_not_name_stops_without_touching_the_run(app, cycle, processo):
    execucao = services.executar(processo_of(processo.id))  # no worker: the start job waits in the queue
    db.session.execute(db.update(Execucao).where(Execucao.id == execucao.id)
                       .values(status=StatusExecucao.EXECUTANDO, job_id="robo-1"))
    db.session.commit()
    cycle.redis().set(f"rpa:follow:{execucao.id}", "outro-seguidor", ex=30)

    assert jobs.poll_execucao(str(execucao.id), "seguidor-antigo") == "outro seguidor ativo"
    assert jobs.poll_execucao(str(execucao.id)) == "outro seguidor ativo"  # a job queued without a token
    assert cycle.sim.stats()["requests"] == {}, "a refused follower must not call the RPA API"
    assert cycle.redis().get(f"rpa:follow:{execucao.id}") == b"outro-seguidor"


def test_reconcile_leaves_a_start_job_that_is_still_queued_alone(app, cycle, processo):
    execucao = services.executar(processo_of(processo.id))  # no worker: the start job waits in the queue
    redis = cycle.redis()
    redis.delete(f"rpa:follow:{execucao.id}")  # its lease ran out while the queue was long
    _age(execucao.id)
    queue_length = redis.llen(f"rq:queue:{app.config['RQ_QUEUE']}")

    assert _resumed_failed(jobs.reconcile()) == (0, 0)
    assert redis.llen(f"rq:queue:{app.config['RQ_QUEUE']}") == queue_length == 1

    lost = _row(execucao.id).rq_job_id
    redis.delete(f"rq:queue:{app.config['RQ_QUEUE']}", f"rq:job:{lost}")  # now it is lost
    assert _resumed_failed(jobs.reconcile()) == (1, 0)
    assert _row(execucao.id).rq_job_id != lost
    assert redis.lrange(f"rq:queue:{app.config['RQ_QUEUE']}", 0, -1) == [_row(execucao.id).rq_job_id.encode()]


def test_a_scheduler_lock_nobody_refreshes_is_released_and_a_live_one_is_kept(cycle):
    from apps.worker import release_dead_scheduler_locks

    redis = cycle.redis()
    redis.set("rq:scheduler-lock:viva", "vivo", ex=61)
    redis.set("rq:scheduler-lock:morta", "morto", ex=45)

    assert release_dead_scheduler_locks(redis, ["viva", "morta", "vazia"]) == ["morta"]
    assert redis.get("rq:scheduler-lock:viva") == b"vivo" and not redis.exists("rq:scheduler-lock:morta")


def _age(execucao_id, seconds=60):
    """Pretend the row was last touched `seconds` ago."""
    from datetime import timedelta

    db.session.execute(db.update(Execucao).where(Execucao.id == execucao_id)
                       .values(updated_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()
