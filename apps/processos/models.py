"""A client's month (processo), its robot runs (execucoes), their log lines and invoices."""
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.clientes.models import Cliente
from apps.core.records import search_key_column, search_key_of
from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db, utcnow


class StatusProcesso:
    AGUARDANDO_DOWNLOAD = "AGUARDANDO_DOWNLOAD"
    AGUARDANDO_APROVACAO = "AGUARDANDO_APROVACAO"
    AGUARDANDO_ENVIO_SAT = "AGUARDANDO_ENVIO_SAT"
    UPLOAD_REALIZADO = "UPLOAD_REALIZADO"
    ALL = (AGUARDANDO_DOWNLOAD, AGUARDANDO_APROVACAO, AGUARDANDO_ENVIO_SAT, UPLOAD_REALIZADO)
    LABELS = {
        AGUARDANDO_DOWNLOAD: "Aguardando download",
        AGUARDANDO_APROVACAO: "Aguardando aprovação",
        AGUARDANDO_ENVIO_SAT: "Aguardando envio ao SAT",
        UPLOAD_REALIZADO: "Upload realizado",
    }


class TipoExecucao:
    DOWNLOAD = "DOWNLOAD"
    ENVIO_SAT = "ENVIO_SAT"
    SERVICO = "SERVICO"  # a portal serviço's run (apps.portal): may have no processo
    ALL = (DOWNLOAD, ENVIO_SAT, SERVICO)
    LABELS = {DOWNLOAD: "Download", ENVIO_SAT: "Envio ao SAT", SERVICO: "Serviço"}


class StatusExecucao:
    PENDENTE = "PENDENTE"
    EXECUTANDO = "EXECUTANDO"
    CONCLUIDO = "CONCLUIDO"
    FALHOU = "FALHOU"
    ALL = (PENDENTE, EXECUTANDO, CONCLUIDO, FALHOU)
    ACTIVE = (PENDENTE, EXECUTANDO)
    LABELS = {PENDENTE: "Pendente", EXECUTANDO: "Em execução", CONCLUIDO: "Concluída", FALHOU: "Falhou"}


class Processo(UUIDPk, Timestamps, db.Model):
    """One client's invoice cycle for one month (competencia 'YYYY-MM')."""

    __tablename__ = "processos"
    __table_args__ = (
        UniqueConstraint("cliente_id", "competencia", name="uq_processos_cliente_competencia"),
        CheckConstraint(f"status IN {StatusProcesso.ALL}", name="status_valid"),
    )

    cliente_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("clientes.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    competencia: Mapped[str] = mapped_column(String(7), nullable=False)
    status: Mapped[str] = mapped_column(String(30), nullable=False, default=StatusProcesso.AGUARDANDO_DOWNLOAD)
    # A copy of the cliente's nome and of its search key (Cliente.nome_busca), the list's sort key and what its
    # search compares (kept in step by the mapper events below, and copied by the month's INSERT … SELECT).
    cliente_nome: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    cliente_nome_busca: Mapped[str] = search_key_column("cliente_nome", length=200)
    criado_por_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    protocolo_sat: Mapped[str | None] = mapped_column(String(120))
    # When it last entered AGUARDANDO_APROVACAO (state.move sets it): the dashboard reads the oldest waiting one
    # from ix_processos_aprovacao instead of looking up every waiting processo's audit trail.
    aprovacao_desde: Mapped[datetime | None] = mapped_column(UTCDateTime)

    cliente = relationship("Cliente", lazy="joined")
    criado_por = relationship("User")
    execucoes = relationship(
        "Execucao", back_populates="processo", order_by="Execucao.created_at.desc()", lazy="selectin"
    )
    faturas = relationship("Fatura", back_populates="processo", order_by="Fatura.created_at", lazy="selectin")

    @property
    def status_label(self) -> str:
        return StatusProcesso.LABELS.get(self.status, self.status)

    @property
    def execucao_ativa(self):
        return next((e for e in self.execucoes if e.status in StatusExecucao.ACTIVE), None)

    @property
    def faturas_ativas(self):
        return [f for f in self.faturas if not f.rejeitada]


# The list's two orders, read straight from an index instead of sorting the month: one competência or all of
# them, newest first, then the cliente's nome in Portuguese order (its search key, then the nome itself); and
# the same under a status filter.
Index("ix_processos_lista", Processo.competencia.desc(), Processo.cliente_nome_busca, Processo.cliente_nome,
      Processo.id)
# The oldest processo waiting for approval, by the moment it entered (or, without one, its updated_at).
Index("ix_processos_aprovacao", Processo.status, Processo.aprovacao_desde, Processo.updated_at)
Index("ix_processos_lista_status", Processo.status, Processo.competencia.desc(), Processo.cliente_nome_busca,
      Processo.cliente_nome, Processo.id)


class ProcessoTotal(db.Model):
    """How many processos a (competência, operadora, status) holds, so the list's total and the dashboard
    read a handful of rows instead of counting the month.

    Kept by database triggers (migration 7c2e9a41d5b3), so every write counts, whichever code or
    statement makes it: INSERT … SELECT of the month, a status move, a cliente moved to another
    operadora, a delete. `apps.processos.totais.recount()` rebuilds it from the processos.
    """

    __tablename__ = "processo_totais"

    competencia: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(30), primary_key=True)
    operadora_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("operadoras.id", ondelete="CASCADE"), primary_key=True
    )
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ProcessoLista(db.Model):
    """A version per competência of the processo list's order: raised by database triggers (migration
    9c0d1e2f3a92) whenever a processo enters or leaves the month or its place in the order changes (its
    competência or its cliente's nome); a status move leaves it alone. Positions read from the list while
    the version holds are still right (apps.processos.ancoras)."""

    __tablename__ = "processo_listas"

    competencia: Mapped[str] = mapped_column(String(7), primary_key=True)
    versao: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Execucao(UUIDPk, Timestamps, db.Model):
    """One robot run; at most one active (PENDENTE or EXECUTANDO) per processo, by a partial index."""

    __tablename__ = "execucoes"
    __table_args__ = (
        CheckConstraint(f"tipo IN {TipoExecucao.ALL}", name="tipo_valid"),
        CheckConstraint(f"status IN {StatusExecucao.ALL}", name="status_valid"),
        Index(
            "uq_execucoes_processo_ativa", "processo_id", unique=True,
            sqlite_where=text("status IN ('PENDENTE', 'EXECUTANDO')"),
            postgresql_where=text("status IN ('PENDENTE', 'EXECUTANDO')"),
        ),
        Index("ix_execucoes_status_created", "status", "created_at"),
        # A processo's runs newest first: its last run (the list's run state and its filter) is one index step.
        Index("ix_execucoes_processo_created", "processo_id", "created_at"),
    )

    # None for a SERVICO run that is not about a processo.
    processo_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("processos.id", ondelete="CASCADE"), nullable=True
    )
    tipo: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=StatusExecucao.PENDENTE)
    job_id: Mapped[str | None] = mapped_column(String(200), index=True)
    rq_job_id: Mapped[str | None] = mapped_column(String(100))
    data_inicio: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data_fim: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mensagem: Mapped[str | None] = mapped_column(Text)
    ultimo_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # What the run's log costs, against EXECUCAO_MAX_LOG_LINES / _BYTES; lines past them are counted, not stored.
    log_linhas: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    log_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    log_descartadas: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    criado_por_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    # The robot (apps.robos) that runs it, chosen by apps.robos.dispatch; None: API_EXTERNA_URL or the operadora's own.
    robo_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("robos.id", ondelete="SET NULL"), index=True)
    # A SERVICO run: its serviço, the parametros sent to the robots, and the operadora whose concurrency limit
    # it takes (from the form's cliente/operadora field; None when it names none).
    servico_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("servicos.id", ondelete="SET NULL"), index=True)
    parametros: Mapped[dict | None] = mapped_column(JSON)
    resultado: Mapped[dict | None] = mapped_column(JSON)  # a finished task's result.dados
    operadora_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("operadoras.id", ondelete="SET NULL"), index=True)

    processo = relationship("Processo", back_populates="execucoes")
    servico = relationship("Servico")
    operadora = relationship("Operadora")
    criado_por = relationship("User")
    robo = relationship("Robo")  # many-to-one: pages name it; the identity map serves repeats without a query

    @property
    def ativa(self) -> bool:
        return self.status in StatusExecucao.ACTIVE

    @property
    def idempotency_key(self) -> str:
        """The key every POST for this run carries, so a retry never starts a second robot run."""
        return f"execucao-{self.id}"


class ExecucaoLog(db.Model):
    """A robot's log line, stored once per (execucao, seq)."""

    __tablename__ = "execucao_logs"
    __table_args__ = (UniqueConstraint("execucao_id", "seq", name="uq_execucao_logs_execucao_seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    execucao_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("execucoes.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    level: Mapped[str] = mapped_column(String(10), nullable=False, default="INFO")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    service: Mapped[str | None] = mapped_column(String(80))
    logger: Mapped[str | None] = mapped_column(String(120))


class Fatura(UUIDPk, Timestamps, db.Model):
    """An invoice found by a robot or uploaded by staff; rejected ones stay for history."""

    __tablename__ = "faturas"

    processo_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("processos.id", ondelete="CASCADE"), nullable=False, index=True
    )
    execucao_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("execucoes.id", ondelete="SET NULL"))
    numero: Mapped[str] = mapped_column(String(80), nullable=False)
    valor: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    emissao: Mapped[date | None] = mapped_column(Date)
    vencimento: Mapped[date] = mapped_column(Date, nullable=False)
    arquivo: Mapped[str] = mapped_column(String(255), nullable=False)
    nome_original: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    tamanho: Mapped[int] = mapped_column(Integer, nullable=False)
    rejeitada: Mapped[bool] = mapped_column(db.Boolean, nullable=False, default=False)
    motivo_rejeicao: Mapped[str | None] = mapped_column(Text)

    processo = relationship("Processo", back_populates="faturas")


@event.listens_for(Processo, "before_insert")
def _copy_cliente_nome(mapper, connection, processo) -> None:
    """A new processo carries its cliente's nome and search key, whichever way the cliente was given."""
    if not processo.cliente_nome:
        cliente = processo.__dict__.get("cliente")
        if cliente is not None:
            processo.cliente_nome, processo.cliente_nome_busca = cliente.nome, search_key_of(cliente.nome, length=200)
        else:
            processo.cliente_nome, processo.cliente_nome_busca = connection.execute(
                select(Cliente.nome, Cliente.nome_busca).where(Cliente.id == processo.cliente_id)).one()
    elif not processo.cliente_nome_busca:
        processo.cliente_nome_busca = search_key_of(processo.cliente_nome, length=200)


@event.listens_for(Cliente, "after_update")
def _rename_processos(mapper, connection, cliente) -> None:
    """A renamed cliente is renamed in its processos in the same transaction (the list's sort and search key)."""
    if inspect(cliente).attrs.nome.history.has_changes():
        table = Processo.__table__
        # updated_at kept as it is: a processo's "Atualizado em" (and its wait for approval) is about the processo.
        connection.execute(update(table).where(table.c.cliente_id == cliente.id)
                           .values(cliente_nome=cliente.nome, cliente_nome_busca=cliente.nome_busca,
                                   updated_at=table.c.updated_at))
