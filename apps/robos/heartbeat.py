"""The robots' heartbeat (a scheduled job, apps/cron.py): ask every active robot's GET /health.

A robot that answers is DISPONIVEL (its version, capacity and latency stored). One that has not answered for
ROBO_SEM_RESPOSTA_SECONDS is SEM_RESPOSTA, for ROBO_DESCONECTAR_SECONDS DESCONECTADO: it gets no new runs and
its runs fail, naming it, so "Executar novamente" sends them elsewhere. It reconnects by itself when it answers
again. Every move is audited; a disconnection tells the admins (notificacoes). One probe per robot per period,
however many schedulers or web processes run the job: a Redis key per period (SET NX EX) names the one that probes.
Waiting runs are admitted at the end, so a robot that came back (or freed a place) gets work at once.
"""
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from flask import current_app
from redis import RedisError
from sqlalchemy import select

from apps.auth.models import Role, User
from apps.core import audit
from apps.core.queues import QueueUnavailable, get_redis
from apps.core.types import db, utcnow
from apps.notificacoes import events
from apps.processos.models import Execucao
from apps.robos.dispatch import holding
from apps.robos.models import Robo, RoboVersao, StatusRobo
from apps.rpa import connect, throttle
from apps.rpa.client import RpaError
from apps.rpa.runs import end_run

log = logging.getLogger(__name__)
MAX_PARALLEL = 8


def _seconds(name, default) -> float:
    return float(current_app.config.get(name) or default)


def claim_period(now) -> bool:
    """True for the first caller of this heartbeat period (the one that probes)."""
    period = max(1, int(_seconds("ROBO_HEARTBEAT_SECONDS", 15)))
    slot = int(now.timestamp() // period)
    try:
        return bool(get_redis().set(f"robos:heartbeat:{slot}", "1", nx=True, ex=period * 2))
    except RedisError as exc:
        raise QueueUnavailable() from exc


def run(now=None) -> dict:
    """The scheduled job: probe, move statuses, fail runs of disconnected robots, admit waiting runs."""
    now = now or utcnow()
    robots = db.session.scalars(select(Robo).where(Robo.ativo.is_(True)).order_by(Robo.nome)).all()
    if not robots:
        return {"sondados": 0}
    if not claim_period(now):
        return {"sondados": 0, "motivo": "outro processo já sondou os robôs neste período"}
    answers = probe(robots)
    moved = [robo for robo in robots if apply(robo, answers[robo.id], now)]
    db.session.commit()
    failed = fail_orphaned_runs()
    admitted = throttle.dispatch_all()
    return {"sondados": len(robots), "mudaram": [r.nome for r in moved], "falhas": failed, "admitidas": admitted}


def probe(robots) -> dict:
    """{robo_id: (answer or None, latency ms, error text)} asking every robot at once (threads: HTTP only)."""
    deadline = _seconds("ROBO_HEALTH_TIMEOUT", 5)
    clients = {robo.id: connect.client_for_robo(robo, token_provider=None, max_retries=0, deadline=deadline,
                                                read_timeout=deadline, connect_timeout=min(deadline, 3))
               for robo in robots}

    def ask(robo_id):
        started = time.monotonic()
        try:
            with clients[robo_id] as client:
                answer = client.health_checked()
            return robo_id, (answer, round((time.monotonic() - started) * 1000), None)
        except RpaError as exc:
            return robo_id, (None, None, exc.message)

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(robots))) as pool:
        return dict(pool.map(ask, list(clients)))


def apply(robo, result, now) -> bool:
    """Store what one probe saw; True when the robot's status moved (audited, admins told of a disconnection)."""
    answer, latency, error = result
    before = robo.status
    if answer is not None:
        robo.status, robo.ultimo_contato, robo.latencia_ms = StatusRobo.DISPONIVEL, now, latency
        if answer["capacity"]:
            robo.capacidade = answer["capacity"]
        robo.versao = answer["version"]
        if answer["version"]:
            _saw_version(robo, answer["version"], now)
    else:
        silent = (now - (robo.ultimo_contato or robo.created_at)).total_seconds()
        if silent >= _seconds("ROBO_DESCONECTAR_SECONDS", 120):
            robo.status = StatusRobo.DESCONECTADO
        elif silent >= _seconds("ROBO_SEM_RESPOSTA_SECONDS", 60):
            robo.status = StatusRobo.SEM_RESPOSTA
        log.warning("robot %s did not answer /health: %s", robo.nome, error)
    if robo.status == before:
        return False
    detail = f"{before} → {robo.status}" + (f": {error}" if error else "")
    audit.record("robo_status_alterado", entity=robo, detail=detail[:500])
    if robo.status == StatusRobo.DESCONECTADO:
        admins = db.session.scalars(select(User).where(User.role == Role.ADMIN, User.ativo.is_(True))).all()
        events.notify(events.ROBO_DESCONECTADO, admins, link="/robos",
                      text=f"O robô {robo.nome} está desconectado (sem resposta desde "
                           f"{_when(robo.ultimo_contato)}); ele não recebe novas execuções.")
    return True


def _when(moment) -> str:
    return moment.strftime("%d/%m/%Y %H:%M UTC") if moment else "o cadastro"


def _saw_version(robo, versao, now) -> None:
    seen = db.session.scalar(select(RoboVersao).where(RoboVersao.robo_id == robo.id, RoboVersao.versao == versao))
    if seen is None:
        db.session.add(RoboVersao(robo_id=robo.id, versao=versao, primeiro_visto=now, ultimo_visto=now))
    else:
        seen.ultimo_visto = now


def fail_orphaned_runs() -> int:
    """End the runs of robots disconnected past ROBO_DESCONECTAR_SECONDS, naming the robot."""
    limit = _seconds("ROBO_DESCONECTAR_SECONDS", 120)
    rows = db.session.execute(select(Execucao, Robo.nome).join(Robo, Robo.id == Execucao.robo_id)
                              .where(Robo.status == StatusRobo.DESCONECTADO, holding())).all()
    for execucao, nome in rows:
        end_run(execucao, error=f"O robô {nome} ficou sem responder por mais de {limit:g} s; a execução foi "
                                "encerrada. Use Executar novamente para enviá-la a outro robô.")
    return len(rows)
