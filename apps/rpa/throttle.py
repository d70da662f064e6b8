"""Per-operadora limit of concurrent robot runs (Operadora.limite_concorrencia).

A run holds a slot from the moment it is admitted (PENDENTE with data_inicio set) until it ends.
Runs waiting for a slot stay PENDENTE in the database with no job in Redis, so a month of
100,000 downloads costs nothing in the queue; `dispatch()` admits the oldest waiting runs of an
operadora, up to its free slots, under a short Redis lock per operadora (two workers cannot take
the same last slot). It runs when a run is requested, when a run ends, and on every reconcile.
"""
import functools
import logging
import uuid

from sqlalchemy import Integer, String, Uuid, and_, bindparam, case, cast, func, literal, or_, select, union_all, update

from apps.clientes.models import Cliente
from apps.core.queues import QueueUnavailable, get_redis
from apps.core.types import db, utcnow
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao
from apps.robos import dispatch as robos
from apps.robos.models import ALL_TAGS, SAT_TAG
from apps.rpa import follow

log = logging.getLogger(__name__)
LOCK_SECONDS = 30


def _of_operadora(operadora_id):
    return (select(Execucao).join(Processo, Processo.id == Execucao.processo_id)
            .join(Cliente, Cliente.id == Processo.cliente_id).where(Cliente.operadora_id == operadora_id))


def _servicos_of(operadora_id):
    """SERVICO runs without a processo that take this operadora's slots (Execucao.operadora_id)."""
    return select(Execucao).where(Execucao.processo_id.is_(None), Execucao.operadora_id == operadora_id)


def admitted_filter():
    """Runs that hold a slot: running, or admitted and about to start."""
    return or_(Execucao.status == StatusExecucao.EXECUTANDO,
               and_(Execucao.status == StatusExecucao.PENDENTE, Execucao.data_inicio.is_not(None)))


def waiting_filter():
    return and_(Execucao.status == StatusExecucao.PENDENTE, Execucao.data_inicio.is_(None))


def _occupied_expression(operadora_id):
    """The operadora's slots taken now (its processos' runs and its SERVICO runs), as one SQL expression."""
    counts = [select(func.count()).select_from(query.where(admitted_filter()).subquery()).scalar_subquery()
              for query in (_of_operadora(operadora_id), _servicos_of(operadora_id))]
    return counts[0] + counts[1]


def occupied(operadora_id) -> int:
    """The operadora's slots taken now, in one statement."""
    return int(db.session.scalar(select(_occupied_expression(operadora_id))) or 0)


def _oldest_waiting(operadora_id, limit):
    """The ids of the operadora's `limit` oldest waiting runs (its processos' and its SERVICO runs)."""
    ordered = union_all(*(query.where(waiting_filter()).with_only_columns(Execucao.id, Execucao.created_at)
                          for query in (_of_operadora(operadora_id), _servicos_of(operadora_id)))).subquery()
    return select(ordered.c.id).order_by(ordered.c.created_at, ordered.c.id).limit(limit)


def dispatch(operadora_id) -> list:
    """Admit and queue the oldest waiting runs of the operadora, up to its free slots."""
    operadora = db.session.get(Operadora, operadora_id)
    if operadora is None:
        return []
    try:
        lock = get_redis().lock(f"rpa:throttle:{operadora_id}", timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS)
        if not lock.acquire():
            return []  # another dispatcher holds it and will admit what fits
    except Exception as exc:  # redis errors: nothing was admitted, nothing changed
        raise QueueUnavailable() from exc
    try:
        # Without registered robots (the usual case) the whole admission is one UPDATE; it admits nothing when
        # robots exist for this operadora, and only then are its slots counted and robots picked.
        admitted = _admit_oldest(operadora, without_robots=not operadora.rpa_terceirizado)
        for execucao in admitted:  # each row already names its start job (the admission wrote it)
            follow.enqueue_start(execucao, job_id=execucao.rq_job_id)
        if not admitted and robos.uses_robots(operadora):
            free = max(0, (operadora.limite_concorrencia or 1) - occupied(operadora_id))
            candidates = db.session.scalars(select(Execucao).where(Execucao.id.in_(_oldest_waiting(operadora_id, free)))
                                            .order_by(Execucao.created_at, Execucao.id)).all() if free else []
            admitted = _admit_on_robots(operadora, candidates)
            for execucao in admitted:
                follow.enqueue_start(execucao, job_id=f"rpa-start-{execucao.id}-{uuid.uuid4().hex[:8]}")
    finally:
        try:
            lock.release()
        except Exception:  # noqa: S110 - an expired lock is released already
            pass
    return admitted


def _admit_on_robots(operadora, candidates) -> list:
    """Admit the candidates, each on a robot picked by apps.robos.dispatch (the operadora uses registered robots).
    A tag no robot had room for is not asked again in this pass."""
    codigo, admitted, no_robot = operadora.codigo, [], set()
    for execucao in candidates:
        tag = robos.tag_of(execucao, codigo)
        if tag in no_robot:
            robos.say_waiting(execucao)
        elif robos.admit_on_robot(execucao, tag):
            admitted.append(execucao)
        elif execucao.mensagem == robos.WAITING_MESSAGE and execucao.data_inicio is None:
            no_robot.add(tag)
    return admitted


def _admit_oldest(operadora, without_robots=False) -> list:
    """Admit the operadora's oldest waiting runs, as many as its free slots, in one UPDATE … RETURNING (the
    slots are counted in it), each naming the start job that is queued for it once this commits; a run
    admitted meanwhile by someone else is not taken twice. `without_robots`: only while no robot is
    registered (else apps.robos.dispatch picks a robot for each)."""
    now = utcnow()
    admitted = db.session.scalars(_admission(without_robots), {
        "b_operadora": operadora.id, "limite": operadora.limite_concorrencia or 1, "b_now": now,
        "start_job_suffix": f"-{uuid.uuid4().hex[:8]}"}).all()
    db.session.commit()
    return sorted(admitted, key=lambda e: (e.created_at, str(e.id)))


@functools.cache
def _admission(without_robots: bool):
    """The admission's UPDATE, built once per process (it runs at every end of a run): what changes from one
    admission to the next is a bound parameter, so no run builds the statement again."""
    operadora_id = bindparam("b_operadora", type_=Uuid)
    free = bindparam("limite", type_=Integer) - _occupied_expression(operadora_id)
    start_job = (literal("rpa-start-") + func.replace(cast(Execucao.id, String), "-", "")
                 + bindparam("start_job_suffix", type_=String))
    now = bindparam("b_now", type_=Execucao.__table__.c.data_inicio.type)
    conditions = [Execucao.id.in_(_oldest_waiting(operadora_id, case((free > 0, free), else_=0))), waiting_filter()]
    if without_robots:
        conditions.append(~robos.any_robot_registered())
    return (update(Execucao).where(*conditions).values(data_inicio=now, updated_at=now, rq_job_id=start_job)
            .returning(Execucao).execution_options(synchronize_session=False, populate_existing=True))


def _admit(execucao) -> bool:
    result = db.session.execute(
        update(Execucao).where(Execucao.id == execucao.id, waiting_filter())
        .values(data_inicio=utcnow(), updated_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(execucao)
    return result.rowcount == 1


def operadoras_with_waiting(tags=None) -> list:
    """The operadoras with waiting runs; with `tags` (what a robot serves, upper case, no `*`), only those whose
    waiting runs need one of these tags: an upload needs SAT, any other run its operadora's code."""
    query = (select(Cliente.operadora_id).select_from(Execucao)
             .join(Processo, Processo.id == Execucao.processo_id).join(Cliente, Cliente.id == Processo.cliente_id)
             .where(waiting_filter()).group_by(Cliente.operadora_id))
    servicos = (select(Execucao.operadora_id).where(Execucao.processo_id.is_(None), Execucao.operadora_id.is_not(None),
                                                    waiting_filter()).group_by(Execucao.operadora_id))
    if tags is not None:
        tags = sorted({t.upper() for t in tags})
        codigo = select(Operadora.codigo).where(Operadora.id == Cliente.operadora_id).scalar_subquery()
        needs = [and_(Execucao.tipo != TipoExecucao.ENVIO_SAT, codigo.in_(tags))]
        if SAT_TAG.upper() in tags:
            needs.append(Execucao.tipo == TipoExecucao.ENVIO_SAT)
        query = query.where(or_(*needs))
        servicos = servicos.where(select(Operadora.codigo).where(Operadora.id == Execucao.operadora_id)
                                  .scalar_subquery().in_(tags))
    return list(dict.fromkeys([*db.session.scalars(query), *db.session.scalars(servicos)]))


def dispatch_run(execucao) -> list:
    """Admit a run just requested: within its operadora's limit, or at once when it names no operadora
    (a SERVICO run whose form has no cliente or operadora)."""
    operadora_id = execucao.operadora_id or (execucao.processo.cliente.operadora_id if execucao.processo else None)
    if operadora_id is not None:
        return dispatch(operadora_id)
    admitted = robos.admit_on_robot(execucao, robos.TAREFAS_TAG) if robos.registry_in_use() else _admit(execucao)
    if not admitted:
        return []
    follow.enqueue_start(execucao, job_id=f"rpa-start-{execucao.id}-{uuid.uuid4().hex[:8]}")
    return [execucao]


def _unlimited_waiting() -> list:
    return list(db.session.scalars(select(Execucao).where(Execucao.processo_id.is_(None),
                                                          Execucao.operadora_id.is_(None), waiting_filter())))


def dispatch_all(tags=None, skip=None) -> int:
    """Admit what fits for every operadora that has waiting runs (the reconciler calls it), but `skip`. With
    `tags` (what a robot serves, upper case, no `*`) only the operadoras whose waiting runs it can serve, and
    the portal tasks without an operadora only when it serves those."""
    admitted = sum(len(dispatch(operadora_id)) for operadora_id in operadoras_with_waiting(tags)
                   if operadora_id != skip)
    if tags is None or robos.TAREFAS_TAG.upper() in tags:
        admitted += sum(len(dispatch_run(execucao)) for execucao in _unlimited_waiting())
    return admitted


def dispatch_freed(operadora_id, robo) -> int:
    """A run of `operadora_id` that held a place on `robo` ended: admit what may take either place. Its
    operadora first (its slot is free), then only what this robot can serve (a robot serving `*`, or one
    deleted meanwhile: everything). Not every operadora at each end of a run."""
    admitted = len(dispatch(operadora_id)) if operadora_id is not None else 0
    tags = robo.tag_list if robo is not None else [ALL_TAGS]
    return admitted + dispatch_all(None if ALL_TAGS in tags else [t.upper() for t in tags], skip=operadora_id)
