"""An artefato: one file a run (or a person's upload) produced, and where its bytes are stored."""
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.types import UTCDateTime, UUIDPk, db, utcnow


class Kind:
    FATURA = "FATURA"
    LOG = "LOG"
    PROTOCOLO = "PROTOCOLO"
    ARQUIVO = "ARQUIVO"
    ALL = (FATURA, LOG, PROTOCOLO, ARQUIVO)
    LABELS = {FATURA: "Fatura", LOG: "Log da execução", PROTOCOLO: "Comprovante SAT", ARQUIVO: "Arquivo do serviço"}


class Artefato(UUIDPk, db.Model):
    """A stored file; when retention removes its bytes the row stays, with `removido_em`."""

    __tablename__ = "artefatos"
    __table_args__ = (
        CheckConstraint(f"kind IN {Kind.ALL}", name="kind_valid"),
        # What the retention job reads: due and still stored, oldest expiry first.
        Index("ix_artefatos_expira", "expira_em", postgresql_where=text("removido_em IS NULL"),
              sqlite_where=text("removido_em IS NULL")),
    )

    execucao_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("execucoes.id", ondelete="SET NULL"), index=True)
    processo_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("processos.id", ondelete="CASCADE"), index=True)
    fatura_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("faturas.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(120), nullable=False, default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expira_em: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    removido_em: Mapped[datetime | None] = mapped_column(UTCDateTime)

    execucao = relationship("Execucao")
    processo = relationship("Processo")
    fatura = relationship("Fatura")

    @property
    def kind_label(self) -> str:
        return Kind.LABELS.get(self.kind, self.kind)

    @property
    def removido(self) -> bool:
        return self.removido_em is not None

    @property
    def guardado_ate(self) -> datetime:
        """Until when it is kept: the term it was given (`expira_em`) or its kind's term today counted from
        its creation, whichever is later. Raising a term keeps what exists longer; lowering one never removes
        a file before the date it was promised. The retention job deletes by the same rule."""
        from apps.artefatos.services import expiry  # services imports this module

        return max(self.expira_em, expiry(self.kind, self.created_at))
