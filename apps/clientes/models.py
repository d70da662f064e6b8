"""Business customers, each served by one operadora."""
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.clientes.cnpj import format_cnpj
from apps.core.records import keep_search_key, search_key_column
from apps.core.types import Timestamps, UUIDPk, db


class Cliente(UUIDPk, Timestamps, db.Model):
    """A customer; the CNPJ is stored bare (14 characters) and shown formatted."""

    __tablename__ = "clientes"

    nome: Mapped[str] = mapped_column(String(200), nullable=False)
    # search_key(nome): what searches compare and the list sorts by (case and accents aside, Portuguese order).
    nome_busca: Mapped[str] = search_key_column("nome", length=200)
    cnpj: Mapped[str] = mapped_column(String(14), unique=True, nullable=False)
    codigo: Mapped[str | None] = mapped_column(String(60))
    operadora_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("operadoras.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    ativo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, index=True)

    operadora = relationship("Operadora", lazy="joined")

    @property
    def cnpj_formatado(self) -> str:
        return format_cnpj(self.cnpj)

    def __repr__(self) -> str:
        return f"<Cliente {self.nome}>"


# The list's order (key, then nome, then id), read from the index.
Index("ix_clientes_nome_busca", Cliente.nome_busca, Cliente.nome, Cliente.id)
keep_search_key(Cliente, "nome_busca", "nome")
