"""The life of a robot run, as the worker records it: started, log lines, finished or failed.

Every change is conditional on the execucao still being active, so two followers of the same
run (a retried job, a reconciler racing a slow worker) cannot finish it twice.
"""
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from apps.core import audit
from apps.core.types import db, utcnow
from apps.processos import state, storage
from apps.processos.models import Execucao, ExecucaoLog, Fatura, StatusExecucao, TipoExecucao
from apps.processos.state import ProcessoError

LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR"}


class FaturaInvalida(ValueError):
    """An invoice the robot reported that we refuse to record (bad hash, bad data)."""


def _conditional(execucao, from_statuses, **values) -> bool:
    result = db.session.execute(
        update(Execucao).where(Execucao.id == execucao.id, Execucao.status.in_(from_statuses))
        .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    )
    db.session.refresh(execucao)
    return result.rowcount == 1


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
        audit.record("execucao_falhou", entity=execucao.processo, detail=f"{execucao.tipo}: {mensagem}"[:1000])
    db.session.commit()
    return ok


def _parse_line(raw: dict):
    try:
        seq = int(raw.get("seq"))
    except (TypeError, ValueError):
        return None
    level = str(raw.get("level") or "INFO").upper()
    try:
        ts = datetime.fromisoformat(str(raw.get("timestamp")).replace("Z", "+00:00"))
        ts = ts if ts.tzinfo else None
    except ValueError:
        ts = None
    return {"seq": seq, "level": level if level in LEVELS else "INFO", "message": str(raw.get("message") or ""),
            "timestamp": ts or utcnow(), "service": (raw.get("service") or None),
            "logger": (raw.get("logger") or None)}


def gravar_logs(execucao, raw_lines) -> list:
    """Store the lines not stored yet (once per seq); return only those, in order, for publishing."""
    parsed = {p["seq"]: p for p in (_parse_line(r) for r in raw_lines) if p and p["seq"] > 0}
    if not parsed:
        return []
    rows = [{"execucao_id": execucao.id, **parsed[seq]} for seq in sorted(parsed)]
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ExecucaoLog).on_conflict_do_nothing(index_elements=["execucao_id", "seq"])
    inserted = db.session.scalars(stmt.returning(ExecucaoLog.id), rows).all()  # RETURNING: new rows only
    top = rows[-1]["seq"]
    db.session.execute(update(Execucao).where(Execucao.id == execucao.id, Execucao.ultimo_seq < top)
                       .values(ultimo_seq=top).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(execucao)
    if not inserted:
        return []
    return list(db.session.scalars(select(ExecucaoLog).where(ExecucaoLog.id.in_(inserted)).order_by(ExecucaoLog.seq)))


def validar_fatura(meta: dict, data: bytes) -> dict:
    """Check one downloaded invoice against what the robot declared; FaturaInvalida otherwise."""
    numero = str(meta.get("numero") or "").strip()
    name = meta.get("arquivo") or "?"
    declared = (meta.get("sha256") or "").lower()
    actual = storage.sha256_hex(data)
    if declared and declared != actual:
        raise FaturaInvalida(f"Fatura {numero or name}: o sha256 do arquivo não confere com o informado pela API "
                             f"(esperado {declared[:12]}…, recebido {actual[:12]}…).")
    if meta.get("tamanho") not in (None, len(data)):
        raise FaturaInvalida(f"Fatura {numero or name}: tamanho do arquivo diferente do informado.")
    try:
        storage.check_pdf(data)
        valor = Decimal(str(meta.get("valor")))
        vencimento = date.fromisoformat(str(meta.get("vencimento")))
        emissao = date.fromisoformat(meta["emissao"]) if meta.get("emissao") else None
    except (storage.StorageError, InvalidOperation, ValueError, TypeError) as exc:
        raise FaturaInvalida(f"Fatura {numero or name}: dados inválidos ({exc}).") from exc
    if not numero or not valor.is_finite():
        raise FaturaInvalida(f"Fatura {name}: número ou valor ausente.")
    return {"numero": numero[:80], "valor": valor.quantize(Decimal("0.01")), "vencimento": vencimento,
            "emissao": emissao, "sha256": actual, "tamanho": len(data), "nome_original": str(name)[:255]}


def concluir_download(execucao, faturas: list[tuple[dict, bytes]]) -> bool:
    """Record the checked invoices, finish the run and move the processo to approval, at once."""
    checked = [(validar_fatura(meta, data), data) for meta, data in faturas]
    if not checked:
        raise FaturaInvalida("O robô concluiu sem nenhuma fatura.")
    stored = []
    try:
        for _, data in checked:
            stored.append(storage.save(execucao.processo_id, data))
        if not _conditional(execucao, (StatusExecucao.EXECUTANDO,), status=StatusExecucao.CONCLUIDO,
                            data_fim=utcnow(), mensagem=f"{len(checked)} fatura(s) baixada(s)."):
            raise ProcessoError("execução já finalizada")
        for (fields, _), arquivo in zip(checked, stored, strict=True):
            db.session.add(Fatura(processo_id=execucao.processo_id, execucao_id=execucao.id, arquivo=arquivo, **fields))
        state.move(execucao.processo, "download_concluido",
                   comentario=f"{len(checked)} fatura(s) baixada(s) pelo robô")
        db.session.commit()
        return True
    except Exception:
        db.session.rollback()
        for arquivo in stored:
            storage.delete(arquivo)
        raise


def concluir_sat(execucao, protocolo: str) -> bool:
    """Store the SAT protocol, finish the run and move the processo to UPLOAD_REALIZADO."""
    if not _conditional(execucao, (StatusExecucao.EXECUTANDO,), status=StatusExecucao.CONCLUIDO,
                        data_fim=utcnow(), mensagem=f"Protocolo SAT {protocolo}"):
        db.session.rollback()
        return False
    execucao.processo.protocolo_sat = str(protocolo)[:120]
    state.move(execucao.processo, "envio_sat_concluido", comentario=f"protocolo {protocolo}")
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
