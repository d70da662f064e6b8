"""Artefatos: every file a run produces, recorded once and kept as long as its kind's policy says.

A FATURA is recorded with its invoice (the robot's download or a manual upload); a run's LOG and its
SAT receipt (PROTOCOLO) are written when `end_run` ends it (`after_run`: cheap, and a storage that fails
never stops a run from ending); a service's task files (ARQUIVO) come in through `keep`.
"""
import logging
import os
import re
import tempfile
import unicodedata
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from apps.artefatos import storage
from apps.artefatos.models import Artefato, Kind
from apps.auth.policy import has_permission
from apps.core.errors import ServiceError
from apps.core.types import db, utcnow
from apps.processos import storage as invoice_storage
from apps.processos.models import ExecucaoLog, StatusExecucao, TipoExecucao

log = logging.getLogger(__name__)
__all__ = ["Kind", "keep", "after_run", "record_fatura", "can_read", "expiry"]
RETENTION_SETTINGS = {Kind.FATURA: "RETENCAO_FATURA_DIAS", Kind.LOG: "RETENCAO_LOG_DIAS",
                      Kind.PROTOCOLO: "RETENCAO_PROTOCOLO_DIAS", Kind.ARQUIVO: "RETENCAO_ARQUIVO_DIAS"}
DEFAULT_DAYS = {Kind.FATURA: 5 * 365 + 1, Kind.LOG: 90, Kind.PROTOCOLO: 5 * 365 + 1, Kind.ARQUIVO: 30}
LOG_BATCH = 2000


class ArtefatoError(ServiceError):
    """An artefato we refuse to record or to hand out."""


def retention_days(kind: str) -> int:
    return int(current_app.config.get(RETENTION_SETTINGS[kind]) or DEFAULT_DAYS[kind])


def expiry(kind: str, created=None):
    """When an artefato of `kind` made at `created` (now) may be removed by the retention job."""
    return (created or utcnow()) + timedelta(days=retention_days(kind))


def clean_name(name: str, default: str = "arquivo") -> str:
    """A display name: no path, no control characters, at most 255 characters."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(c for c in text if c.isprintable()).strip().strip(".")
    return (text or default)[:255]


def _suffix(name: str) -> str:
    _, _, ext = name.rpartition(".")
    return ext if ext != name else ""


def _record(kind, *, key, name, content_type, sha256, size, execucao=None, processo_id=None, fatura=None):
    now = utcnow()
    artefato = Artefato(kind=kind, storage_key=key, name=clean_name(name), content_type=content_type[:120],
                        sha256=sha256, size=int(size), created_at=now, expira_em=expiry(kind, now),
                        execucao_id=getattr(execucao, "id", None), processo_id=processo_id, fatura=fatura)
    db.session.add(artefato)
    return artefato


def keep(execucao, kind: str, *, name: str, path, content_type: str, sha256: str, size: int):
    """Move the checked file at `path` (a temporary file, already size-limited and sha256-checked)
    into artifact storage and record it for `execucao`; return the Artefato. Flushes, never commits."""
    if kind not in Kind.ALL:
        raise ArtefatoError(f"Tipo de artefato desconhecido: {kind}.")
    if os.path.getsize(path) != int(size):
        raise ArtefatoError(f"{clean_name(name)}: o tamanho do arquivo não confere com o informado.")
    key = storage.new_key(f"execucoes/{execucao.id}", _suffix(clean_name(name)))
    storage.backend().put_file(key, path, content_type=content_type or "application/octet-stream")
    artefato = _record(kind, key=key, name=name, content_type=content_type or "application/octet-stream",
                       sha256=sha256, size=size, execucao=execucao, processo_id=execucao.processo_id)
    db.session.flush()
    return artefato


def record_fatura(fatura, execucao=None):
    """The FATURA artefato of an invoice just stored (its file is the fatura's `arquivo`)."""
    return _record(Kind.FATURA, key=fatura.arquivo, name=fatura.nome_original or f"{fatura.numero}.pdf",
                   content_type="application/pdf", sha256=fatura.sha256, size=fatura.tamanho,
                   execucao=execucao, processo_id=fatura.processo_id, fatura=fatura)


def _log_lines(execucao):
    """The run's stored log as text lines, read in batches (a 5 MB log never sits in memory)."""
    rows = db.session.execute(
        select(ExecucaoLog.seq, ExecucaoLog.timestamp, ExecucaoLog.level, ExecucaoLog.message)
        .where(ExecucaoLog.execucao_id == execucao.id).order_by(ExecucaoLog.seq)
        .execution_options(yield_per=LOG_BATCH))
    for seq, moment, level, message in rows:
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"
        yield f"{seq}\t{stamp}\t{level}\t{message}\n"


def scratch_dir():
    """A local directory for files on their way into storage (swept of leftovers by the reconciler)."""
    return invoice_storage.incoming()


def _write_log(execucao):
    """Write the run's log as a text file into storage and record it."""
    handle, path = tempfile.mkstemp(dir=scratch_dir(), suffix=".part")
    try:
        digest = None
        with os.fdopen(handle, "w", encoding="utf-8", errors="replace", newline="\n") as out:
            for line in _log_lines(execucao):
                out.write(line)
            if execucao.mensagem:
                out.write(f"# {StatusExecucao.LABELS.get(execucao.status, execucao.status)}: {execucao.mensagem}\n")
        with open(path, "rb") as data:
            digest, size = storage.sha256_of_stream(iter(lambda: data.read(storage.CHUNK), b""))
        key = storage.new_key(f"execucoes/{execucao.id}", "txt")
        storage.backend().put_file(key, path, content_type="text/plain; charset=utf-8")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return _record(Kind.LOG, key=key, name=f"log-execucao-{str(execucao.id)[:8]}.txt",
                   content_type="text/plain; charset=utf-8", sha256=digest, size=size, execucao=execucao,
                   processo_id=execucao.processo_id)


def _write_protocolo(execucao):
    """The SAT receipt as a small text file, for a finished SAT upload."""
    processo = execucao.processo
    data = (f"Protocolo SAT: {processo.protocolo_sat}\nCompetência: {processo.competencia}\n"
            f"Cliente: {processo.cliente_nome}\nExecução: {execucao.id}\n"
            f"Concluída em: {execucao.data_fim.strftime('%Y-%m-%dT%H:%M:%SZ') if execucao.data_fim else '-'}\n"
            ).encode()
    key = storage.new_key(f"execucoes/{execucao.id}", "txt")
    storage.backend().put_bytes(key, data, content_type="text/plain; charset=utf-8")
    digest, size = storage.sha256_of_stream([data])
    return _record(Kind.PROTOCOLO, key=key, name=f"protocolo-sat-{processo.competencia}.txt",
                   content_type="text/plain; charset=utf-8", sha256=digest, size=size, execucao=execucao,
                   processo_id=processo.id)


def after_run(execucao, just_ended=False) -> list:
    """Keep a run's log (and its SAT receipt) once it has ended; `just_ended`: the caller's own UPDATE ended it
    (apps.rpa.runs.end_run; a run ends once), so nothing is kept yet and there is nothing to look up. Never
    raises: a storage or database failure here is logged, and the run stays ended as it was."""
    made = []
    try:
        already = set() if just_ended else set(db.session.scalars(select(Artefato.kind).where(
            Artefato.execucao_id == execucao.id, Artefato.kind.in_((Kind.LOG, Kind.PROTOCOLO)))))
        if Kind.LOG not in already:
            made.append(_write_log(execucao))
        if (Kind.PROTOCOLO not in already and execucao.tipo == TipoExecucao.ENVIO_SAT
                and execucao.status == StatusExecucao.CONCLUIDO and execucao.processo is not None
                and execucao.processo.protocolo_sat):
            made.append(_write_protocolo(execucao))
        db.session.commit()
    except Exception:  # noqa: BLE001 - ending the run matters more than its log file
        db.session.rollback()
        log.warning("could not keep the log/receipt of execucao %s", execucao.id, exc_info=True)
        for artefato in made:
            try:
                storage.backend().delete(artefato.storage_key)
            except Exception:  # noqa: BLE001
                log.warning("could not delete the orphan file %s", artefato.storage_key)
        return []
    return made


def can_read(user, artefato) -> bool:
    """An artefato's access follows its processo's (any active user); one without a processo (a service
    run's file) belongs to who asked for the run, and to who manages the serviços."""
    if artefato.processo_id is not None:
        return has_permission(user, "artefato.ler")
    if not has_permission(user, "artefato.ler"):
        return False
    if has_permission(user, "servico.gerenciar"):
        return True
    execucao = artefato.execucao
    return execucao is not None and execucao.criado_por_id is not None and execucao.criado_por_id == user.id


def of_processo(processo) -> list:
    """A processo's artefatos, newest first."""
    return list(db.session.scalars(select(Artefato).where(Artefato.processo_id == processo.id)
                                   .order_by(Artefato.created_at.desc(), Artefato.id)))


def of_fatura(fatura):
    return db.session.scalar(select(Artefato).where(Artefato.fatura_id == fatura.id, Artefato.kind == Kind.FATURA))


def execucao_query(execucao):
    return select(Artefato).where(Artefato.execucao_id == execucao.id).order_by(Artefato.created_at, Artefato.id)
