"""A lote's counts (done, failed, waiting), its failed lines and its per-line report: SQL aggregates and pages
over `lote_linhas` joined to the runs, never a loop over the lines in Python."""
from sqlalchemy import and_, case, func, or_, select

from apps.core.types import db
from apps.lotes.models import LoteLinha, StatusLote
from apps.processos.models import Execucao, StatusExecucao


def _counts_query():
    run_status = Execucao.status
    return (select(LoteLinha.lote_id,
                   func.count(case((run_status == StatusExecucao.CONCLUIDO, 1))),
                   func.count(case((run_status == StatusExecucao.FALHOU, 1))),
                   func.count(case((run_status.in_(StatusExecucao.ACTIVE), 1))),
                   func.count(case((and_(LoteLinha.execucao_id.is_(None), LoteLinha.mensagem.is_not(None)), 1))))
            .select_from(LoteLinha).outerjoin(Execucao, Execucao.id == LoteLinha.execucao_id)
            .group_by(LoteLinha.lote_id))


def _progress(lote, concluidas=0, falhas_run=0, ativas=0, sem_run=0) -> dict:
    """While the lote is written, a line not decided yet is waiting; once written, a line is done, failed (its
    run failed, or it got none) or waiting (its run is active)."""
    total = lote.total
    if lote.status == StatusLote.PROCESSANDO:
        falhas = falhas_run + sem_run
        aguardando = max(0, total - concluidas - falhas)
    else:
        aguardando = ativas
        falhas = max(0, total - concluidas - ativas)
    return {"status": situacao(lote, aguardando), "total": total, "concluidas": concluidas, "falhas": falhas,
            "aguardando": aguardando, "nao_executadas": sem_run}


def progress(lote) -> dict:
    """A lote's counts, from one aggregate over its lines and their runs."""
    row = db.session.execute(_counts_query().where(LoteLinha.lote_id == lote.id)).first()
    return _progress(lote, *(int(v or 0) for v in row[1:])) if row else _progress(lote)


def progress_many(lotes) -> dict:
    """{lote id: counts} of a page of lotes, from one grouped aggregate."""
    ids = [lote.id for lote in lotes]
    rows = {row[0]: row[1:] for row in db.session.execute(_counts_query().where(LoteLinha.lote_id.in_(ids)))} \
        if ids else {}
    return {lote.id: _progress(lote, *(int(v or 0) for v in rows.get(lote.id, ()))) for lote in lotes}


def situacao(lote, aguardando: int) -> str:
    if lote.status != StatusLote.IMPORTADO:
        return lote.status
    return StatusLote.EM_EXECUCAO if aguardando else StatusLote.CONCLUIDO


def erros(lote, limit: int = 1000) -> list[tuple]:
    """(linha, motivo) of the lines that failed: their run failed, or they got none; in line order."""
    query = (select(LoteLinha.linha, func.coalesce(LoteLinha.mensagem, Execucao.mensagem))
             .select_from(LoteLinha).outerjoin(Execucao, Execucao.id == LoteLinha.execucao_id)
             .where(LoteLinha.lote_id == lote.id,
                    or_(Execucao.status == StatusExecucao.FALHOU, LoteLinha.mensagem.is_not(None)))
             .order_by(LoteLinha.linha).limit(limit))
    return [(linha, motivo or "Falhou sem mensagem.") for linha, motivo in db.session.execute(query)]


def report_rows(lote, page: int = 5000):
    """Every line for the CSV report: (linha, CNPJ, competência, ação, processo, status, mensagem), a page
    (keyset by line) at a time."""
    after = 0
    while True:
        rows = db.session.execute(
            select(LoteLinha.linha, LoteLinha.cnpj, LoteLinha.competencia, LoteLinha.acao, LoteLinha.processo_id,
                   Execucao.status, func.coalesce(LoteLinha.mensagem, Execucao.mensagem))
            .select_from(LoteLinha).outerjoin(Execucao, Execucao.id == LoteLinha.execucao_id)
            .where(LoteLinha.lote_id == lote.id, LoteLinha.linha > after)
            .order_by(LoteLinha.linha).limit(page)).all()
        if not rows:
            return
        for linha, cnpj, competencia, acao, processo_id, status, mensagem in rows:
            label = StatusExecucao.LABELS.get(status, status) if status else "Não executada"
            yield linha, cnpj, competencia, acao, str(processo_id) if processo_id else "", label, mensagem or ""
        after = rows[-1][0]
        db.session.expunge_all()
