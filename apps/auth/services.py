"""Rules about people: loading the session user, logging in, creating and changing users."""
from flask import current_app, session
from flask_login import login_user, logout_user
from sqlalchemy import func, select

from apps.auth import limits, passwords, roles
from apps.auth.models import Role, User
from apps.auth.passwords import password_problems
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.types import db, parse_uuid, utcnow


class UserError(ServiceError, ValueError):
    """A user change that breaks a rule; `field` names the form field concerned, `status` the API's answer
    (409 for a username or e-mail already in use)."""

    def __init__(self, message, field=None, status=422):
        super().__init__(message, status, {field: message} if field else None)
        self.field = field


def load_session_user(identity: str):
    """Flask-Login loader: 'id:version'; a bumped version ends the session."""
    user_id, _, version = (identity or "").partition(":")
    uid = parse_uuid(user_id)
    if uid is None or not version.isdigit():
        return None
    user = db.session.get(User, uid)
    if user is None or not user.ativo or user.session_version != int(version):
        return None
    return user


def find_by_login(login: str):
    login = (login or "").strip().lower()
    return db.session.scalar(
        select(User).where((func.lower(User.username) == login) | (func.lower(User.email) == login))
    )


def authenticate(login: str, password: str):
    """The active user with these credentials, or None (audited either way).

    Raises limits.LoginThrottled, before any password is checked, while the account must wait or
    the address is blocked (apps/auth/limits.py; the web form and the API share the counts). An
    unknown login is checked against a dummy hash, so it costs as long as a wrong password.
    """
    user = find_by_login(login)
    attempt = limits.begin(login, user)
    allowed = local_login_allowed(user)
    if user is None or not allowed or not passwords.is_usable(user.password_hash):
        passwords.verify_dummy(password)  # the same cost, so the answer's time tells nothing
        ok = False
    else:
        ok = user.check_password(password) and user.ativo
    if not ok:
        attempt.failed()
        audit.record("login_falhou", entity_type="users", entity_id=user.id if user else None,
                     detail=f"login={login[:80]}" + ("" if allowed else "; login local desativado"), user=None)
        if attempt.delay_seconds:
            audit.record("login_bloqueado", entity_type="users", entity_id=user.id if user else None,
                         detail=f"{attempt.failures} falhas seguidas; próxima tentativa em "
                                f"{attempt.delay_seconds}s; login={login[:80]}", user=None)
        db.session.commit()
        return None
    attempt.succeeded()
    return user


def local_login_allowed(user) -> bool:
    """May this user log in with a password? Always, unless LOCAL_LOGIN=false: then break-glass Admins only."""
    if current_app.config.get("LOCAL_LOGIN", True):
        return True
    return user is not None and bool(user.break_glass) and user.role == Role.ADMIN


def login_failed_message() -> str:
    """One message for every refused password, so it never tells which accounts may still use one."""
    if current_app.config.get("LOCAL_LOGIN", True):
        return "Usuário ou senha incorretos."
    return "Usuário ou senha incorretos, ou o login com senha está desativado para esta conta."


def start_session(user, remember: bool, via: str | None = None):
    """Log in with a fresh session (no fixation) and audit it (`via`: the provider, for a sign-in through one)."""
    session.clear()
    login_user(user, remember=remember)
    user.last_login_at = utcnow()
    audit.record("login", entity=user, user=user, detail=f"via {via}" if via else None)
    db.session.commit()


def end_session(user):
    """Log out and revoke, server-side, every signed cookie and every API token issued before."""
    user.end_sessions()
    audit.record("logout", entity=user, user=user)
    db.session.commit()
    logout_user()
    session.clear()


def _check_unique(username, email, exclude_id=None):
    query = select(User).where((func.lower(User.username) == username.lower()) | (func.lower(User.email) == email.lower()))
    for other in db.session.scalars(query):
        if other.id == exclude_id:
            continue
        if other.username.lower() == username.lower():
            raise UserError("Este nome de usuário já está em uso.", "username", status=409)
        raise UserError("Este e-mail já está em uso.", "email", status=409)


def validate_password(password, username):
    problems = password_problems(password, username)
    if problems:
        raise UserError(" ".join(problems), "password")


def _check_break_glass(role, break_glass):
    if break_glass and role != Role.ADMIN:
        raise UserError("Só um Admin pode ter acesso de emergência (break-glass).", "break_glass")


def create_user(username, email, password, role=Role.VISUALIZADOR, nome=None, by=None, break_glass=False):
    """Create a user after checking uniqueness and password rules."""
    username, email = username.strip(), email.strip().lower()
    _check_unique(username, email)
    validate_password(password, username)
    if not roles.is_assignable(role):
        raise UserError("Perfil inválido.", "role")
    _check_break_glass(role, break_glass)
    user = User(username=username, email=email, role=role, nome=nome, break_glass=bool(break_glass))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("usuario_criado", entity=user, user=by, detail=f"perfil={role}")
    return user


def update_user(user, *, email, role, nome, ativo, by=None, break_glass=None):
    """Change a user's data; role changes and deactivation end their sessions (`break_glass` None: unchanged)."""
    email = email.strip().lower()
    _check_unique(user.username, email, exclude_id=user.id)
    if by is not None and by.id == user.id and (role != user.role or not ativo):
        raise UserError("Você não pode alterar o próprio perfil nem se desativar.", "role")
    if role != user.role and not roles.is_assignable(role):
        raise UserError("Perfil inválido.", "role")
    break_glass = user.break_glass and role == Role.ADMIN if break_glass is None else bool(break_glass)
    _check_break_glass(role, break_glass)
    changes = []
    if role != user.role:
        changes.append(f"perfil {user.role}→{role}")
    if ativo != user.ativo:
        changes.append("ativado" if ativo else "desativado")
    if changes:
        user.end_sessions()
    if break_glass != user.break_glass:
        changes.append("acesso de emergência " + ("ativado" if break_glass else "removido"))
        user.break_glass = break_glass
    user.email, user.role, user.nome, user.ativo = email, role, nome, ativo
    audit.record("usuario_alterado", entity=user, user=by, detail="; ".join(changes) or "dados")
    return user


def reset_password(user, password, by=None):
    """Set a new password and end the user's sessions and tokens."""
    validate_password(password, user.username)
    user.set_password(password)
    user.end_sessions()
    audit.record("senha_redefinida", entity=user, user=by)
