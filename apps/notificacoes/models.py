"""Contacts, per-event channel choices, open groups of pending items, and every message sent or received."""
import logging
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core import crypto
from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db, utcnow

log = logging.getLogger(__name__)
WEBHOOK_SECRET_INFO = b"notificacoes.webhook_secret.v1"  # its own key, derived as in apps/core/crypto.py

CANAIS = ("email", "telegram", "whatsapp", "webhook", "mock")
CANAL_LABELS = {"email": "E-mail", "telegram": "Telegram", "whatsapp": "WhatsApp", "webhook": "Webhook",
                "mock": "Mock"}


class StatusMensagem:
    PENDENTE = "PENDENTE"
    ENVIADA = "ENVIADA"
    FALHOU = "FALHOU"
    RECEBIDA = "RECEBIDA"  # an incoming message (direcao ENTRADA)
    ALL = (PENDENTE, ENVIADA, FALHOU, RECEBIDA)
    LABELS = {PENDENTE: "Pendente", ENVIADA: "Enviada", FALHOU: "Falhou", RECEBIDA: "Recebida"}


def webhook_secret_of(stored: str | None, usuario_id) -> str | None:
    """A stored webhook secret in plaintext; None when there is none or it no longer decrypts (the key changed:
    a warning is logged, and the webhook channel is off for that user until they ask for a new secret)."""
    try:
        return crypto.unseal(stored, WEBHOOK_SECRET_INFO)
    except (crypto.InvalidToken, UnicodeError, ValueError) as exc:
        log.warning("the webhook secret of user %s cannot be decrypted (%s): did CREDENTIALS_KEY or SECRET_KEY "
                    "change? The user must ask for a new one on /perfil.", usuario_id, type(exc).__name__)
        return None


class Contato(Timestamps, db.Model):
    """A user's addresses on the channels (the e-mail is the user's own), and their webhook subscription."""

    __tablename__ = "notificacao_contatos"

    usuario_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    whatsapp: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164: +5511987654321
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    # The signing secret (whsec_<base64>, Standard Webhooks), encrypted at rest: read and set `webhook_secret`.
    webhook_secret_cifrado: Mapped[str | None] = mapped_column(String(500))
    # The one-time Telegram link code, stored as its SHA-256; cleared when used.
    codigo_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    codigo_expira_em: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # False until the user saves their choices: the defaults (apps.notificacoes.preferences) apply.
    preferencias_definidas: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    usuario = relationship("User")

    @property
    def webhook_secret(self) -> str | None:
        """The plaintext secret; None when there is none or it no longer decrypts (webhook_secret_of)."""
        return webhook_secret_of(self.webhook_secret_cifrado, self.usuario_id)

    @webhook_secret.setter
    def webhook_secret(self, plaintext: str | None) -> None:
        self.webhook_secret_cifrado = crypto.seal(plaintext, WEBHOOK_SECRET_INFO) if plaintext else None


class Preferencia(db.Model):
    """The user hears `evento` on `canal` (one row per chosen pair)."""

    __tablename__ = "notificacao_preferencias"

    usuario_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    evento: Mapped[str] = mapped_column(String(40), primary_key=True)
    canal: Mapped[str] = mapped_column(String(20), primary_key=True)


class Grupo(UUIDPk, db.Model):
    """The items of one event for one recipient and channel not yet turned into a message: a counter, so
    notify() for 3,000 processos costs 3,000 upserts of one row, and the recipient gets one message."""

    __tablename__ = "notificacao_grupos"
    __table_args__ = (UniqueConstraint("usuario_id", "evento", "canal", name="uq_notificacao_grupos_destino"),
                      Index("ix_notificacao_grupos_aberto_em", "aberto_em"))

    usuario_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    evento: Mapped[str] = mapped_column(String(40), nullable=False)
    canal: Mapped[str] = mapped_column(String(20), nullable=False)
    quantidade: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    texto: Mapped[str] = mapped_column(Text, nullable=False)  # the first item's text
    link: Mapped[str | None] = mapped_column(String(500))
    aberto_em: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Mensagem(UUIDPk, Timestamps, db.Model):
    """One message to (or from) one person on one channel, and what became of it."""

    __tablename__ = "mensagens"
    __table_args__ = (Index("ix_mensagens_created", "created_at", "id"),
                      Index("ix_mensagens_usuario_created", "usuario_id", "created_at"),
                      Index("ix_mensagens_status_created", "status", "created_at"))

    usuario_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    canal: Mapped[str] = mapped_column(String(20), nullable=False)
    direcao: Mapped[str] = mapped_column(String(10), nullable=False, default="SAIDA")  # SAIDA | ENTRADA
    evento: Mapped[str | None] = mapped_column(String(40))
    destino: Mapped[str | None] = mapped_column(String(500))
    conteudo: Mapped[str] = mapped_column(Text, nullable=False)
    link: Mapped[str | None] = mapped_column(String(500))
    quantidade: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=StatusMensagem.PENDENTE)
    tentativas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ultimo_erro: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    # Set by the conditional claim right before a send, cleared when its outcome is recorded: a message
    # left claimed (the worker died mid-send) is never sent again blindly (apps/notificacoes/delivery.py).
    enviando_desde: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proxima_tentativa_em: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enviada_em: Mapped[datetime | None] = mapped_column(UTCDateTime)

    usuario = relationship("User")
