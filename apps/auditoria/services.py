"""Queries over the audit trail."""
from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from sqlalchemy import select

from apps.auth.models import User
from apps.clientes.importacao import Importacao
from apps.clientes.models import Cliente
from apps.core.audit import ACTION_LABELS, AuditLog
from apps.core.excel_csv import excel_lines
from apps.core.records import contains
from apps.core.templating import local_dt
from apps.core.types import db, parse_uuid
from apps.operadoras.models import Operadora
from apps.processos.models import Processo

# The page of each kind of record: (model, endpoint, the endpoint's id argument).
RECORD_PAGES = {
    "processos": (Processo, "processos.detail", "processo_id"),
    "clientes": (Cliente, "clientes.edit", "cliente_id"),
    "operadoras": (Operadora, "operadoras.edit", "operadora_id"),
    "users": (User, "auth.user_edit", "user_id"),
    "importacoes": (Importacao, "clientes.importacao", "importacao_id"),
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
    """The trail, newest first, under the filters; `registro` finds a record by its name whatever the case and
    accents ('sao joao' finds 'São João Ltda · 2026-05'), or by its id, type or the entry's detail."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    query = select(AuditLog).order_by(AuditLog.created_at.desc())
    if f["usuario"]:
        query = query.where(contains(f["usuario"], AuditLog.username))
    if f["acao"]:
        query = query.where(AuditLog.action == f["acao"])
    if f["registro"]:
        query = query.where(contains(f["registro"], AuditLog.entity_id, AuditLog.entity_type, AuditLog.detail,
                                     keys=(AuditLog.registro_busca,)))
    if f["de"]:
        query = query.where(AuditLog.created_at >= datetime.combine(f["de"], time.min, tz))
    if f["ate"]:
        query = query.where(AuditLog.created_at < datetime.combine(f["ate"] + timedelta(days=1), time.min, tz))
    return query


def action_choices() -> list[tuple[str, str]]:
    """The actions the trail holds, as (code, label), in the order of their labels."""
    codes = db.session.scalars(select(AuditLog.action).distinct())
    return sorted(((code, ACTION_LABELS.get(code, code)) for code in codes), key=lambda choice: choice[1].casefold())


def record_links(entries) -> dict:
    """{entry id: the page of its record}, for the entries whose record still exists (one query per kind)."""
    wanted = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        uid = parse_uuid(entry.entity_id) if entry.entity_type in RECORD_PAGES else None
        if uid is not None:
            wanted[entry.entity_type][uid].append(entry.id)
    links = {}
    for entity_type, entries_of in wanted.items():
        model, endpoint, argument = RECORD_PAGES[entity_type]
        for uid in db.session.scalars(select(model.id).where(model.id.in_(list(entries_of)))):
            links.update(dict.fromkeys(entries_of[uid], url_for(endpoint, **{argument: uid})))
    return links


def csv_rows(query, batch: int = 1000):
    """The filtered trail as Excel-friendly CSV chunks, reading it in batches (codes, not labels)."""
    header = ("Data/hora", "Usuário", "Ação", "Registro", "Identificador", "Detalhe", "Endereço IP", "Nome do registro")
    return excel_lines(header, ((local_dt(row.created_at, "%d/%m/%Y %H:%M:%S"), row.username or "sistema",
                                 row.action, row.entity_type, row.entity_id, row.detail, row.ip, row.registro)
                                for row in _batched(query, batch)))


def _batched(query, batch: int):
    offset = 0
    while True:
        rows = db.session.scalars(query.offset(offset).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        offset += batch
