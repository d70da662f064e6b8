"""A CSV import of clientes: its record (status, progress, counts, report) and how it runs.

An import runs in two passes over the stored file. The first checks every row, stores the
report (one importacao_erros row per bad line) and commits its progress batch by batch, so
a page polling the record sees it move (SQLite allows one writer at a time, so progress
cannot be written beside an open write transaction). The second reads the file again inside
ONE transaction and inserts the first pass's valid rows 1,000 at a time: all of them or none.
A cliente created meanwhile with one of those CNPJs breaks the unique index, and an operadora
deactivated meanwhile fails the row's check: either way nothing is written.
"""
import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from redis import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.clientes import importer
from apps.clientes.importer import ImportFileError
from apps.clientes.models import Cliente
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.queues import QueueUnavailable, ensure_available, get_queue, get_redis
from apps.core.records import search_key_of
from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db, get_by_id, utcnow

log = logging.getLogger(__name__)
BACKGROUND_ROWS = 5000  # more data rows than this run on the queue (CLIENTES_IMPORT_BACKGROUND_ROWS)
CHECK_SHARE = 80  # the first pass moves progress from 0 to 80, the commit makes it 100
JOB_TIMEOUT = 1800
CHANGED = ("Os clientes ou operadoras mudaram durante a importação; nada foi gravado. "
           "Envie o arquivo de novo para ver a prévia atualizada.")


class StatusImportacao:
    PROCESSANDO = "PROCESSANDO"
    CONCLUIDA = "CONCLUIDA"
    FALHOU = "FALHOU"
    ALL = (PROCESSANDO, CONCLUIDA, FALHOU)
    LABELS = {PROCESSANDO: "Processando", CONCLUIDA: "Concluída", FALHOU: "Falhou"}


class Importacao(UUIDPk, Timestamps, db.Model):
    """One confirmed import; `arquivo` is the stored file's token until the run ends."""

    __tablename__ = "importacoes"
    __table_args__ = (
        CheckConstraint(f"status IN {StatusImportacao.ALL}", name="status_valid"),
        CheckConstraint("progresso BETWEEN 0 AND 100", name="progresso_range"),
    )

    status: Mapped[str] = mapped_column(String(20), nullable=False, default=StatusImportacao.PROCESSANDO)
    progresso: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    arquivo: Mapped[str | None] = mapped_column(String(64))
    arquivo_nome: Mapped[str | None] = mapped_column(String(255))
    total_linhas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    validas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    invalidas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    importadas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mensagem: Mapped[str | None] = mapped_column(Text)
    rq_job_id: Mapped[str | None] = mapped_column(String(100))
    concluida_em: Mapped[datetime | None] = mapped_column(UTCDateTime)
    criado_por_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True)

    criado_por = relationship("User")

    @property
    def status_label(self) -> str:
        return StatusImportacao.LABELS.get(self.status, self.status)


class ImportacaoErro(db.Model):
    """A bad line of an import's file and why (a table, not JSON: 100,000 of them stay cheap)."""

    __tablename__ = "importacao_erros"
    __table_args__ = (Index("ix_importacao_erros_importacao_linha", "importacao_id", "linha"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    importacao_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("importacoes.id", ondelete="CASCADE"), nullable=False)
    linha: Mapped[int] = mapped_column(Integer, nullable=False)
    motivo: Mapped[str] = mapped_column(Text, nullable=False)
    conteudo: Mapped[str | None] = mapped_column(Text)  # the row as the file had it (None before it was kept)


class ImportFailed(ServiceError, RuntimeError):
    """The run stopped and wrote no cliente; the message is for the user."""

    status = 409


# --- the stored upload: instance/imports/<token>.csv from the preview until the run ends ---

UPLOADS = importer.StoredUploads("imports", importer.check_file)
imports_dir, path_for, save_upload, delete_upload = UPLOADS.dir, UPLOADS.path_for, UPLOADS.save, UPLOADS.delete


def count_rows(path: Path) -> int:
    """Data rows, counted by line ends (fast; a quoted field with a line break counts twice)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(importer.CHUNK), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


# --- the run ---------------------------------------------------------------------------------

def background_threshold() -> int:
    return int(current_app.config.get("CLIENTES_IMPORT_BACKGROUND_ROWS", BACKGROUND_ROWS))


def erros(importacao, limit: int | None = None, offset: int = 0):
    """The report's (linha, motivo) in line order."""
    query = (select(ImportacaoErro.linha, ImportacaoErro.motivo)
             .where(ImportacaoErro.importacao_id == importacao.id)
             .order_by(ImportacaoErro.linha, ImportacaoErro.id).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).all()


def linhas_com_erro(importacao, limit: int | None = None, offset: int = 0):
    """The report's (linha, motivo, conteudo: the row as the file had it) in line order."""
    query = (select(ImportacaoErro.linha, ImportacaoErro.motivo, ImportacaoErro.conteudo)
             .where(ImportacaoErro.importacao_id == importacao.id)
             .order_by(ImportacaoErro.linha, ImportacaoErro.id).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).all()


def iter_erros(importacao, page: int = 5000):
    """Every (linha, motivo, conteudo), read a page at a time."""
    offset = 0
    while rows := linhas_com_erro(importacao, page, offset):
        yield from rows
        offset += len(rows)


def start(token: str, arquivo_nome: str | None, by) -> Importacao:
    """Import a stored file: now when small, on the RQ queue when large (status PROCESSANDO)."""
    path = path_for(token)
    if path is None:
        raise ImportFailed("O arquivo enviado não está mais disponível; envie-o de novo.")
    total = count_rows(path)
    background = total > background_threshold()
    if background:
        ensure_available()
    importacao = Importacao(arquivo=token, arquivo_nome=(arquivo_nome or "")[:255] or None,
                            total_linhas=total, criado_por_id=getattr(by, "id", None))
    db.session.add(importacao)
    db.session.commit()
    if background:
        _enqueue(importacao)
    else:
        run(importacao)
    return importacao


def _enqueue(importacao) -> None:
    try:
        job = get_queue().enqueue(run_job, str(importacao.id), job_id=f"importacao-{importacao.id}",
                                  job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=7 * 24 * 3600)
    except RedisError as exc:
        db.session.delete(importacao)  # nothing queued: keep the file, record nothing
        db.session.commit()
        raise QueueUnavailable() from exc
    importacao.rq_job_id = job.id
    db.session.commit()


def run_job(importacao_id: str) -> str:
    """RQ job: run a PROCESSANDO import by id."""
    importacao = get_by_id(Importacao, importacao_id)
    if importacao is None or importacao.status != StatusImportacao.PROCESSANDO:
        return "nada a fazer"
    run(importacao)
    return importacao.status


def run(importacao) -> None:
    """Both passes; the import ends CONCLUIDA or FALHOU and its file is deleted."""
    path = path_for(importacao.arquivo)
    try:
        if path is None:
            raise ImportFailed("O arquivo da importação não foi encontrado; envie-o de novo.")
        good_lines = _check_pass(importacao, path)
        _write_pass(importacao, path, good_lines)
    except (ImportFailed, ImportFileError) as exc:
        _fail(importacao, str(exc))
    except IntegrityError:
        _fail(importacao, CHANGED)
    except Exception:
        log.exception("importacao %s failed", importacao.id)
        _fail(importacao, "Erro inesperado durante a importação; nada foi gravado. Tente de novo.")
    finally:
        token = importacao.arquivo
        importacao.arquivo = None
        db.session.commit()
        delete_upload(token)


INTERRUPTED = ("A importação foi interrompida: o processamento parou no servidor antes de terminar. "
               "Nenhum cliente foi gravado; envie o arquivo de novo.")
LIVE_JOB = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def reconcile() -> int:
    """Fail the background imports whose RQ job is gone or ended without finishing them (a worker killed
    mid-import, a job that expired in a queue with no worker). The write pass is one transaction, so
    nothing of theirs was written: they end FALHOU saying so, instead of PROCESSANDO forever."""
    redis = get_redis()
    # A job whose worker died stays "started" until its heartbeat expires; this moves it to failed.
    StartedJobRegistry(get_queue().name, connection=redis).cleanup()
    failed = 0
    settled = utcnow() - timedelta(seconds=30)  # younger ones may be between their commit and their enqueue
    running = db.session.scalars(select(Importacao).where(Importacao.status == StatusImportacao.PROCESSANDO,
                                                          Importacao.created_at < settled)).all()
    for importacao in running:
        try:
            job = Job.fetch(importacao.rq_job_id or f"importacao-{importacao.id}", connection=redis)
            if job.get_status() in LIVE_JOB:
                continue
        except NoSuchJobError:
            pass
        db.session.refresh(importacao)
        if importacao.status != StatusImportacao.PROCESSANDO:
            continue  # it finished meanwhile
        log.warning("importacao %s interrupted: its job is gone", importacao.id)
        importacao.importadas = 0
        _finish(importacao, StatusImportacao.FALHOU, INTERRUPTED)
        token, importacao.arquivo = importacao.arquivo, None
        db.session.commit()
        delete_upload(token)
        failed += 1
    return failed


def _progress(line: int, total: int) -> int:
    return min(CHECK_SHARE - 1, CHECK_SHARE * line // max(total + 1, 1))


def _check_pass(importacao, path) -> bytearray:
    """Store the report and the counts, committing per batch; the good lines as a bitmap."""
    db.session.execute(delete(ImportacaoErro).where(ImportacaoErro.importacao_id == importacao.id))
    good_lines = bytearray(importacao.total_linhas + 2)
    validas = invalidas = 0
    for good, bad, last_line in importer.check_batches(path):
        if last_line >= len(good_lines):
            good_lines.extend(bytes(last_line + 1 - len(good_lines)))
        for line, _ in good:
            good_lines[line] = 1
        if bad:
            db.session.execute(insert(ImportacaoErro), [
                {"importacao_id": importacao.id, "linha": line, "motivo": motivo, "conteudo": conteudo}
                for line, motivo, conteudo in bad])
        validas, invalidas = validas + len(good), invalidas + len(bad)
        importacao.validas, importacao.invalidas = validas, invalidas
        importacao.progresso = _progress(last_line, importacao.total_linhas)
        db.session.commit()
    return good_lines


def _write_pass(importacao, path, good_lines: bytearray) -> None:
    """Read again and insert the first pass's good rows in one transaction (all of them or none)."""
    importadas = 0
    table = Cliente.__table__
    for good, bad, _ in importer.check_batches(path, rechecking=True):
        if any(good_lines[line] for line, *_ in bad):
            raise ImportFailed(CHANGED)  # an operadora was deactivated or removed meanwhile
        rows = [values for line, values in good if good_lines[line]]
        if rows:
            now = utcnow()
            # A Core insert: the search key is computed here, not by the ORM's events.
            db.session.execute(table.insert(), [
                {**values, "id": uuid.uuid4(), "created_at": now, "updated_at": now,
                 "nome_busca": search_key_of(values["nome"], length=table.c.nome_busca.type.length)} for values in rows])
            importadas += len(rows)
    if importadas != importacao.validas:
        raise ImportFailed(CHANGED)
    importacao.importadas = importadas
    _finish(importacao, StatusImportacao.CONCLUIDA)
    audit.record("clientes_importados", entity=importacao, user=importacao.criado_por,
                 detail=(f"arquivo={importacao.arquivo_nome}; importadas={importadas}; "
                         f"invalidas={importacao.invalidas}"))
    db.session.commit()


def _finish(importacao, status: str, mensagem: str | None = None) -> None:
    importacao.status, importacao.mensagem = status, mensagem
    importacao.concluida_em = utcnow()
    if status == StatusImportacao.CONCLUIDA:
        importacao.progresso = 100


def _fail(importacao, message: str) -> None:
    db.session.rollback()
    importacao.importadas = 0
    _finish(importacao, StatusImportacao.FALHOU, message)
