"""The GraphQL schema: read only, the same data and permissions as API v1's GET routes."""
import uuid

import strawberry
from graphql import GraphQLError
from sqlalchemy import select
from sqlalchemy.orm import raiseload
from strawberry.extensions import MaskErrors

from apps.aprovacoes.models import TarefaAprovacao
from apps.aprovacoes.prazo import hoje
from apps.clientes.models import Cliente as ClienteModel
from apps.core import clock
from apps.core.text import search_key
from apps.core.types import db
from apps.graphql_api.access import need
from apps.graphql_api.errors import Refused
from apps.graphql_api.limits import QueryLimits
from apps.graphql_api.pages import Connection, top_level
from apps.graphql_api.types import (
    APROVACOES,
    CLIENTES,
    EXECUCOES,
    OPERADORAS,
    PROCESSOS,
    ROBOS,
    Aprovacao,
    Cliente,
    ContagemStatus,
    Execucao,
    Operadora,
    Processo,
    ResumoMes,
    Robo,
    processos_select,
)
from apps.home.services import month_summary
from apps.operadoras.models import Operadora as OperadoraModel
from apps.processos.models import Execucao as ExecucaoModel
from apps.processos.models import Processo as ProcessoModel
from apps.processos.models import StatusExecucao, StatusProcesso
from apps.robos.models import Robo as RoboModel


def _uuid(value, what: str):
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Refused(f"{what}: identificador inválido.") from None


def _one(info, model, value, permission: str):
    need(info, permission)
    return db.session.get(model, _uuid(value, "id"), options=[raiseload("*")])


def _choice(value, allowed, what: str):
    if value is not None and value not in allowed:
        raise Refused(f"{what} desconhecido: use um de {', '.join(allowed)}.")
    return value


@strawberry.type
class Query:
    @strawberry.field(description="Operadoras, por código.")
    def operadoras(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                   ativo: bool | None = None) -> Connection[Operadora]:
        need(info, "operadora.ler")
        query = select(OperadoraModel)
        if ativo is not None:
            query = query.where(OperadoraModel.ativo.is_(ativo))
        return top_level(query, OPERADORAS, first, after, info, info.context["batches"])

    @strawberry.field
    def operadora(self, info: strawberry.Info, id: strawberry.ID) -> Operadora | None:
        return _one(info, OperadoraModel, id, "operadora.ler")

    @strawberry.field(description="Clientes, por nome; `q` procura no nome (sem acentos nem maiúsculas).")
    def clientes(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                 operadora_id: strawberry.ID | None = None, ativo: bool | None = None,
                 q: str | None = None) -> Connection[Cliente]:
        need(info, "cliente.ler")
        query = select(ClienteModel)
        if operadora_id is not None:
            query = query.where(ClienteModel.operadora_id == _uuid(operadora_id, "operadoraId"))
        if ativo is not None:
            query = query.where(ClienteModel.ativo.is_(ativo))
        if q:
            query = query.where(ClienteModel.nome_busca.contains(search_key(q), autoescape=True))
        return top_level(query, CLIENTES, first, after, info, info.context["batches"])

    @strawberry.field
    def cliente(self, info: strawberry.Info, id: strawberry.ID) -> Cliente | None:
        return _one(info, ClienteModel, id, "cliente.ler")

    @strawberry.field(description="Processos, pelo nome do cliente; filtros de competência, status, operadora, cliente.")
    def processos(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                  competencia: str | None = None, status: str | None = None,
                  operadora_id: strawberry.ID | None = None, cliente_id: strawberry.ID | None = None) -> Connection[Processo]:
        need(info, "processo.ler")
        if competencia is not None and not clock.is_competencia(competencia):
            raise Refused("Competência inválida: use o formato AAAA-MM (ex.: 2026-11).")
        query = processos_select(competencia, _choice(status, StatusProcesso.ALL, "Status"),
                                 _uuid(operadora_id, "operadoraId"), _uuid(cliente_id, "clienteId"))
        return top_level(query, PROCESSOS, first, after, info, info.context["batches"])

    @strawberry.field
    def processo(self, info: strawberry.Info, id: strawberry.ID) -> Processo | None:
        return _one(info, ProcessoModel, id, "processo.ler")

    @strawberry.field(description="Execuções de robô, da mais antiga à mais nova.")
    def execucoes(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                  status: str | None = None, processo_id: strawberry.ID | None = None) -> Connection[Execucao]:
        need(info, "processo.ler")
        query = select(ExecucaoModel)
        if _choice(status, StatusExecucao.ALL, "Status"):
            query = query.where(ExecucaoModel.status == status)
        if processo_id is not None:
            query = query.where(ExecucaoModel.processo_id == _uuid(processo_id, "processoId"))
        return top_level(query, EXECUCOES, first, after, info, info.context["batches"])

    @strawberry.field
    def execucao(self, info: strawberry.Info, id: strawberry.ID) -> Execucao | None:
        return _one(info, ExecucaoModel, id, "processo.ler")

    @strawberry.field(description="Aprovações abertas, por prazo; `responsavel`: \"me\" ou o id de um usuário.")
    def aprovacoes(self, info: strawberry.Info, first: int | None = None, after: str | None = None,
                   responsavel: str | None = None, vencidas: bool | None = None,
                   operadora_id: strawberry.ID | None = None) -> Connection[Aprovacao]:
        need(info, "processo.aprovar")
        query = select(TarefaAprovacao).where(TarefaAprovacao.aberta.is_(True))
        if responsavel is not None:
            who = info.context["user"].id if responsavel == "me" else _uuid(responsavel, "responsavel")
            query = query.where(TarefaAprovacao.responsavel_id == who)
        if vencidas is not None:
            late = TarefaAprovacao.prazo < hoje()
            query = query.where(late if vencidas else ~late)
        if operadora_id is not None:
            query = query.where(TarefaAprovacao.operadora_id == _uuid(operadora_id, "operadoraId"))
        return top_level(query, APROVACOES, first, after, info, info.context["batches"])

    @strawberry.field(description="Os servidores de robôs do registro, por nome.")
    def robos(self, info: strawberry.Info, first: int | None = None, after: str | None = None) -> Connection[Robo]:
        need(info, "robo.ler")
        return top_level(select(RoboModel), ROBOS, first, after, info, info.context["batches"])

    @strawberry.field(description="Processos do mês por status (o mês corrente sem `competencia`).")
    def resumo_mes(self, info: strawberry.Info, competencia: str | None = None) -> ResumoMes:
        need(info, "processo.ler")
        if competencia is not None and not clock.is_competencia(competencia):
            raise Refused("Competência inválida: use o formato AAAA-MM (ex.: 2026-11).")
        summary = month_summary(competencia)
        return ResumoMes(competencia=summary["competencia"], total=summary["total"], por_status=[
            ContagemStatus(status=status, rotulo=StatusProcesso.LABELS[status], total=summary["counts"][status])
            for status in StatusProcesso.ALL])


def _mask(error: GraphQLError) -> bool:
    """Hide every exception but our own refusals; validation and syntax errors carry no exception."""
    original = getattr(error, "original_error", None)
    return original is not None and not isinstance(original, Refused)


schema = strawberry.Schema(
    query=Query,
    extensions=[QueryLimits, lambda: MaskErrors(should_mask_error=_mask, error_message="Erro interno ao ler este campo.")],
)
