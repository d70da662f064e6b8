"""Approval tasks: opened when processos reach AGUARDANDO_APROVACAO, assigned by workload, reassigned,
taken ("Assumir"). Opening is a batch: a constant number of statements however many processos arrive.
Services flush; the caller (request, job, CLI) commits."""
import uuid
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from apps.aprovacoes.calendario import somar_dias_uteis
from apps.aprovacoes.models import TarefaAprovacao, aprovadores
from apps.aprovacoes.prazo import agora, hoje
from apps.aprovacoes.regras import ausente, pode_aprovar
from apps.auth.models import User
from apps.auth.policy import has_permission
from apps.clientes.models import Cliente
from apps.core import audit
from apps.core.audit import AuditLog
from apps.core.errors import ServiceError
from apps.core.types import db
from apps.notificacoes import events
from apps.operadoras.models import Operadora
from apps.processos.models import Fatura, Processo, StatusProcesso

CHUNK = 2000          # processos per batch (far under SQLite's and PostgreSQL's bound-parameter limits)
MESES_MEDIA = 3       # "vs média de 3 meses"
LINK = "/aprovacoes"


class AprovacaoError(ServiceError):
    status = 409


def competencias_anteriores(competencia: str, n: int = MESES_MEDIA) -> list[str]:
    year, month = int(competencia[:4]), int(competencia[5:7])
    out = []
    for _ in range(n):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        out.append(f"{year:04d}-{month:02d}")
    return out


def grupo(operadora_ids) -> dict:
    """{operadora_id: [User]} of the approvers groups (one query)."""
    ids = list(operadora_ids)
    result = defaultdict(list)
    if not ids:
        return result
    rows = db.session.execute(select(aprovadores.c.operadora_id, User).join(User, User.id == aprovadores.c.user_id)
                              .where(aprovadores.c.operadora_id.in_(ids)).order_by(User.username))
    for operadora_id, user in rows:
        result[operadora_id].append(user)
    return result


def carga(user_ids) -> dict:
    """{user_id: (open tasks, last assignment or None)} in one query."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(TarefaAprovacao.responsavel_id, func.sum(case((TarefaAprovacao.aberta.is_(True), 1), else_=0)),
               func.max(TarefaAprovacao.atribuida_em))
        .where(TarefaAprovacao.responsavel_id.in_(ids)).group_by(TarefaAprovacao.responsavel_id))
    return {uid: (int(abertas or 0), ultima) for uid, abertas, ultima in rows}


class _Balanceador:
    """Picks, per operadora, the available approver with the fewest open tasks; ties: the one assigned
    longest ago (never assigned first), then the username. Counts shared across operadoras."""

    EPOCH = datetime.min

    def __init__(self, grupos: dict, today):
        members = {u.id: u for users in grupos.values() for u in users
                   if u.ativo and pode_aprovar(u) and not ausente(u, today)}
        self.users = members
        loads = carga(members)
        self.state = {}
        for uid in members:
            abertas, ultima = loads.get(uid, (0, None))
            self.state[uid] = [abertas, ultima.replace(tzinfo=None) if ultima else self.EPOCH, 0]
        self.grupos = {op: [u.id for u in users if u.id in members] for op, users in grupos.items()}
        self.tick = 0

    def escolher(self, operadora_id):
        candidatos = self.grupos.get(operadora_id) or []
        if not candidatos:
            return None
        best = min(candidatos, key=lambda uid: (self.state[uid][0], self.state[uid][1], self.state[uid][2],
                                                self.users[uid].username))
        self.tick += 1
        self.state[best][0] += 1
        self.state[best][1] = datetime.max   # just assigned: last in the tie-break for the rest of the batch
        self.state[best][2] = self.tick
        return best


def _totais(processo_ids) -> dict:
    rows = db.session.execute(select(Fatura.processo_id, func.count(), func.sum(Fatura.valor))
                              .where(Fatura.processo_id.in_(processo_ids), Fatura.rejeitada.is_(False))
                              .group_by(Fatura.processo_id))
    return {pid: (int(n), Decimal(total or 0)) for pid, n, total in rows}


def _medias(linhas) -> dict:
    """{(cliente_id, competencia): mean total of the cliente's previous months with invoices} (one query)."""
    anteriores = {c: competencias_anteriores(c) for c in {row.competencia for row in linhas}}
    meses = {m for ms in anteriores.values() for m in ms}
    clientes = {row.cliente_id for row in linhas}
    if not clientes:
        return {}
    rows = db.session.execute(
        select(Processo.cliente_id, Processo.competencia, func.sum(Fatura.valor))
        .join(Fatura, Fatura.processo_id == Processo.id)
        .where(Processo.cliente_id.in_(clientes), Processo.competencia.in_(meses), Fatura.rejeitada.is_(False))
        .group_by(Processo.cliente_id, Processo.competencia))
    por_mes = {(cliente, mes): Decimal(total or 0) for cliente, mes, total in rows}
    medias = {}
    for row in linhas:
        valores = [por_mes[(row.cliente_id, m)] for m in anteriores[row.competencia] if (row.cliente_id, m) in por_mes]
        medias[row.id] = (sum(valores) / len(valores)).quantize(Decimal("0.01")) if valores else None
    return medias


def _insert_ignoring_open():
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(TarefaAprovacao.__table__).on_conflict_do_nothing(
        index_elements=["processo_id"], index_where=text("aberta"))  # the partial unique index's predicate


def abrir(processo_ids, enviado_por=None, now=None) -> int:
    """Open (and assign) an approval task for each processo given that waits for approval and has none open;
    the number opened. Flushes; one notify call per responsavel."""
    ids = list(dict.fromkeys(processo_ids))
    opened, por_usuario, users = 0, defaultdict(list), {}
    for start in range(0, len(ids), CHUNK):
        opened += _abrir_lote(ids[start:start + CHUNK], enviado_por, now or agora(), por_usuario, users)
    for uid, linhas in por_usuario.items():
        events.notify(events.APROVACAO_ATRIBUIDA, [users[uid]], text=_texto_atribuidas(linhas), link=LINK)
    return opened


def _abrir_lote(ids, enviado_por, now, por_usuario, users) -> int:
    """One chunk: rows, totals, means, groups and workloads read in five queries, one INSERT, one audit INSERT.
    Fills `por_usuario` ({user id: rows assigned}) and `users` for the caller's notifications."""
    # Not a correlated NOT EXISTS: without fresh statistics SQLite may answer each one by scanning every open task.
    com_tarefa = set(db.session.scalars(select(TarefaAprovacao.processo_id).where(
        TarefaAprovacao.processo_id.in_(ids), TarefaAprovacao.aberta.is_(True))))
    linhas = [r for r in db.session.execute(
        select(Processo.id, Processo.cliente_id, Processo.competencia, Processo.cliente_nome, Cliente.operadora_id,
               Operadora.prazo_aprovacao_dias_uteis)
        .join(Cliente, Cliente.id == Processo.cliente_id).join(Operadora, Operadora.id == Cliente.operadora_id)
        .where(Processo.id.in_(ids), Processo.status == StatusProcesso.AGUARDANDO_APROVACAO)) if r.id not in com_tarefa]
    if not linhas:
        return 0
    today = hoje(now)
    totais, medias = _totais([r.id for r in linhas]), _medias(linhas)
    balanceador = _Balanceador(grupo({r.operadora_id for r in linhas}), today)
    prazos = {}
    rows, assigned = [], defaultdict(list)
    for r in linhas:
        responsavel = balanceador.escolher(r.operadora_id)
        if r.prazo_aprovacao_dias_uteis not in prazos:
            prazos[r.prazo_aprovacao_dias_uteis] = somar_dias_uteis(today, r.prazo_aprovacao_dias_uteis)
        n, total = totais.get(r.id, (0, Decimal("0")))
        rows.append({"id": uuid.uuid4(), "processo_id": r.id, "operadora_id": r.operadora_id,
                     "responsavel_id": responsavel, "atribuida_em": now if responsavel else None,
                     "prazo": prazos[r.prazo_aprovacao_dias_uteis], "aberta": True,
                     "enviado_por_id": getattr(enviado_por, "id", None), "n_faturas": n, "total": total,
                     "media_anterior": medias.get(r.id), "created_at": now, "updated_at": now})
        if responsavel:
            assigned[responsavel].append(r)
    inserted = set(db.session.scalars(_insert_ignoring_open().returning(TarefaAprovacao.processo_id), rows))
    nomes = {uid: u.username for uid, u in balanceador.users.items()}
    db.session.execute(insert(AuditLog), [
        {"id": uuid.uuid4(), "created_at": now, "action": "aprovacao_atribuida", "entity_type": "processos",
         "entity_id": str(row["processo_id"]), "registro": f"{r.cliente_nome} · {r.competencia}"[:300],
         "detail": (f"responsável: {nomes[row['responsavel_id']]}" if row["responsavel_id"] else
                    "sem responsável (a operadora não tem aprovadores disponíveis)") + f" · prazo {row['prazo']:%d/%m/%Y}"}
        for row, r in zip(rows, linhas, strict=True) if row["processo_id"] in inserted])
    for uid, processos in assigned.items():
        chegaram = [r for r in processos if r.id in inserted]
        if chegaram:
            por_usuario[uid].extend(chegaram)
            users[uid] = balanceador.users[uid]
    db.session.flush()
    return len(inserted)


def _texto_atribuidas(linhas) -> str:
    if len(linhas) == 1:
        return f"Processo de {linhas[0].cliente_nome} ({linhas[0].competencia}) aguarda sua aprovação"
    return f"{len(linhas)} processos aguardam sua aprovação"


def abrir_pendentes(now=None) -> dict:
    """Catch up: open tasks for processos waiting for approval without one; close tasks whose processo left
    approval some other way. Idempotent (the cron job runs it before the reminders)."""
    abertas_ids = select(TarefaAprovacao.processo_id).where(TarefaAprovacao.aberta.is_(True))  # uncorrelated: once
    ids = list(db.session.scalars(select(Processo.id).where(Processo.status == StatusProcesso.AGUARDANDO_APROVACAO,
                                                            Processo.id.not_in(abertas_ids))))
    abertas = abrir(ids, now=now) if ids else 0
    fora = select(Processo.id).where(Processo.status != StatusProcesso.AGUARDANDO_APROVACAO)
    fechadas = db.session.execute(
        update(TarefaAprovacao).where(TarefaAprovacao.aberta.is_(True), TarefaAprovacao.processo_id.in_(fora))
        .values(aberta=False, fechada_em=now or agora(), resultado="CANCELADO")
        .execution_options(synchronize_session=False)).rowcount
    return {"abertas": abertas, "fechadas": fechadas}


# --- people acting on a task ---------------------------------------------------------------------

def _no_grupo(user, operadora_id) -> bool:
    return db.session.scalar(select(aprovadores.c.user_id).where(aprovadores.c.operadora_id == operadora_id,
                                                                 aprovadores.c.user_id == user.id)) is not None


def _mudar_responsavel(tarefa, de, para, now) -> bool:
    """Conditional on the responsavel still being `de`: of two people acting at once, one wins."""
    result = db.session.execute(
        update(TarefaAprovacao).where(TarefaAprovacao.id == tarefa.id, TarefaAprovacao.aberta.is_(True),
                                      TarefaAprovacao.responsavel_id.is_(None) if de is None
                                      else TarefaAprovacao.responsavel_id == de)
        .values(responsavel_id=para, atribuida_em=now, updated_at=now).execution_options(synchronize_session=False))
    db.session.refresh(tarefa)
    return result.rowcount == 1


def _aberta_ou_erro(processo_id) -> TarefaAprovacao:
    tarefa = db.session.scalar(select(TarefaAprovacao).where(TarefaAprovacao.processo_id == processo_id,
                                                             TarefaAprovacao.aberta.is_(True)))
    if tarefa is None:
        raise AprovacaoError("Este processo não tem aprovação pendente.", 404)
    return tarefa


def atribuir(processo, usuario, by) -> TarefaAprovacao:
    """An Admin gives the task to `usuario` (who must have approval rights); the API's atribuir also lets an
    approver take it for themselves when "Assumir" would."""
    tarefa = _aberta_ou_erro(processo.id)
    if usuario is not None and by is not None and usuario.id == by.id and not has_permission(by, "aprovacao.atribuir"):
        return assumir(processo, by)
    if not has_permission(by, "aprovacao.atribuir"):
        raise AprovacaoError("Somente um Admin pode reatribuir uma aprovação.", 403)
    if usuario is None or not usuario.ativo or not pode_aprovar(usuario):
        raise AprovacaoError("Escolha um usuário ativo com permissão de aprovar.", 422,
                             {"usuario_id": "usuário sem permissão de aprovar"})
    if tarefa.responsavel_id == usuario.id:
        return tarefa  # already theirs: a double click changes nothing
    anterior = tarefa.responsavel_id
    now = agora()
    if not _mudar_responsavel(tarefa, anterior, usuario.id, now):
        raise AprovacaoError("A aprovação mudou de responsável enquanto você agia; recarregue a página.")
    antes = db.session.get(User, anterior).username if anterior else "ninguém"
    audit.record("aprovacao_reatribuida", entity=processo, user=by, detail=f"{antes} → {usuario.username}")
    events.notify(events.APROVACAO_ATRIBUIDA, [usuario], link=LINK,
                  text=f"Processo de {processo.cliente_nome} ({processo.competencia}) aguarda sua aprovação")
    return tarefa


def assumir(processo, by) -> TarefaAprovacao:
    """An approver of the operadora's group takes a task without responsável, or one of an absent colleague."""
    tarefa = _aberta_ou_erro(processo.id)
    if not pode_aprovar(by):
        raise AprovacaoError("Você não tem permissão para aprovar.", 403)
    if tarefa.responsavel_id == by.id:
        return tarefa
    if not (has_permission(by, "aprovacao.atribuir") or _no_grupo(by, tarefa.operadora_id)):
        raise AprovacaoError("Você não está no grupo de aprovadores desta operadora.", 403)
    atual = db.session.get(User, tarefa.responsavel_id) if tarefa.responsavel_id else None
    if atual is not None and atual.ativo and not ausente(atual):
        raise AprovacaoError(f"Esta aprovação é de {atual.username}, que não está ausente: peça a um Admin "
                             "para reatribuí-la.", 409)
    if not _mudar_responsavel(tarefa, tarefa.responsavel_id, by.id, agora()):
        raise AprovacaoError("Outra pessoa assumiu esta aprovação enquanto você agia; recarregue a página.")
    audit.record("aprovacao_assumida", entity=processo, user=by,
                 detail=f"assumida de {atual.username} (ausente)" if atual else "assumida (estava sem responsável)")
    return tarefa


def definir_aprovadores(operadora, user_ids, by) -> list:
    """Replace the operadora's group of approvers; every one must be an active user with approval rights."""
    ids = list(dict.fromkeys(user_ids or []))
    users = list(db.session.scalars(select(User).where(User.id.in_(ids)))) if ids else []
    found = {u.id: u for u in users}
    ruins = [str(i) for i in ids if i not in found or not found[i].ativo or not pode_aprovar(found[i])]
    if ruins:
        raise AprovacaoError("Aprovadores inválidos: escolha usuários ativos com permissão de aprovar.", 422,
                             {"aprovadores": "usuário inexistente, inativo ou sem permissão de aprovar: "
                                             + ", ".join(ruins)})
    atuais = set(db.session.scalars(select(aprovadores.c.user_id).where(aprovadores.c.operadora_id == operadora.id)))
    if atuais == set(ids):
        return users
    db.session.execute(delete(aprovadores).where(aprovadores.c.operadora_id == operadora.id))
    if ids:
        db.session.execute(insert(aprovadores), [{"operadora_id": operadora.id, "user_id": uid} for uid in ids])
    audit.record("operadora_aprovadores_alterados", entity=operadora, user=by,
                 detail="aprovadores: " + (", ".join(sorted(u.username for u in users)) or "nenhum"))
    return users


def aprovadores_de(operadora_id) -> list:
    """The user ids of an operadora's group, in username order."""
    return [u.id for u in grupo([operadora_id]).get(operadora_id, [])]


def lands_on_inbox(user) -> bool:
    """Approvers land on their inbox after login: people with approval rights in a group or holding a task."""
    if not pode_aprovar(user):
        return False
    in_group = select(aprovadores.c.user_id).where(aprovadores.c.user_id == user.id).exists()
    holds = select(TarefaAprovacao.id).where(TarefaAprovacao.responsavel_id == user.id,
                                             TarefaAprovacao.aberta.is_(True)).exists()
    return bool(db.session.scalar(select(in_group | holds)))


def definir_ausencia(user, ate, by) -> bool:
    """Set (or clear, with None) the day until which `user` is away; True when it changed (audited).
    While away they get no new tasks, and their open tasks go to the group (unowned: "Sem responsável") for a
    colleague to take."""
    if ate is not None and ate < hoje():
        raise AprovacaoError("A data de ausência já passou: informe hoje ou uma data futura (ou deixe em branco).",
                             422, {"ausente_ate": "data passada"})
    if user.ausente_ate == ate:
        return False
    user.ausente_ate = ate
    abertas = 0
    if ate is not None:  # their open tasks go to the group: unowned, for any approver of it to take
        abertas = db.session.execute(update(TarefaAprovacao).where(
            TarefaAprovacao.responsavel_id == user.id, TarefaAprovacao.aberta.is_(True)).values(
            responsavel_id=None).execution_options(synchronize_session="fetch")).rowcount
    audit.record("usuario_ausencia", entity=user, user=by,
                 detail=(f"ausente até {ate:%d/%m/%Y}; {abertas} aprovação(ões) aberta(s) passaram ao grupo"
                         if ate else "ausência encerrada"))
    return True


def aprovadores_possiveis() -> list:
    """Active users with approval rights, by username (for the group and reassign selects; one query)."""
    users = db.session.scalars(select(User).where(User.ativo.is_(True)).order_by(User.busca, User.username))
    return [u for u in users if pode_aprovar(u)]
