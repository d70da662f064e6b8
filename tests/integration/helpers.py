"""Reads shared by the integration tests: the DB as the workers left it, and the simulator over HTTP."""
import hashlib
import time

import requests
from sqlalchemy import func, select

from apps.core.audit import AuditLog
from apps.core.types import db, parse_uuid
from apps.processos import storage
from apps.processos.models import Execucao, ExecucaoLog, Fatura, Processo, StatusExecucao


def processo_of(processo_id) -> Processo:
    return db.session.get(Processo, parse_uuid(processo_id), populate_existing=True)


def execucoes_of(processo_id) -> list[Execucao]:
    return list(db.session.scalars(select(Execucao).where(Execucao.processo_id == processo_id)
                                    .order_by(Execucao.created_at)).all())


def finished(execucao_id):
    """The execucao once CONCLUIDO or FALHOU, else None."""
    execucao = db.session.get(Execucao, parse_uuid(execucao_id), populate_existing=True)
    return execucao if execucao is not None and execucao.status not in StatusExecucao.ACTIVE else None


def stored_logs(execucao_id) -> list[tuple]:
    query = (select(ExecucaoLog).where(ExecucaoLog.execucao_id == parse_uuid(execucao_id))
             .order_by(ExecucaoLog.seq, ExecucaoLog.id))
    return [(row.seq, row.level, row.message) for row in db.session.scalars(query)]


def faturas_of(processo_id) -> list[Fatura]:
    return list(db.session.scalars(select(Fatura).where(Fatura.processo_id == processo_id)))


def audit_actions(entity_id=None) -> list[str]:
    query = select(AuditLog.action).order_by(AuditLog.created_at)
    if entity_id is not None:
        query = query.where(AuditLog.entity_id == str(entity_id))
    return list(db.session.scalars(query))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def file_sha256(fatura) -> str | None:
    path = storage.path_of(fatura.arquivo)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def stored_files(timeout: float = 5.0) -> list:
    """The invoice files on disk (a run's log and receipt artefatos, under execucoes/, are not invoices), once
    no temporary download is left: a refused run's files are removed just after its end is committed."""
    deadline = time.monotonic() + timeout
    while True:
        files = sorted(p for p in storage.root().rglob("*") if p.is_file() and "execucoes" not in p.parts)
        if not any(".incoming" in p.parts for p in files) or time.monotonic() > deadline:
            return files
        time.sleep(0.05)


class SimHttp:
    """The simulator's contract routes, read with a valid token (what the robots really reported)."""

    def __init__(self, sim):
        self.sim = sim
        self.headers = {"Authorization": f"Bearer {sim.issue_token()}"}

    def get(self, path, **params):
        response = requests.get(self.sim.url + path, headers=self.headers, params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def job(self, job_id) -> dict:
        return self.get(f"/jobs/{job_id}")

    def logs(self, job_id) -> list[tuple]:
        return [(line["seq"], line["level"], line["message"])
                for line in self.get(f"/jobs/{job_id}/logs", after=0)["logs"]]
