"""Telecom operators whose portals the robots read."""
from decimal import Decimal

from sqlalchemy import Boolean, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.records import keep_search_key, search_key_column
from apps.core.types import Timestamps, UUIDPk, db


class Operadora(UUIDPk, Timestamps, db.Model):
    """An operator (VIVO, EMBRATEL...) and how its robot is reached."""

    __tablename__ = "operadoras"

    codigo: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    nome: Mapped[str] = mapped_column(String(120), nullable=False)
    # search_key(nome), what searches compare (the codigo is plain A-Z, 0-9, _ and -).
    nome_busca: Mapped[str] = search_key_column("nome", length=120)
    possui_rpa: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    rpa_terceirizado: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    url_endpoint_rpa: Mapped[str | None] = mapped_column(String(500))
    limite_concorrencia: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    ativo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # An outsourced robot's own credential, as a Fernet token (apps/operadoras/credentials.py): never
    # read it directly, never show or serialize it; credential_for() decrypts it for the RPA client.
    credencial_rpa_cifrada: Mapped[str | None] = mapped_column(Text)
    # Approval (apps/aprovacoes): the task's due date in business days, the total above which two
    # different approvers are needed (None: never), the change against past months that flags a row.
    prazo_aprovacao_dias_uteis: Mapped[int] = mapped_column(Integer, nullable=False, default=2, server_default="2")
    valor_dupla_aprovacao: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    variacao_alerta_pct: Mapped[int] = mapped_column(Integer, nullable=False, default=25, server_default="25")
    # The group of approvers (table `aprovadores`, kept by apps.aprovacoes.tarefas.definir_aprovadores).
    # Loaded when read (lists that show it ask for selectinload), so pages joining operadoras pay nothing.
    aprovadores = relationship("User", secondary="aprovadores", order_by="User.username", viewonly=True)

    @property
    def credencial_configurada(self) -> bool:
        """True when an own credential is stored (whether it still decrypts is credential_for's business)."""
        return bool(self.credencial_rpa_cifrada)

    def __repr__(self) -> str:
        return f"<Operadora {self.codigo}>"


keep_search_key(Operadora, "nome_busca", "nome")
