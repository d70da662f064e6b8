"""Domínios (groups of services) and serviços (a form, who may run it, and how its run is made)."""
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.types import Timestamps, UUIDPk, db


class Dominio(UUIDPk, Timestamps, db.Model):
    """A group of serviços on the portal, shown in `ordem`."""

    __tablename__ = "dominios"

    slug: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    nome: Mapped[str] = mapped_column(String(120), nullable=False)
    ordem: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    servicos = relationship("Servico", back_populates="dominio", order_by="Servico.nome")


class Servico(UUIDPk, Timestamps, db.Model):
    """A service people ask for on the portal: its form (form_schema_json) and its run (run_template_json)."""

    __tablename__ = "servicos"

    nome: Mapped[str] = mapped_column(String(120), nullable=False)
    descricao: Mapped[str | None] = mapped_column(Text)
    dominio_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("dominios.id", ondelete="RESTRICT"), nullable=False, index=True)
    # Role codes (apps.auth.models.Role) whose users may run it.
    papeis: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    ativo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    form_schema_json: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    run_template_json: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)

    dominio = relationship("Dominio", back_populates="servicos", lazy="joined")

    @property
    def fields(self) -> list:
        return list((self.form_schema_json or {}).get("fields") or [])

    @property
    def tarefa(self) -> str:
        return ((self.run_template_json or {}).get("mapping") or {}).get("tarefa") or ""
