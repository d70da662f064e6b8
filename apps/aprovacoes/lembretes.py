"""Reminders and escalation (`rq cron`, every APROVACOES_CHECK_INTERVAL seconds; safe to run twice).

On the due day the responsavel is reminded once (PRAZO_HOJE; the group when nobody, or only an absent
colleague, holds the task); once overdue, the operadora's group and the admins are told (PRAZO_VENCIDO),
at most once a day. Each task is claimed by a conditional UPDATE … RETURNING before anyone is told, so two
runs at the same moment never tell twice. Nothing is ever approved by a timeout.
"""
import logging
from collections import defaultdict
from datetime import time

from flask import current_app
from sqlalchemy import or_, select, update

from apps.aprovacoes import tarefas
from apps.aprovacoes.models import TarefaAprovacao
from apps.aprovacoes.prazo import agora, hoje
from apps.aprovacoes.regras import ausente
from apps.auth.models import Role, User
from apps.core.clock import local_tz
from apps.core.types import db
from apps.notificacoes import events
from apps.processos.models import Processo

log = logging.getLogger(__name__)


def _claim(condition, column, today) -> list:
    """Mark the open tasks matching `condition` as told today; their ids (only those this run marked)."""
    stmt = (update(TarefaAprovacao)
            .where(TarefaAprovacao.aberta.is_(True), condition, or_(column.is_(None), column < today))
            .values({column.key: today}).returning(TarefaAprovacao.id)
            .execution_options(synchronize_session=False))
    return list(db.session.scalars(stmt))


def _rows(ids):
    if not ids:
        return []
    return db.session.execute(
        select(TarefaAprovacao.id, TarefaAprovacao.operadora_id, TarefaAprovacao.responsavel_id,
               TarefaAprovacao.prazo, Processo.cliente_nome, Processo.competencia)
        .join(Processo, Processo.id == TarefaAprovacao.processo_id).where(TarefaAprovacao.id.in_(ids))).all()


def _texto(evento, linhas) -> str:
    if len(linhas) == 1:
        alvo = f"Processo de {linhas[0].cliente_nome} ({linhas[0].competencia})"
        return f"{alvo}: a aprovação vence hoje" if evento == events.PRAZO_HOJE else \
            f"{alvo}: aprovação vencida desde {linhas[0].prazo:%d/%m/%Y}"
    if evento == events.PRAZO_HOJE:
        return f"{len(linhas)} aprovações vencem hoje"
    return f"{len(linhas)} aprovações estão vencidas"


def _tell(evento, destinatarios: dict, users: dict) -> int:
    """One notify call per user, with all of their items."""
    for uid, linhas in destinatarios.items():
        events.notify(evento, [users[uid]], text=_texto(evento, linhas), link=tarefas.LINK)
    return len(destinatarios)


def _ativos(ids) -> dict:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids), User.ativo.is_(True)))}


def lembrar(now=None) -> dict:
    """The reminders of `now`'s day; commits."""
    now = now or agora()
    today = hoje(now)
    aberto = tarefas.abrir_pendentes(now=now)
    if now.astimezone(local_tz()).time() < _hora():
        db.session.commit()
        return {"hoje": 0, "vencidas": 0, **aberto}
    hoje_ids = _claim(TarefaAprovacao.prazo == today, TarefaAprovacao.lembrete_em, today)
    vencidas_ids = _claim(TarefaAprovacao.prazo < today, TarefaAprovacao.escalada_em, today)
    hoje_rows, vencidas_rows = _rows(hoje_ids), _rows(vencidas_ids)
    grupos = tarefas.grupo({r.operadora_id for r in hoje_rows + vencidas_rows})
    admins = list(db.session.scalars(select(User).where(User.role == Role.ADMIN, User.ativo.is_(True))))
    users = {u.id: u for members in grupos.values() for u in members} | {u.id: u for u in admins}
    users |= _ativos(r.responsavel_id for r in hoje_rows)

    lembrar_a = defaultdict(list)
    for r in hoje_rows:
        dono = users.get(r.responsavel_id)
        alvo = [dono] if dono is not None and not ausente(dono, today) else \
            [u for u in grupos.get(r.operadora_id, []) if u.ativo and not ausente(u, today)]
        for u in alvo:
            lembrar_a[u.id].append(r)
    escalar_a = defaultdict(list)
    for r in vencidas_rows:
        for u in {u.id: u for u in [*grupos.get(r.operadora_id, []), *admins] if u.ativo}.values():
            escalar_a[u.id].append(r)
    result = {"hoje": _tell(events.PRAZO_HOJE, lembrar_a, users),
              "vencidas": _tell(events.PRAZO_VENCIDO, escalar_a, users), **aberto,
              "tarefas_hoje": len(hoje_rows), "tarefas_vencidas": len(vencidas_rows)}
    db.session.commit()
    if hoje_rows or vencidas_rows:
        log.info("approval reminders: %s", result)
    return result


def _hora() -> time:
    """APROVACOES_LEMBRETE_HORA ('08:00'): reminders of a day go out from this local time on."""
    text = str(current_app.config.get("APROVACOES_LEMBRETE_HORA") or "08:00")
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


def lembretes_job() -> dict:
    """RQ job registered in apps/cron.py."""
    return lembrar()
