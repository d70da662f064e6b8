"""Queries over the audit trail."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from apps.core.audit import AuditLog
from apps.core.excel_csv import excel_lines
from apps.core.records import contains
from apps.core.templating import local_dt
from apps.core.types import db

ACTION_LABELS = {
    "login": "Login", "login_falhou": "Login falhou", "login_bloqueado": "Login bloqueado", "logout": "Logout",
    "usuario_criado": "Usuário criado", "usuario_alterado": "Usuário alterado", "senha_redefinida": "Senha redefinida",
    "token_global_alterado": "Token global alterado", "token_global_renovado": "Token global renovado",
    "processo_aprovar": "Aprovação", "processo_rejeitar": "Rejeição", "execucao_iniciada": "Execução iniciada",
    "execucao_falhou": "Execução falhou", "processos_gerados": "Processos gerados",
    "clientes_importados": "Clientes importados", "downloads_enfileirados": "Downloads enfileirados",
    "token_global_testado": "Conexão testada",
}


def _date(value):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date() if value else None
    except ValueError:
        return None


def parse_filters(args) -> dict:
    return {"usuario": args.get("usuario", "").strip(), "acao": args.get("acao", "").strip(),
            "registro": args.get("registro", "").strip(), "de": _date(args.get("de")), "ate": _date(args.get("ate"))}


def filtered_query(f: dict):
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    query = select(AuditLog).order_by(AuditLog.created_at.desc())
    if f["usuario"]:
        query = query.where(contains(f["usuario"], AuditLog.username))
    if f["acao"]:
        query = query.where(AuditLog.action == f["acao"])
    if f["registro"]:
        query = query.where(contains(f["registro"], AuditLog.entity_id, AuditLog.entity_type, AuditLog.detail))
    if f["de"]:
        query = query.where(AuditLog.created_at >= datetime.combine(f["de"], time.min, tz))
    if f["ate"]:
        query = query.where(AuditLog.created_at < datetime.combine(f["ate"] + timedelta(days=1), time.min, tz))
    return query


def actions_in_use() -> list[str]:
    return sorted(db.session.scalars(select(AuditLog.action).distinct()))


def csv_rows(query, batch: int = 1000):
    """The filtered trail as Excel-friendly CSV chunks, reading it in batches."""
    header = ("Data/hora", "Usuário", "Ação", "Registro", "Identificador", "Detalhe", "Endereço IP")
    return excel_lines(header, ((local_dt(row.created_at, "%d/%m/%Y %H:%M:%S"), row.username or "sistema",
                                 row.action, row.entity_type, row.entity_id, row.detail, row.ip)
                                for row in _batched(query, batch)))


def _batched(query, batch: int):
    offset = 0
    while True:
        rows = db.session.scalars(query.offset(offset).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        offset += batch
