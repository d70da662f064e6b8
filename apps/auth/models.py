"""People who use the dashboard, and their roles (built-in ones in apps/auth/permissions.py, custom ones in `papeis`)."""
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from apps.auth import passwords, permissions
from apps.core.records import keep_search_key, search_key_column
from apps.core.types import Timestamps, UTCDateTime, UUIDPk, db


class Role:
    """The built-in role codes (their permission sets: apps/auth/permissions.py)."""

    VISUALIZADOR = permissions.VISUALIZADOR
    APROVADOR = permissions.APROVADOR
    OPERADOR = permissions.OPERADOR
    MANTENEDOR = permissions.MANTENEDOR
    ADMIN = permissions.ADMIN
    ALL = tuple(permissions.BUILTIN_ROLES)
    LABELS = {code: role.nome for code, role in permissions.BUILTIN_ROLES.items()}


class Papel(UUIDPk, Timestamps, db.Model):
    """A custom role: a named set of permission codes an admin made at /papeis.

    `codigo` is what `users.role` holds; a deactivated role grants nothing, and a role some user
    holds cannot be deleted (apps/auth/roles.py)."""

    __tablename__ = "papeis"

    codigo: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    nome: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    descricao: Mapped[str | None] = mapped_column(Text)
    permissoes: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    ativo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return f"<Papel {self.codigo}>"


class User(UUIDPk, Timestamps, UserMixin, db.Model):
    """A person with a login; `session_version` lets the server end sessions it issued."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    nome: Mapped[str | None] = mapped_column(String(120))
    # The search keys of username, e-mail and nome in one column (apps.core.records.KEY_SEPARATOR between
    # them): what the users search compares and, starting with the username's, the list's order.
    busca: Mapped[str] = search_key_column("username", "email", "nome", length=460)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False, default=Role.VISUALIZADOR)  # a built-in or papeis.codigo
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
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return bool(self.ativo)

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
