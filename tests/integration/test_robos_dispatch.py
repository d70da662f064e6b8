"""Robots with real parts: several simulators on their own ports, real RQ workers, the heartbeat called with the
clock moved instead of waiting. Dispatch spreads runs by load and never past a robot's capacity; a killed robot
goes SEM_RESPOSTA, then DESCONECTADO (its run fails naming it, the rerun goes elsewhere) and comes back by
itself; a pinned version routes runs; a run waits for a robot and the heartbeat admits it; one probe a period."""
import time
from contextlib import ExitStack
from datetime import timedelta

import pytest
from sqlalchemy import select

from apps.core.audit import AuditLog
from apps.core.types import db, utcnow
from apps.notificacoes import events
from apps.processos import services as processos
from apps.processos.models import Execucao, StatusExecucao
from apps.robos import dispatch, heartbeat, services
from apps.robos.models import Robo, RoboVersao, StatusRobo
from tests.factories import OperadoraFactory
from tests.integration.conftest import make_processo, wait_for
from tests.integration.helpers import finished
from tests.support.sim import start_simulator

KNOBS = {"job_duration": 1.0, "queue_wait": 0, "log_lines": 3, "seed": 7}


@pytest.fixture
def robots(cycle):
    """robots(name=knobs, ...): a simulator per robot, on its own port, registered (not yet probed)."""
    stack = ExitStack()
    token = cycle.app.config["API_EXTERNA_TOKEN"]

    def make(capacidade=1, tags="*", **knobs):
        server = stack.enter_context(start_simulator(**{**KNOBS, "static_token": token, **knobs}))
        robo = services.create_robo({"nome": f"robo-{server.port}", "url": server.url, "tags": tags,
                                     "capacidade": capacidade}, by=None)
        db.session.commit()
        return robo, server

    yield make
    stack.close()


def _processos(n, codigo="VIVO"):
    OperadoraFactory(codigo=codigo, limite_concorrencia=50)
    return [make_processo(codigo=codigo, nome=f"Cliente {i:02d}", n=100 + i) for i in range(n)]


def _statuses(robo_id):
    """The robot's status moves, as audited."""
    rows = db.session.scalars(select(AuditLog.detail).where(AuditLog.action == "robo_status_alterado",
                                                            AuditLog.entity_id == str(robo_id))
                              .order_by(AuditLog.created_at)).all()
    return [detail.split(":")[0] for detail in rows]


def test_dispatch_spreads_by_load_and_never_past_a_robot_capacity(cycle, robots):
    # Registered with capacity 1; each simulator's /health reports its own, which the heartbeat adopts.
    fleet = [robots(capacity=c) for c in (1, 2, 3)]
    heartbeat.run()
    db.session.expire_all()
    assert [r.capacidade for r, _ in fleet] == [1, 2, 3] and all(r.status == StatusRobo.DISPONIVEL for r, _ in fleet)
    cycle.start_workers(2)
    runs = [processos.executar(p).id for p in _processos(12)]
    highest = {r.id: 0 for r, _ in fleet}
    robot_side = {r.id: 0 for r, _ in fleet}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.rollback()
        for robo_id, held in dispatch.loads(highest).items():
            highest[robo_id] = max(highest[robo_id], held)
        for robo, server in fleet:
            robot_side[robo.id] = max(robot_side[robo.id], server.stats()["active_jobs"])
        if all(finished(run_id) for run_id in runs):
            break
        time.sleep(0.05)
    done = db.session.scalars(select(Execucao).where(Execucao.id.in_(runs))).all()
    assert {e.status for e in done} == {StatusExecucao.CONCLUIDO}, [e.mensagem for e in done]
    per_robot = {r.id: sum(1 for e in done if e.robo_id == r.id) for r, _ in fleet}
    caps = {r.id: r.capacidade for r, _ in fleet}
    assert all(highest[i] <= caps[i] and robot_side[i] <= caps[i] for i in caps), (highest, robot_side)
    assert highest[fleet[2][0].id] == 3  # the biggest was filled, never overfilled
    small, _, big = (per_robot[r.id] for r, _ in fleet)
    assert small >= 1 and big > small and sum(per_robot.values()) == 12, per_robot
    # Every later call of a run went to its own robot: each simulator knows exactly the jobs of its runs.
    for robo, server in fleet:
        assert set(server.state.jobs) == {e.job_id for e in done if e.robo_id == robo.id}


def test_a_killed_robot_is_disconnected_its_run_fails_naming_it_and_it_comes_back(cycle, robots, users, monkeypatch):
    told = []
    monkeypatch.setattr(events, "notify", lambda event, users, **kw: told.append((event, [u.username for u in users],
                                                                                   kw["text"])))
    slow, slow_sim = robots(capacidade=2, job_duration=60)
    t0 = utcnow()
    heartbeat.run(now=t0)
    cycle.start_workers(1)
    (first,) = _processos(1)
    run = processos.executar(first)
    wait_for(lambda: db.session.get(Execucao, run.id, populate_existing=True).status == StatusExecucao.EXECUTANDO,
             15, message="execução começar no robô lento")
    fast, _ = robots(capacidade=2)
    port = slow_sim.port
    slow_sim.shutdown()  # the robot machine dies

    heartbeat.run(now=t0 + timedelta(seconds=61))
    db.session.expire_all()
    assert (slow.status, fast.status) == (StatusRobo.SEM_RESPOSTA, StatusRobo.DISPONIVEL)
    assert db.session.get(Execucao, run.id).status == StatusExecucao.EXECUTANDO  # not yet: it may come back
    heartbeat.run(now=t0 + timedelta(seconds=121))
    db.session.expire_all()
    assert slow.status == StatusRobo.DESCONECTADO
    failed = wait_for(lambda: finished(run.id), 5, message="execução falhar")
    assert failed.status == StatusExecucao.FALHOU and slow.nome in failed.mensagem
    assert [event for event, _, _ in told] == [events.ROBO_DESCONECTADO] and slow.nome in told[0][2]
    assert "admin" in told[0][1]

    rerun = processos.executar(first)  # "Executar novamente": a connected robot takes it
    assert rerun.robo_id == fast.id
    assert wait_for(lambda: finished(rerun.id), 20, message="reexecução").status == StatusExecucao.CONCLUIDO

    with start_simulator(port=port, **KNOBS, static_token=cycle.app.config["API_EXTERNA_TOKEN"]):
        heartbeat.run(now=t0 + timedelta(seconds=140))
        db.session.expire_all()
        assert slow.status == StatusRobo.DISPONIVEL  # reconnected by itself
    assert _statuses(slow.id) == ["SEM_RESPOSTA → DISPONIVEL", "DISPONIVEL → SEM_RESPOSTA",
                                  "SEM_RESPOSTA → DESCONECTADO", "DESCONECTADO → DISPONIVEL"]


def test_a_pinned_version_routes_runs_and_versions_are_kept_with_first_and_last_seen(cycle, robots, client, admin):
    old, _ = robots(capacidade=3, version="1.0")
    new, _ = robots(capacidade=3, version="2.0")
    t0 = utcnow()
    heartbeat.run(now=t0)
    heartbeat.run(now=t0 + timedelta(seconds=30))
    seen = {v.versao: v for v in db.session.scalars(select(RoboVersao))}
    assert set(seen) == {"1.0", "2.0"} and seen["2.0"].ultimo_visto - seen["2.0"].primeiro_visto == timedelta(seconds=30)
    response = client.put("/api/v1/robos/versao-ativa", headers=admin, json={"tag": "VIVO", "versao": "2.0"})
    assert response.status_code == 200, response.get_json()
    cycle.start_workers(1)
    runs = [processos.executar(p) for p in _processos(4)]
    assert all(wait_for(lambda r=r: finished(r.id), 30).status == StatusExecucao.CONCLUIDO for r in runs)
    db.session.expire_all()
    assert {r.robo_id for r in runs} == {new.id}  # the old version got none, though it had room


def test_a_run_waits_for_a_robot_and_the_heartbeat_admits_it_and_one_probe_a_period(cycle, robots):
    robo, server = robots(capacidade=1)  # registered, not probed yet: no runs for it
    cycle.start_workers(1)
    (processo,) = _processos(1)
    run = processos.executar(processo)
    db.session.refresh(run)
    assert run.data_inicio is None and run.mensagem == dispatch.WAITING_MESSAGE
    now = utcnow()
    assert heartbeat.run(now=now)["admitidas"] == 1
    assert heartbeat.run(now=now)["sondados"] == 0  # a second scheduler in the same period probes nothing
    assert server.stats()["requests"]["GET /health"] == 1
    done = wait_for(lambda: finished(run.id), 20, message="execução admitida pelo heartbeat")
    assert done.status == StatusExecucao.CONCLUIDO and done.robo_id == robo.id and done.mensagem != dispatch.WAITING_MESSAGE
    period = cycle.app.config["ROBO_HEARTBEAT_SECONDS"]
    heartbeat.run(now=now + timedelta(seconds=period))
    assert server.stats()["requests"]["GET /health"] == 2
    assert db.session.scalar(select(Robo.status)) == StatusRobo.DISPONIVEL
