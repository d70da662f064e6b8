"""The life of a robot run, as the worker records it: started, log lines, finished or failed.

Every change is conditional on the execucao still being active, so two followers of the same
run (a retried job, a reconciler racing a slow worker) cannot finish it twice.
"""
from decimal import Decimal

from flask import current_app
from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from apps.aprovacoes import tarefas
from apps.artefatos import services as artefatos
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.types import committed, db, utcnow
from apps.processos import state, storage
from apps.processos.models import Execucao, ExecucaoLog, Fatura, StatusExecucao, TipoExecucao
from apps.processos.state import ProcessoError
from apps.rpa.answers import clean_lines, clean_text, is_final_line


class FaturaInvalida(ServiceError, ValueError):
    """An invoice the robot reported that we refuse to record (bad hash, bad data)."""


def _conditional(execucao, from_statuses, **values) -> bool:
    """UPDATE the run only while it is in one of `from_statuses`. When it was, the object takes the values
    written (no SELECT); when it was not, it is read again, so the caller sees what the run is now."""
    values = {"updated_at": utcnow(), **values}
    result = db.session.execute(
        update(Execucao).where(Execucao.id == execucao.id, Execucao.status.in_(from_statuses))
        .values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(execucao)
        return False
    committed(execucao, values)
    return True


def marcar_executando(execucao, job_id: str) -> bool:
    """PENDENTE → EXECUTANDO with the RPA job id and data_inicio."""
    ok = _conditional(execucao, (StatusExecucao.PENDENTE,), status=StatusExecucao.EXECUTANDO,
                      job_id=str(job_id), data_inicio=utcnow())
    db.session.commit()
    return ok


def falhar(execucao, mensagem: str) -> bool:
    """An active run → FALHOU with data_fim and the reason; the processo stays where it was."""
    ok = _conditional(execucao, StatusExecucao.ACTIVE, status=StatusExecucao.FALHOU,
                      mensagem=(mensagem or "Falha sem mensagem.")[:4000], data_fim=utcnow())
    if ok:
        audit.record("execucao_falhou", entity=execucao.processo or execucao, detail=f"{execucao.tipo}: {mensagem}"[:1000])
    db.session.commit()
    return ok


def gravar_logs(execucao, lines) -> list:
    """Store the lines not stored yet (once per seq), within the run's limits; return the stored rows, in order.

    `lines` are log lines of the contract (cleaned again here: idempotent on clean ones). Past EXECUCAO_MAX_LOG_LINES or
    EXECUCAO_MAX_LOG_BYTES a line is counted in `log_descartadas` instead of stored, except the robot's
    final line, which is what people look for and is always kept.
    """
    config = current_app.config
    lines = clean_lines(lines, max_chars=config["RPA_LOG_LINE_MAX_CHARS"])
    if not lines:
        return []
    room_lines = config["EXECUCAO_MAX_LOG_LINES"] - execucao.log_linhas
    room_bytes = config["EXECUCAO_MAX_LOG_BYTES"] - execucao.log_bytes
    rows, dropped, size = [], 0, 0
    for line in lines:
        cost = len(line["message"].encode("utf-8", "replace"))
        final = is_final_line(line["level"], line["message"])
        if final or (len(rows) < room_lines and size + cost <= room_bytes):
            rows.append({"execucao_id": execucao.id, **line, "timestamp": line["timestamp"] or utcnow()})
            size += cost
        else:
            dropped += 1
    inserted = []
    if rows:
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        table = ExecucaoLog.__table__  # rows, not ORM objects: nothing here changes them, and they cost less
        stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=["execucao_id", "seq"])
        returned = (table.c.seq, table.c.level, table.c.message, table.c.timestamp, table.c.service, table.c.logger)
        inserted = db.session.execute(stmt.returning(*returned), rows).all()  # RETURNING: new rows only
    top = lines[-1]["seq"]
    new_bytes = sum(len(row.message.encode("utf-8", "replace")) for row in inserted)
    counters = (Execucao.ultimo_seq, Execucao.log_linhas, Execucao.log_bytes, Execucao.log_descartadas)
    now = db.session.execute(update(Execucao).where(Execucao.id == execucao.id)
                             .values(ultimo_seq=case((Execucao.ultimo_seq < top, top), else_=Execucao.ultimo_seq),
                                     log_linhas=Execucao.log_linhas + len(inserted),
                                     log_bytes=Execucao.log_bytes + new_bytes,
                                     log_descartadas=Execucao.log_descartadas + dropped)
                             .returning(*counters).execution_options(synchronize_session=False)).one()
    db.session.commit()
    committed(execucao, {column.key: value for column, value in zip(counters, now, strict=True)})
    return sorted(inserted, key=lambda row: row.seq)


def has_final_line(execucao) -> bool:
    """Whether the robot's final line (WARNING '… concluído' or ERROR '… falhou') is stored."""
    rows = db.session.execute(
        select(ExecucaoLog.level, ExecucaoLog.message)
        .where(ExecucaoLog.execucao_id == execucao.id, ExecucaoLog.level.in_(("WARNING", "ERROR")))
        .order_by(ExecucaoLog.seq.desc()).limit(20)).all()
    return any(is_final_line(level, message) for level, message in rows)


def cut_note(execucao) -> str:
    """The sentence for the run's message when its log limits dropped lines, else ''."""
    if not execucao.log_descartadas:
        return ""
    return (f"O log passou do limite da execução ({current_app.config['EXECUCAO_MAX_LOG_LINES']} linhas ou "
            f"{current_app.config['EXECUCAO_MAX_LOG_BYTES'] // (1024 * 1024)} MB): "
            f"{execucao.log_descartadas} linha(s) não foram guardadas.")


def _with_note(text: str, note: str | None) -> str:
    return f"{text} {note}" if note else text


def validar_fatura(meta: dict, download) -> dict:
    """Check one downloaded invoice (a checked Fatura `meta`, a client Download) against what the robot declared."""
    numero, name = meta["numero"], meta["arquivo"]
    declared = meta.get("sha256")
    if declared and declared != download.sha256:
        raise FaturaInvalida(f"Fatura {numero}: o sha256 do arquivo não confere com o informado pela API "
                             f"(esperado {declared[:12]}…, recebido {download.sha256[:12]}…).")
    if meta.get("tamanho") not in (None, download.size):
        raise FaturaInvalida(f"Fatura {numero}: tamanho do arquivo diferente do informado.")
    if not meta["valor"].is_finite():
        raise FaturaInvalida(f"Fatura {numero}: valor inválido.")
    return {"numero": numero, "valor": meta["valor"].quantize(Decimal("0.01")), "vencimento": meta["vencimento"],
            "emissao": meta["emissao"], "sha256": download.sha256, "tamanho": download.size,
            "nome_original": clean_text(name, 255)}


def concluir_download(execucao, faturas: list, note: str | None = None) -> bool:
    """Record the checked invoices (pairs of meta and Download), finish the run and move the processo to
    approval, at once. The files are moved from their temporary paths only when everything checks."""
    checked = [(validar_fatura(meta, download), download) for meta, download in faturas]
    if not checked:
        raise FaturaInvalida("O robô concluiu sem nenhuma fatura.")
    stored = []
    try:
        for fields, download in checked:
            try:
                stored.append(storage.store_file(execucao.processo_id, download.path))
            except storage.StorageError as exc:
                raise FaturaInvalida(f"Fatura {fields['numero']}: {exc}") from None
        if not _conditional(execucao, (StatusExecucao.EXECUTANDO,), status=StatusExecucao.CONCLUIDO, data_fim=utcnow(),
                            mensagem=_with_note(f"{len(checked)} fatura(s) baixada(s).", note)[:4000]):
            raise ProcessoError("execução já finalizada")
        for (fields, _), arquivo in zip(checked, stored, strict=True):
            fatura = Fatura(processo_id=execucao.processo_id, execucao_id=execucao.id, arquivo=arquivo, **fields)
            db.session.add(fatura)
            artefatos.record_fatura(fatura, execucao)
        state.move(execucao.processo, "download_concluido",
                   comentario=f"{len(checked)} fatura(s) baixada(s) pelo robô")
        tarefas.abrir([execucao.processo_id])
        db.session.commit()
        return True
    except Exception:
        db.session.rollback()
        for arquivo in stored:
            storage.delete(arquivo)
        raise


def concluir_sat(execucao, protocolo: str, note: str | None = None) -> bool:
    """Store the SAT protocol, finish the run and move the processo to UPLOAD_REALIZADO."""
    if not _conditional(execucao, (StatusExecucao.EXECUTANDO,), status=StatusExecucao.CONCLUIDO,
                        data_fim=utcnow(), mensagem=_with_note(f"Protocolo SAT {protocolo}", note)[:4000]):
        db.session.rollback()
        return False
    state.move(execucao.processo, "envio_sat_concluido", comentario=f"protocolo {protocolo}",
               also={"protocolo_sat": str(protocolo)[:120]})
    db.session.commit()
    return True


def faturas_para_sat(processo) -> list[dict]:
    """The approved invoices in the contract's Fatura shape."""
    return [{"numero": f.numero, "valor": f"{f.valor:.2f}", "emissao": f.emissao.isoformat() if f.emissao else None,
             "vencimento": f.vencimento.isoformat(), "arquivo": f.nome_original or f.arquivo.rsplit("/", 1)[-1],
             "sha256": f.sha256, "tamanho": f.tamanho} for f in processo.faturas_ativas]


def cliente_payload(cliente) -> dict:
    return {"id": str(cliente.id), "nome": cliente.nome, "cnpj": cliente.cnpj, "codigo": cliente.codigo}


def is_download(execucao) -> bool:
    return execucao.tipo == TipoExecucao.DOWNLOAD
