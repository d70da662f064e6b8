"""External identities: who a person is at an identity provider (an OpenID Connect issuer, GitHub)."""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db


class ExternalIdentity(UUIDPk, Timestamps, db.Model):
    """One account at one provider, linked to one of our users.

    `provider` is the OIDC issuer URL (a `sub` is unique only within its issuer, so two issuers never share
    an identity) or "github"; `subject` is the provider's stable id (OIDC `sub`, GitHub's numeric user id,
    never a login name that can be renamed).
    """

    __tablename__ = "identidades_externas"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_identidades_externas_provider_subject"),)

    provider: Mapped[str] = mapped_column(String(255), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                                               index=True)
    email: Mapped[str | None] = mapped_column(String(254))  # as the provider last gave it
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User", lazy="joined")

    def __repr__(self) -> str:
        return f"<ExternalIdentity {self.provider} {self.subject}>"
