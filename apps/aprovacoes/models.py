"""Approval as work: a task per processo waiting for approval, the operadora's group of approvers, comments."""
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, Numeric, String, Table, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db, utcnow

# Who may approve an operadora's processos (users with approval rights; see regras.pode_aprovar).
aprovadores = Table(
    "aprovadores", db.metadata,
    Column("operadora_id", Uuid, ForeignKey("operadoras.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Resultado:
    APROVADO = "APROVADO"
    REJEITADO = "REJEITADO"
    CANCELADO = "CANCELADO"  # the processo left approval some other way (never by a timeout)


class TarefaAprovacao(UUIDPk, Timestamps, db.Model):
    """One wait for approval of a processo: who should approve it, by when, and what it is worth.

    `total`, `n_faturas` and `media_anterior` (the mean total of the cliente's previous 3 months, None
    without history) are taken when the task opens, so the inbox reads one row per task."""

    __tablename__ = "aprovacao_tarefas"
    __table_args__ = (
        Index("uq_aprovacao_tarefas_processo_aberta", "processo_id", unique=True,
              sqlite_where=text("aberta"), postgresql_where=text("aberta")),
        # A processo's tasks (SQLite cannot use the partial index above for "aberta IS 1").
        Index("ix_aprovacao_tarefas_processo", "processo_id", "created_at"),
        # The inbox's orders: by prazo, then arrival, within the whole queue, a responsável or an operadora.
        Index("ix_aprovacao_tarefas_fila", "aberta", "prazo", "created_at", "id"),
        Index("ix_aprovacao_tarefas_responsavel", "responsavel_id", "aberta", "prazo", "created_at", "id"),
        Index("ix_aprovacao_tarefas_operadora", "operadora_id", "aberta", "prazo", "created_at", "id"),
    )

    processo_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("processos.id", ondelete="CASCADE"),
                                                   nullable=False)
    operadora_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("operadoras.id", ondelete="CASCADE"),
                                                    nullable=False)
    responsavel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    atribuida_em: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prazo: Mapped[date] = mapped_column(Date, nullable=False)
    aberta: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Whoever uploaded the invoices by hand: four eyes, they may not approve them.
    enviado_por_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    n_faturas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=Decimal("0"))
    media_anterior: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    primeira_aprovacao_por_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    primeira_aprovacao_em: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lembrete_em: Mapped[date | None] = mapped_column(Date)   # the day PRAZO_HOJE was sent
    escalada_em: Mapped[date | None] = mapped_column(Date)   # the last day PRAZO_VENCIDO was sent
    fechada_em: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resultado: Mapped[str | None] = mapped_column(String(20))

    processo = relationship("Processo", lazy="raise")
    operadora = relationship("Operadora", lazy="raise")
    responsavel = relationship("User", foreign_keys=[responsavel_id], lazy="raise")

    @property
    def variacao(self) -> Decimal | None:
        """Percent change of the total against the previous months' mean (None without history)."""
        return variacao(self.total, self.media_anterior)


def variacao(total, media) -> Decimal | None:
    if media is None or media == 0 or total is None:
        return None
    return ((Decimal(total) - Decimal(media)) * 100 / Decimal(media)).quantize(Decimal("0.1"))


class Comentario(UUIDPk, db.Model):
    """One message of a processo's thread."""

    __tablename__ = "comentarios"
    __table_args__ = (Index("ix_comentarios_processo", "processo_id", "created_at"),)

    processo_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("processos.id", ondelete="CASCADE"),
                                                   nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    texto: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user = relationship("User", lazy="joined")
