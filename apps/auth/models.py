"""People who use the dashboard, and their roles."""
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, Date, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from apps.auth import passwords
from apps.core.records import keep_search_key, search_key_column
from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db


class Role:
    """The three roles; each includes what the one before it may do."""

    VISUALIZADOR = "VISUALIZADOR"
    OPERADOR = "OPERADOR"
    ADMIN = "ADMIN"
    ALL = (VISUALIZADOR, OPERADOR, ADMIN)
    LABELS = {VISUALIZADOR: "Visualizador", OPERADOR: "Operador", ADMIN: "Admin"}


class User(UUIDPk, Timestamps, UserMixin, db.Model):
    """A person with a login; `session_version` lets the server end sessions it issued."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {Role.ALL}", name="role_valid"),)

    username: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    nome: Mapped[str | None] = mapped_column(String(120))
    # The search keys of username, e-mail and nome in one column (apps.core.records.KEY_SEPARATOR between
    # them): what the users search compares and, starting with the username's, the list's order.
    busca: Mapped[str] = search_key_column("username", "email", "nome", length=460)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False, default=Role.VISUALIZADOR)
    api_externa_token: Mapped[str | None] = mapped_column(Text)
    ativo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Away until this day (inclusive): gets no new approval tasks, and colleagues may take the open ones.
    ausente_ate: Mapped[date | None] = mapped_column(Date)
    # An Admin who may still log in with a password when LOCAL_LOGIN=false (the way in when the provider is down).
    break_glass: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return bool(self.ativo)

    @property
    def role_label(self) -> str:
        return Role.LABELS.get(self.role, self.role)

    def get_id(self) -> str:
        """The session identity: id plus version, so bumping the version ends old sessions."""
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        self.password_hash = passwords.hash_password(password)

    def check_password(self, password: str) -> bool:
        ok, new_hash = passwords.verify_password(self.password_hash, password)
        if ok and new_hash:
            self.password_hash = new_hash
        return ok

    def end_sessions(self) -> None:
        """Invalidate every browser session and API token this user holds."""
        self.session_version = (self.session_version or 1) + 1
        self.token_version = (self.token_version or 1) + 1

    def __repr__(self) -> str:
        return f"<User {self.username}>"


Index("ix_users_busca", User.busca, User.username, User.id)
keep_search_key(User, "busca", "username", "email", "nome")
