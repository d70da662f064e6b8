"""The read-only graph: operadoras ⇄ clientes ⇄ processos → execucoes (with log lines) and faturas.

Resolvers receive the ORM row as `self` and never touch a relationship attribute (that would be one
query per row): related rows come from `apps.graphql_api.batch`, one query per level.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import strawberry
from sqlalchemy import select

from apps.aprovacoes.models import TarefaAprovacao
from apps.aprovacoes.prazo import hoje
from apps.auth.models import User as UserModel
from apps.clientes.models import Cliente as ClienteModel
from apps.graphql_api import batch
from apps.graphql_api.access import need
from apps.graphql_api.pages import Connection, Keyset, connection, node_levels, page_size
from apps.operadoras.models import Operadora as OperadoraModel
from apps.processos import queries
from apps.processos.models import Execucao as ExecucaoModel
from apps.processos.models import ExecucaoLog, StatusProcesso
from apps.processos.models import Fatura as FaturaModel
from apps.processos.models import Processo as ProcessoModel
from apps.robos.dispatch import loads as robo_loads
from apps.robos.models import Robo as RoboModel
from apps.robos.services import shown_status

OPERADORAS = Keyset(OperadoraModel.codigo, OperadoraModel.id, kinds=(str, uuid.UUID))
CLIENTES = Keyset(ClienteModel.nome_busca, ClienteModel.id, kinds=(str, uuid.UUID))
PROCESSOS = Keyset(ProcessoModel.cliente_nome_busca, ProcessoModel.id, kinds=(str, uuid.UUID))
PROCESSOS_DO_CLIENTE = Keyset(ProcessoModel.competencia, ProcessoModel.id, kinds=(str, uuid.UUID))
EXECUCOES = Keyset(ExecucaoModel.created_at, ExecucaoModel.id, kinds=(datetime.fromisoformat, uuid.UUID))
FATURAS = Keyset(FaturaModel.numero, FaturaModel.id, kinds=(str, uuid.UUID))
LOGS = Keyset(ExecucaoLog.seq, kinds=(int,))


def _related(info, root, model, fk: str):
    """The row of `model` that `root.<fk>` names, loaded for the whole level at once."""
    def loader(siblings):
        rows = batch.by_id(model, {getattr(s, fk) for s in siblings})
        return {s.id: rows.get(getattr(s, fk)) for s in siblings}
    return info.context["batches"].load(info, root, loader)


def _children(info, root, model, parent_column, keyset: Keyset, first, after, where=()):
    """A connection of `root`'s children, loaded with its siblings' in one windowed query.

    graphql-core resolves depth first, so the level below is remembered here, when the children of
    every parent are loaded at once, not parent by parent as each connection is built."""
    size, start = page_size(first), keyset.after(after)
    batches = info.context["batches"]

    def loader(siblings):
        found = batch.children(model, parent_column, [s.id for s in siblings], list(keyset.columns), size, start, where)
        for key in node_levels(info):
            batches.remember(key, [row for rows in found.values() for row in rows[:size]])
        return found

    rows = batches.load(info, root, loader, args=(size, after, tuple(str(w) for w in where)), single=False) or []
    return connection(rows, size, keyset)


@strawberry.type
class Node:
    """What every object of the graph has: its id (the row's UUID, as text)."""

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.id))


@strawberry.type(description="Operadora de telecom cujas faturas os robôs baixam.")
class Operadora(Node):
    codigo: str
    nome: str
    possui_rpa: bool
    rpa_terceirizado: bool
    limite_concorrencia: int
    ativo: bool

    @strawberry.field(description="Clientes da operadora.")
    def clientes(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                 ativo: bool | None = None) -> Connection[Cliente]:
        need(info, "cliente.ler")
        where = () if ativo is None else (ClienteModel.ativo.is_(ativo),)
        return _children(info, self, ClienteModel, ClienteModel.operadora_id, CLIENTES, first, after, where)


@strawberry.type(description="Cliente de uma operadora: um processo por mês.")
class Cliente(Node):
    nome: str
    cnpj: str
    codigo: str | None
    ativo: bool

    @strawberry.field
    def operadora(self, info: strawberry.Info) -> Operadora | None:
        need(info, "operadora.ler")
        return _related(info, self, OperadoraModel, "operadora_id")

    @strawberry.field(description="Processos do cliente, do mês mais antigo ao mais novo.")
    def processos(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                  competencia: str | None = None) -> Connection[Processo]:
        need(info, "processo.ler")
        where = () if competencia is None else (ProcessoModel.competencia == competencia,)
        return _children(info, self, ProcessoModel, ProcessoModel.cliente_id, PROCESSOS_DO_CLIENTE, first, after, where)


@strawberry.type(description="O ciclo de um cliente num mês.")
class Processo(Node):
    competencia: str
    status: str
    cliente_nome: str
    protocolo_sat: str | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="O status como as pessoas o leem.")
    def status_rotulo(self) -> str:
        return StatusProcesso.LABELS.get(self.status, self.status)

    @strawberry.field
    def cliente(self, info: strawberry.Info) -> Cliente | None:
        need(info, "cliente.ler")
        return _related(info, self, ClienteModel, "cliente_id")

    @strawberry.field(description="A execução mais recente do processo.")
    def ultima_execucao(self, info: strawberry.Info) -> Execucao | None:
        need(info, "processo.ler")
        return info.context["batches"].load(
            info, self, lambda siblings: queries.ultimas_execucoes([s.id for s in siblings]))

    @strawberry.field(description="Execuções do processo, da mais antiga à mais nova.")
    def execucoes(self, info: strawberry.Info, first: int | None = None, after: str | None = None) -> Connection[Execucao]:
        need(info, "processo.ler")
        return _children(info, self, ExecucaoModel, ExecucaoModel.processo_id, EXECUCOES, first, after)

    @strawberry.field(description="Faturas do processo.")
    def faturas(self, info: strawberry.Info, first: int | None = None, after: str | None = None) -> Connection[Fatura]:
        need(info, "processo.ler")
        return _children(info, self, FaturaModel, FaturaModel.processo_id, FATURAS, first, after)


@strawberry.type(description="Uma execução de robô (download ou envio ao SAT).")
class Execucao(Node):
    tipo: str
    status: str
    job_id: str | None
    data_inicio: datetime | None
    data_fim: datetime | None
    mensagem: str | None
    log_linhas: int
    log_descartadas: int

    @strawberry.field
    def processo(self, info: strawberry.Info) -> Processo | None:
        need(info, "processo.ler")
        return _related(info, self, ProcessoModel, "processo_id")

    @strawberry.field(description="Linhas do log do robô, em ordem (cursor: a sequência).")
    def logs(self, info: strawberry.Info, first: int | None = None, after: str | None = None) -> Connection[LinhaLog]:
        need(info, "processo.ler")
        return _children(info, self, ExecucaoLog, ExecucaoLog.execucao_id, LOGS, first, after)


@strawberry.type(description="Uma linha do log de uma execução.")
class LinhaLog:
    seq: int
    level: str
    message: str
    timestamp: datetime


@strawberry.type(description="Uma fatura baixada pelo robô ou enviada à mão.")
class Fatura(Node):
    numero: str
    valor: Decimal
    emissao: date | None
    vencimento: date
    rejeitada: bool
    motivo_rejeicao: str | None
    sha256: str
    tamanho: int

    @strawberry.field
    def processo(self, info: strawberry.Info) -> Processo | None:
        need(info, "processo.ler")
        return _related(info, self, ProcessoModel, "processo_id")


@strawberry.type(description="Quantos processos de um status há no mês.")
class ContagemStatus:
    status: str
    rotulo: str
    total: int


@strawberry.type(description="Os números do mês: processos por status.")
class ResumoMes:
    competencia: str
    total: int
    por_status: list[ContagemStatus]


def processos_select(competencia=None, status=None, operadora_id=None, cliente_id=None):
    """The root list's SELECT with its filters (the operadora through the cliente)."""
    query = select(ProcessoModel)
    if competencia:
        query = query.where(ProcessoModel.competencia == competencia)
    if status:
        query = query.where(ProcessoModel.status == status)
    if cliente_id:
        query = query.where(ProcessoModel.cliente_id == cliente_id)
    if operadora_id:
        query = query.join(ClienteModel, ClienteModel.id == ProcessoModel.cliente_id).where(
            ClienteModel.operadora_id == operadora_id)
    return query


@strawberry.type(description="Quem aparece numa aprovação (responsável).")
class Pessoa(Node):
    username: str
    nome: str | None


@strawberry.type(description="Uma tarefa de aprovação aberta: quem a tem, até quando, quanto e quanto mudou.")
class Aprovacao(Node):
    prazo: date
    n_faturas: int
    total: Decimal
    atribuida_em: datetime | None

    @strawberry.field(description="Passou do prazo.")
    def vencida(self) -> bool:
        return self.prazo < hoje()

    @strawberry.field(description="Variação do total contra a média dos 3 meses anteriores, em %.")
    def variacao(self) -> Decimal | None:
        return self.variacao

    @strawberry.field
    def processo(self, info: strawberry.Info) -> Processo | None:
        need(info, "processo.ler")
        return _related(info, self, ProcessoModel, "processo_id")

    @strawberry.field
    def responsavel(self, info: strawberry.Info) -> Pessoa | None:
        return _related(info, self, UserModel, "responsavel_id")


@strawberry.type(description="Um servidor de robôs (RPA API) do registro.")
class Robo(Node):
    nome: str
    tags: str
    capacidade: int
    versao: str | None
    ultimo_contato: datetime | None
    latencia_ms: int | None
    ativo: bool
    drenando: bool

    @strawberry.field(description="Execuções que ocupa agora.")
    def execucoes_ativas(self, info: strawberry.Info) -> int:
        return info.context["batches"].load(
            info, self, lambda siblings: robo_loads([s.id for s in siblings])) or 0

    @strawberry.field(description="DISPONIVEL, OCUPADO, SEM_RESPOSTA, DESCONECTADO ou DESATIVADO.")
    def status(self, info: strawberry.Info) -> str:
        held = info.context["batches"].load(info, self, lambda siblings: robo_loads([s.id for s in siblings])) or 0
        return shown_status(self, held)


APROVACOES = Keyset(TarefaAprovacao.prazo, TarefaAprovacao.id, kinds=(date.fromisoformat, uuid.UUID))
ROBOS = Keyset(RoboModel.nome, RoboModel.id, kinds=(str, uuid.UUID))
