"""The robot registry: RPA API servers (one per robot machine), the versions they reported, the pinned ones."""
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db, utcnow

ALL_TAGS = "*"
SAT_TAG = "SAT"


class StatusRobo:
    """What a robot is, as its heartbeat sees it. DISPONIVEL/SEM_RESPOSTA/DESCONECTADO are stored (the heartbeat
    moves them, each move audited); OCUPADO (at capacity) and DESATIVADO (switched off) are read from the load and
    the admin's switch, so a run starting or ending never writes the robot's row."""

    DISPONIVEL = "DISPONIVEL"
    OCUPADO = "OCUPADO"
    SEM_RESPOSTA = "SEM_RESPOSTA"
    DESCONECTADO = "DESCONECTADO"
    DESATIVADO = "DESATIVADO"
    STORED = (DISPONIVEL, SEM_RESPOSTA, DESCONECTADO)
    ALL = (DISPONIVEL, OCUPADO, SEM_RESPOSTA, DESCONECTADO, DESATIVADO)
    LABELS = {DISPONIVEL: "Disponível", OCUPADO: "Ocupado", SEM_RESPOSTA: "Sem resposta",
              DESCONECTADO: "Desconectado", DESATIVADO: "Desativado"}


class Robo(UUIDPk, Timestamps, db.Model):
    """One RPA API server and the robots behind it."""

    __tablename__ = "robos"

    nome: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    url: Mapped[str] = mapped_column(String(500), unique=True, nullable=False)
    # Operadora codes it serves, "SAT" for SAT uploads, "*" for everything; stored upper-case, comma-separated.
    tags: Mapped[str] = mapped_column(String(500), nullable=False, default=ALL_TAGS)
    capacidade: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    ativo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    drenando: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=StatusRobo.SEM_RESPOSTA)
    versao: Mapped[str | None] = mapped_column(String(80))
    ultimo_contato: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latencia_ms: Mapped[int | None] = mapped_column(Integer)

    versoes = relationship("RoboVersao", back_populates="robo", cascade="all, delete-orphan",
                           order_by="RoboVersao.ultimo_visto.desc()")

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (self.tags or "").split(",") if t]

    def serves(self, tag: str) -> bool:
        tags = self.tag_list
        return ALL_TAGS in tags or tag.upper() in tags

    def __repr__(self) -> str:
        return f"<Robo {self.nome}>"


class RoboVersao(db.Model):
    """A version a robot reported on /health, first and last seen."""

    __tablename__ = "robo_versoes"
    __table_args__ = (UniqueConstraint("robo_id", "versao", name="uq_robo_versoes_robo_versao"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    robo_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("robos.id", ondelete="CASCADE"), nullable=False)
    versao: Mapped[str] = mapped_column(String(80), nullable=False)
    primeiro_visto: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    ultimo_visto: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    robo = relationship("Robo", back_populates="versoes")


class VersaoAtiva(db.Model):
    """The version pinned for a tag: only robots on it get new runs of that tag."""

    __tablename__ = "robo_versoes_ativas"

    tag: Mapped[str] = mapped_column(String(30), primary_key=True)
    versao: Mapped[str] = mapped_column(String(80), nullable=False)
    definida_por_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    definida_em: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
