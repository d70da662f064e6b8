"""The one place that picks a robot for a run (apps.rpa.throttle admits runs through `admit`).

A run goes to the eligible robot with the lowest load (runs it holds ÷ its capacity), ties to the most recent
contact: eligible is active, connected (DISPONIVEL), not draining, serving the run's tag (the operadora's code,
SAT for an upload, or `*`) and, when a version is pinned for that tag, on that version. The throttle keeps the
operadora's own limit; here a robot is never given more runs than its capacity, even with two workers admitting
at once: the robot's row is locked (PostgreSQL; SQLite serialises writers by itself) and the run is admitted by
one UPDATE that counts the robot's runs in its WHERE.

No robot registered at all: nothing changes (`admit` answers None and the run goes to API_EXTERNA_URL); an
outsourced operadora keeps its own endpoint the same way.
"""
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from apps.core.types import db, utcnow
from apps.processos.models import Execucao, StatusExecucao, TipoExecucao
from apps.robos.models import SAT_TAG, Robo, StatusRobo, VersaoAtiva

WAITING_MESSAGE = "Aguardando robô disponível."
TAREFAS_TAG = "tarefas"  # a portal task that names no operadora goes to a robot serving this tag (or `*`)


def holding(model=Execucao):
    """Runs that hold a place: running, or admitted and about to start (apps.rpa.throttle's admitted runs)."""
    return or_(model.status == StatusExecucao.EXECUTANDO,
               and_(model.status == StatusExecucao.PENDENTE, model.data_inicio.is_not(None)))


def any_robot_registered():
    """The SQL condition behind registry_in_use, for a statement that decides in the database (the throttle's)."""
    return exists().where(Robo.id.is_not(None))


def registry_in_use() -> bool:
    """True once any robot is registered: from then on runs of our own robots wait for one of them."""
    return bool(db.session.scalar(select(any_robot_registered())))


def tag_of(execucao, codigo: str | None = None) -> str:
    """What a run needs a robot to serve: SAT for an upload, else its operadora's code (`codigo` when known)."""
    if execucao.tipo == TipoExecucao.ENVIO_SAT:
        return SAT_TAG
    return (codigo or execucao.processo.cliente.operadora.codigo).upper()


def uses_robots(operadora) -> bool:
    """Whether this operadora's runs go to registered robots: some robot is registered and it is not outsourced."""
    return not operadora.rpa_terceirizado and registry_in_use()


def loads(robo_ids=None) -> dict:
    """{robo_id: runs it holds now}."""
    query = select(Execucao.robo_id, func.count()).where(Execucao.robo_id.is_not(None), holding())
    if robo_ids is not None:
        query = query.where(Execucao.robo_id.in_(list(robo_ids)))
    return dict(db.session.execute(query.group_by(Execucao.robo_id)).all())


def pinned_versions() -> dict:
    return dict(db.session.execute(select(VersaoAtiva.tag, VersaoAtiva.versao)).all())


def eligible(tag: str, robots=None, pinned=None) -> list[Robo]:
    """The robots that may take a new run of `tag`, whatever their load."""
    if robots is None:
        robots = db.session.scalars(select(Robo).where(Robo.ativo.is_(True), Robo.drenando.is_(False),
                                                       Robo.status == StatusRobo.DISPONIVEL)).all()
    pinned = pinned_versions() if pinned is None else pinned
    version = pinned.get(tag)
    return [r for r in robots if r.ativo and not r.drenando and r.status == StatusRobo.DISPONIVEL
            and r.serves(tag) and (version is None or r.versao == version)]


def ranked(robots, held: dict) -> list[Robo]:
    """Robots with room, least loaded first; ties to the most recent contact, then by name."""
    with_room = [r for r in robots if held.get(r.id, 0) < max(0, r.capacidade or 0)]

    def key(robo):
        contact = robo.ultimo_contato.timestamp() if robo.ultimo_contato else float("-inf")
        return (held.get(robo.id, 0) / robo.capacidade, -contact, robo.nome)

    return sorted(with_room, key=key)


def admit(execucao, operadora=None) -> bool | None:
    """Admit a waiting run on the least-loaded eligible robot: True (admitted, `robo_id` set), False (no robot
    has room: it keeps waiting, saying so), None (no robot registry for it: the caller admits it as before)."""
    operadora = operadora or execucao.processo.cliente.operadora
    if not uses_robots(operadora):
        return None
    return admit_on_robot(execucao, tag_of(execucao, operadora.codigo))


def admit_on_robot(execucao, tag: str) -> bool:
    """admit() once the caller knows the run goes to a robot of `tag` (apps.rpa.throttle, once per pass)."""
    robots = eligible(tag)
    for robo in ranked(robots, loads(r.id for r in robots)):
        if _claim(execucao, robo):
            return True
        if execucao.status != StatusExecucao.PENDENTE or execucao.data_inicio is not None:
            return False  # another dispatcher admitted (or someone ended) it meanwhile
    _say_waiting(execucao)
    return False


def _claim(execucao, robo) -> bool:
    """Admit `execucao` on `robo` unless the robot is full by now (conditional, under the robot's row lock)."""
    if db.engine.dialect.name == "postgresql":  # SQLite runs one writer at a time: the UPDATE below is enough
        db.session.execute(select(Robo.id).where(Robo.id == robo.id).with_for_update())
    held = aliased(Execucao)
    count = select(func.count()).select_from(held).where(held.robo_id == robo.id, holding(held)).scalar_subquery()
    now = utcnow()
    message = {"mensagem": None} if execucao.mensagem == WAITING_MESSAGE else {}
    result = db.session.execute(
        update(Execucao).where(Execucao.id == execucao.id, Execucao.status == StatusExecucao.PENDENTE,
                               Execucao.data_inicio.is_(None), count < robo.capacidade)
        .values(data_inicio=now, robo_id=robo.id, updated_at=now, **message)
        .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(execucao)
    return result.rowcount == 1


def say_waiting(execucao) -> None:
    """The run stays PENDENTE saying it waits for a robot (written once, not at every pass)."""
    _say_waiting(execucao)


def _say_waiting(execucao) -> None:
    if execucao.mensagem != WAITING_MESSAGE:
        execucao.mensagem = WAITING_MESSAGE
        db.session.commit()
