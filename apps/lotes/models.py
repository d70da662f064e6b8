"""A lote: a CSV of (CNPJ, competência, ação) turned into robot runs, and one row per line of its file."""
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db


class StatusLote:
    """Stored: PROCESSANDO (checked again and written in chunks), IMPORTADO (every run queued), FALHOU (nothing
    queued). Shown: EM_EXECUCAO or CONCLUIDO for an IMPORTADO lote, by whether any of its runs is still active."""

    PROCESSANDO = "PROCESSANDO"
    IMPORTADO = "IMPORTADO"
    FALHOU = "FALHOU"
    ALL = (PROCESSANDO, IMPORTADO, FALHOU)
    EM_EXECUCAO = "EM_EXECUCAO"
    CONCLUIDO = "CONCLUIDO"
    LABELS = {PROCESSANDO: "Preparando", EM_EXECUCAO: "Em execução", CONCLUIDO: "Concluído", FALHOU: "Falhou",
              IMPORTADO: "Importado"}


class Lote(UUIDPk, Timestamps, db.Model):
    """One confirmed CSV of runs; `chave` is its preview's token, so a preview confirmed twice is one lote."""

    __tablename__ = "lotes"
    __table_args__ = (CheckConstraint(f"status IN {StatusLote.ALL}", name="status_valid"),)

    chave: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=StatusLote.PROCESSANDO)
    arquivo: Mapped[str | None] = mapped_column(String(64))  # the stored file's token until the run ends
    arquivo_nome: Mapped[str | None] = mapped_column(String(255))
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # data rows of the file
    gravadas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # rows whose run is decided
    processos_criados: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mensagem: Mapped[str | None] = mapped_column(Text)
    rq_job_id: Mapped[str | None] = mapped_column(String(100))
    concluido_em: Mapped[datetime | None] = mapped_column(UTCDateTime)
    criado_por_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True)

    criado_por = relationship("User")


class LoteLinha(db.Model):
    """A line of a lote's file: what it asked for, its processo and the run it got (or why it got none)."""

    __tablename__ = "lote_linhas"
    __table_args__ = (UniqueConstraint("lote_id", "linha", name="uq_lote_linhas_lote_linha"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    lote_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("lotes.id", ondelete="CASCADE"), nullable=False)
    linha: Mapped[int] = mapped_column(Integer, nullable=False)
    cnpj: Mapped[str] = mapped_column(String(14), nullable=False)
    competencia: Mapped[str] = mapped_column(String(7), nullable=False)
    acao: Mapped[str] = mapped_column(String(20), nullable=False)
    cliente_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("clientes.id", ondelete="SET NULL"))
    processo_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("processos.id", ondelete="SET NULL"))
    execucao_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("execucoes.id", ondelete="SET NULL"))
    mensagem: Mapped[str | None] = mapped_column(Text)  # why the line got no run

    execucao = relationship("Execucao")


# Linking a chunk's new runs finds each line by its processo; a processo or run deleted clears its lines.
Index("ix_lote_linhas_processo_id", LoteLinha.processo_id)
Index("ix_lote_linhas_execucao_id", LoteLinha.execucao_id)
