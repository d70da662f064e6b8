"""Running a lote: check its file again, stage its lines, then create the missing processos and queue its runs
through the throttle, a chunk at a time with bulk SQL.

1. `start` records the lote (its preview's token is unique: a preview confirmed twice is one lote) and runs it
   now when small, on the RQ queue when large.
2. `run` reads the file once more, checking every row (the records may have changed since the preview) and
   staging each good one as a `lote_linhas` row, a batch at a time. A bad row now fails the lote and removes
   what was staged: nothing was queued.
3. Then, per chunk of lines, four statements: INSERT … SELECT the missing processos (ON CONFLICT DO NOTHING);
   point each line at its processo; INSERT … SELECT a PENDENTE run for each line whose processo is still in the
   status its action needs and has no active run (ON CONFLICT DO NOTHING … RETURNING, so only new runs come
   back); link the lines to them. The chunk commits, and `throttle.dispatch_all()` admits what each
   operadora's limit allows, as for every run. Each step is idempotent, so a run that died resumes.
"""
import logging
from datetime import timedelta

from flask import current_app
from redis import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import Uuid, and_, case, delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from apps.clientes.importer import ImportFileError
from apps.clientes.models import Cliente
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.queues import QueueUnavailable, ensure_available, get_queue, get_redis
from apps.core.types import db, get_by_id, utcnow
from apps.lotes import arquivo, progresso
from apps.lotes.models import Lote, LoteLinha, StatusLote
from apps.processos.models import Execucao, Processo, StatusExecucao, StatusProcesso, TipoExecucao
from apps.processos.services import _uuid_sql
from apps.rpa.throttle import dispatch

log = logging.getLogger(__name__)
BACKGROUND_ROWS = 1000  # more rows than this run on the queue (LOTES_BACKGROUND_ROWS)
CHUNK_ROWS = 5000       # lines per chunk of the write (LOTES_CHUNK_ROWS)
JOB_TIMEOUT = 3600
NOT_RUN = ("Não executada: o processo mudou depois da verificação (outro status ou uma execução já em "
           "andamento).")
CHANGED = ("{n} linha(s) do arquivo têm problema (o cadastro ou os processos podem ter mudado desde a prévia); "
           "nenhuma execução foi enfileirada. Envie o arquivo de novo para ver a prévia atualizada.")
EMPTY = "O arquivo não tem nenhuma linha de dados: nada a executar."


class LoteError(ServiceError):
    """A lote that cannot start; nothing was queued."""

    status = 409


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


# --- starting ------------------------------------------------------------------------------

def by_chave(token) -> Lote | None:
    chave = arquivo.valid_token(token)
    return db.session.scalar(select(Lote).where(Lote.chave == chave)) if chave else None


def start(token: str, arquivo_nome: str | None, by) -> tuple[Lote, bool]:
    """Run a stored preview's file as a lote: (lote, True) when this call created it, (the existing lote,
    False) when the preview was confirmed already (a double click, a second tab)."""
    existing = by_chave(token)
    if existing is not None:
        return existing, False
    path = arquivo.path_for(token)
    if path is None:
        raise LoteError("O arquivo enviado não está mais disponível; envie-o de novo.")
    ensure_available()
    total = sum(1 for _ in _data_lines(path))
    if not total:
        raise LoteError(EMPTY, 422, {"arquivo": "sem linhas"})
    lote = Lote(chave=arquivo.valid_token(token), arquivo=arquivo.valid_token(token),
                arquivo_nome=(arquivo_nome or "")[:255] or None, total=total, criado_por_id=getattr(by, "id", None))
    db.session.add(lote)
    try:
        db.session.commit()
    except IntegrityError:  # the other click won the insert: it runs the lote
        db.session.rollback()
        return by_chave(token), False
    audit.record("lote_criado", entity=lote, user=by, detail=f"arquivo={lote.arquivo_nome}; linhas={total}")
    db.session.commit()
    if total > _setting("LOTES_BACKGROUND_ROWS", BACKGROUND_ROWS):
        _enqueue(lote)
    else:
        run(lote)
    return lote, True


def _data_lines(path):
    with arquivo.open_csv(path) as csvfile:
        yield from csvfile.rows


def _enqueue(lote) -> None:
    try:
        job = get_queue().enqueue(run_job, str(lote.id), job_id=f"lote-{lote.id}", job_timeout=JOB_TIMEOUT,
                                  result_ttl=3600, failure_ttl=7 * 24 * 3600)
    except RedisError as exc:
        _fail(lote, QueueUnavailable.MESSAGE)
        raise QueueUnavailable() from exc
    lote.rq_job_id = job.id
    db.session.commit()


def run_job(lote_id: str) -> str:
    """RQ job: run a PROCESSANDO lote by id (again after an interruption: every step is idempotent)."""
    lote = get_by_id(Lote, lote_id)
    if lote is None or lote.status != StatusLote.PROCESSANDO:
        return "nada a fazer"
    run(lote)
    return lote.status


# --- running -------------------------------------------------------------------------------

def run(lote) -> None:
    """Check and stage every line, then write the chunks; the lote ends IMPORTADO or FALHOU. Run again after an
    interruption (a worker killed mid-run), it resumes: the lines of the chunks already written are neither
    checked again (their runs now exist) nor written twice."""
    try:
        path = arquivo.path_for(lote.arquivo)
        if path is None:
            if not _staged(lote):
                raise LoteError("O arquivo do lote não foi encontrado; envie-o de novo.")
        else:
            bad = _stage(lote, path, after=_decided_up_to(lote))
            if bad:
                raise LoteError(CHANGED.format(n=bad))
        _write(lote)
    except (LoteError, ImportFileError) as exc:
        _fail(lote, str(exc))
    except Exception:
        log.exception("lote %s failed", lote.id)
        _fail(lote, "Erro inesperado ao preparar o lote; as execuções já enfileiradas seguem, as demais não.")
    # Not in a `finally`: a worker stopped mid-chunk (SystemExit, a signal) commits nothing more and keeps the
    # file, so the reconciler's next run resumes.
    token, lote.arquivo = lote.arquivo, None
    db.session.commit()
    arquivo.delete_upload(token)


def _decided_up_to(lote) -> int:
    """The last line of the chunks already written (0: none), from an interrupted run."""
    decided = or_(LoteLinha.execucao_id.is_not(None), LoteLinha.mensagem.is_not(None))
    return db.session.scalar(select(func.coalesce(func.max(LoteLinha.linha), 0))
                             .where(LoteLinha.lote_id == lote.id, decided))


def _staged(lote) -> bool:
    return db.session.scalar(select(exists().where(LoteLinha.lote_id == lote.id)))


def _dialect_insert():
    return postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert


def _stage(lote, path, after: int = 0) -> int:
    """Check every row after line `after` again; stage the good ones (a commit every chunk of rows, so SQLite's
    one writer is not held for the whole file). The number of bad rows (what was staged and not written yet is
    removed when there are any)."""
    table = LoteLinha.__table__
    insert_lines = _dialect_insert()(table).on_conflict_do_nothing(index_elements=["lote_id", "linha"])
    size = max(1, _setting("LOTES_CHUNK_ROWS", CHUNK_ROWS))
    bad_rows = pending = 0
    for good, bad in arquivo.check_batches(path):
        if after:
            good, bad = [v for v in good if v["linha"] > after], [b for b in bad if b[0] > after]
        bad_rows += len(bad)
        if good and not bad_rows:
            db.session.execute(insert_lines, [
                {"lote_id": lote.id, "linha": v["linha"], "cnpj": v["cnpj"], "competencia": v["competencia"],
                 "acao": v["acao"], "cliente_id": v["cliente_id"]} for v in good])
            pending += len(good)
            if pending >= size:
                db.session.commit()
                pending = 0
    if bad_rows:
        db.session.rollback()
        db.session.execute(delete(LoteLinha).where(LoteLinha.lote_id == lote.id, LoteLinha.execucao_id.is_(None),
                                                   LoteLinha.mensagem.is_(None)))
    else:
        lote.total = db.session.scalar(select(func.count()).where(LoteLinha.lote_id == lote.id))
    db.session.commit()
    return bad_rows


def _chunk_end(lote, after: int, size: int) -> int | None:
    """The last line of the chunk that starts after line `after` (None: no lines left)."""
    base = select(LoteLinha.linha).where(LoteLinha.lote_id == lote.id, LoteLinha.linha > after)
    end = db.session.scalar(base.order_by(LoteLinha.linha).offset(size - 1).limit(1))
    return end if end is not None else db.session.scalar(select(func.max(LoteLinha.linha)).where(
        LoteLinha.lote_id == lote.id, LoteLinha.linha > after))


def _write(lote) -> None:
    size = max(1, _setting("LOTES_CHUNK_ROWS", CHUNK_ROWS))
    after = 0
    while (end := _chunk_end(lote, after, size)) is not None:
        in_chunk = and_(LoteLinha.lote_id == lote.id, LoteLinha.linha > after, LoteLinha.linha <= end)
        lote.processos_criados += _create_processos(lote, in_chunk)
        _point_at_processos(in_chunk)
        _queue_runs(lote, in_chunk)
        lote.gravadas = db.session.scalar(select(func.count()).where(LoteLinha.lote_id == lote.id,
                                                                     LoteLinha.linha <= end))
        operadoras = _operadoras(in_chunk)
        db.session.commit()
        _dispatch(operadoras)
        after = end
    lote.status, lote.concluido_em = StatusLote.IMPORTADO, utcnow()
    counts = progresso.progress(lote)
    audit.record("lote_importado", entity=lote, user=lote.criado_por,
                 detail=(f"arquivo={lote.arquivo_nome}; linhas={lote.total}; processos criados="
                         f"{lote.processos_criados}; execuções={lote.total - counts['nao_executadas']}; "
                         f"não executadas={counts['nao_executadas']}"))
    db.session.commit()


def _operadoras(in_chunk) -> list:
    return list(db.session.scalars(select(Cliente.operadora_id).select_from(LoteLinha)
                                   .join(Cliente, Cliente.id == LoteLinha.cliente_id).where(in_chunk).distinct()))


def _dispatch(operadoras) -> None:
    """Admit what the chunk's operadoras' limits allow now, the way every run is admitted (throttle.dispatch);
    with Redis down the runs wait in the database for the reconciler."""
    try:
        for operadora_id in operadoras:
            dispatch(operadora_id)
    except QueueUnavailable:
        log.warning("queue unavailable; the lote's runs will be admitted by the reconciler")


def _create_processos(lote, in_chunk) -> int:
    """The chunk's DOWNLOAD lines whose processo does not exist yet get one (INSERT … SELECT)."""
    now = utcnow()
    source = (select(_uuid_sql(db.engine.dialect.name), Cliente.id, LoteLinha.competencia,
                     literal(StatusProcesso.AGUARDANDO_DOWNLOAD),
                     literal(lote.criado_por_id, type_=Processo.criado_por_id.type),
                     literal(now, type_=Processo.created_at.type), literal(now, type_=Processo.updated_at.type),
                     Cliente.nome, Cliente.nome_busca)
              .select_from(LoteLinha).join(Cliente, Cliente.id == LoteLinha.cliente_id)
              .where(in_chunk, LoteLinha.acao == TipoExecucao.DOWNLOAD, LoteLinha.processo_id.is_(None)))
    columns = ["id", "cliente_id", "competencia", "status", "criado_por_id", "created_at", "updated_at",
               "cliente_nome", "cliente_nome_busca"]
    stmt = _dialect_insert()(Processo.__table__).from_select(columns, source).on_conflict_do_nothing(
        index_elements=["cliente_id", "competencia"])
    count = db.session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount
    return max(0, count or 0)


def _point_at_processos(in_chunk) -> None:
    found = (select(Processo.id).where(Processo.cliente_id == LoteLinha.cliente_id,
                                       Processo.competencia == LoteLinha.competencia).scalar_subquery())
    db.session.execute(update(LoteLinha).where(in_chunk, LoteLinha.processo_id.is_(None))
                       .values(processo_id=found).execution_options(synchronize_session=False))


def _queue_runs(lote, in_chunk) -> None:
    """A PENDENTE run for each line whose processo is in the status its action needs and has none active;
    the lines get their run, or the reason they have none."""
    now = utcnow()
    needed = case(*((LoteLinha.acao == acao, status) for acao, status in arquivo.NEEDS.items()))
    active = exists().where(Execucao.processo_id == Processo.id, Execucao.status.in_(StatusExecucao.ACTIVE))
    source = (select(_uuid_sql(db.engine.dialect.name), LoteLinha.processo_id, LoteLinha.acao,
                     literal(StatusExecucao.PENDENTE), literal(0),
                     literal(lote.criado_por_id, type_=Execucao.criado_por_id.type),
                     literal(now, type_=Execucao.created_at.type), literal(now, type_=Execucao.updated_at.type))
              .select_from(LoteLinha).join(Processo, Processo.id == LoteLinha.processo_id)
              .where(in_chunk, LoteLinha.execucao_id.is_(None), LoteLinha.mensagem.is_(None),
                     Processo.status == needed, ~active))
    columns = ["id", "processo_id", "tipo", "status", "ultimo_seq", "criado_por_id", "created_at", "updated_at"]
    table = Execucao.__table__
    # ON CONFLICT DO NOTHING: a run started meanwhile on one of them (the partial unique index) skips that one.
    stmt = _dialect_insert()(table).from_select(columns, source).on_conflict_do_nothing().returning(table.c.id)
    created = list(db.session.scalars(stmt))  # RETURNING: the runs this statement added, none other
    if created:
        # Each line gets the new run of its processo (one per processo: repeated lines are refused), in one
        # UPDATE … FROM.
        db.session.execute(update(LoteLinha)
                           .where(in_chunk, LoteLinha.execucao_id.is_(None),
                                  Execucao.processo_id == LoteLinha.processo_id,
                                  arquivo.in_values(Execucao.id, created, Uuid))
                           .values(execucao_id=Execucao.id).execution_options(synchronize_session=False))
    db.session.execute(update(LoteLinha).where(in_chunk, LoteLinha.execucao_id.is_(None),
                                               LoteLinha.mensagem.is_(None))
                       .values(mensagem=NOT_RUN).execution_options(synchronize_session=False))


def _fail(lote, message: str) -> None:
    db.session.rollback()
    lote.status, lote.mensagem, lote.concluido_em = StatusLote.FALHOU, message, utcnow()
    audit.record("lote_falhou", entity=lote, user=lote.criado_por, detail=message[:1000])
    db.session.commit()


# --- the reconciler ------------------------------------------------------------------------

LIVE_JOB = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def reconcile() -> int:
    """Queue again the background lotes whose job is gone (a worker killed mid-run): the run resumes where it
    stopped, since every step is idempotent."""
    redis = get_redis()
    settled = utcnow() - timedelta(seconds=30)  # younger ones may be between their commit and their enqueue
    resumed = 0
    for lote in db.session.scalars(select(Lote).where(Lote.status == StatusLote.PROCESSANDO,
                                                      Lote.rq_job_id.is_not(None), Lote.updated_at < settled)).all():
        try:
            if Job.fetch(lote.rq_job_id, connection=redis).get_status() in LIVE_JOB:
                continue
        except NoSuchJobError:
            pass
        log.warning("lote %s interrupted: queued again", lote.id)
        job = get_queue().enqueue(run_job, str(lote.id), job_timeout=JOB_TIMEOUT, result_ttl=3600,
                                  failure_ttl=7 * 24 * 3600)
        lote.rq_job_id = job.id
        db.session.commit()
        resumed += 1
    return resumed
