"""Which user a provider's sign-in is: a known identity, a local user linked by verified e-mail, or a new user.

Rules (issue 17):
- a known identity (provider, subject) is that user;
- otherwise an existing user with the same e-mail is linked only when the provider says the e-mail is
  verified (`email_verified`, or GitHub's verified primary e-mail): an unverified claim could name anybody's
  address, and linking would hand that account over. Unverified: refused with a message saying so;
- otherwise a user is created (just in time) with the mapped role, or Visualizador, and no usable password;
- a deactivated user is refused;
- when the provider is asked about roles (OIDC_ROLE_CLAIM, GITHUB_ROLE_MAP), every sign-in sets the role
  from it (the first value of the map that the claim carries, else Visualizador); a change ends the user's
  other sessions and API tokens, as an admin's change does.
"""
import logging
import re

from sqlalchemy import func, select

from apps.auth import passwords, roles
from apps.auth.identities import ExternalIdentity
from apps.auth.models import Role, User
from apps.auth.sso import Profile, SignInRefused
from apps.core import audit
from apps.core.types import db, utcnow

log = logging.getLogger(__name__)
USERNAME_DROP = re.compile(r"[^A-Za-z0-9_.-]+")
USERNAME_MAX = 80


def role_exists(code: str) -> bool:
    """Is `code` one of our roles? The one place to ask (roles by name live elsewhere after the merge)."""
    return roles.resolve(code) is not None


def mapped_role(profile: Profile) -> str | None:
    """The role the provider's values give (None: the provider is not asked about roles)."""
    if profile.role_values is None:
        return None
    values = set(profile.role_values)
    for value, role in profile.role_map:
        if value in values:
            if role_exists(role):
                return role
            log.warning("role map names an unknown role %r; entry ignored", role[:40])
    return Role.VISUALIZADOR


def identities_of(user) -> list[ExternalIdentity]:
    """The provider accounts linked to a user, oldest first."""
    return list(db.session.scalars(select(ExternalIdentity).where(ExternalIdentity.user_id == user.id)
                                   .order_by(ExternalIdentity.created_at)))


def sign_in(profile: Profile) -> User:
    """The active user this profile is (found, linked or created), its role updated; or SignInRefused."""
    identity = db.session.scalar(select(ExternalIdentity).where(
        ExternalIdentity.provider == profile.provider, ExternalIdentity.subject == profile.subject))
    user = identity.user if identity else _by_email(profile.email)
    if identity is None and user is not None and not profile.email_verified:
        raise SignInRefused(
            f"Já existe um usuário com o e-mail {profile.email}, mas {profile.label} não confirma que este "
            "e-mail é seu (e-mail não verificado). Verifique o e-mail no provedor ou peça a um administrador.",
            f"e-mail não verificado igual ao de um usuário existente ({profile.label})", user=user)
    if user is not None and not user.ativo:
        raise SignInRefused("Seu usuário está desativado. Fale com um administrador.",
                            f"usuário desativado ({profile.label})", user=user)
    if identity is None:
        user = _link(user, profile) if user is not None else _create(profile)
        identity = ExternalIdentity(provider=profile.provider, subject=profile.subject, user=user)
        db.session.add(identity)
    else:
        _sync_role(user, profile)
    identity.email, identity.last_login_at = profile.email, utcnow()
    db.session.flush()
    return user


def _by_email(email: str | None):
    if not email:
        return None
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def _link(user: User, profile: Profile) -> User:
    audit.record("identidade_vinculada", entity=user, user=user,
                 detail=f"{profile.label}: e-mail verificado {profile.email}")
    _sync_role(user, profile)
    return user


def _create(profile: Profile) -> User:
    if not profile.email:
        raise SignInRefused(f"{profile.label} não informou o seu e-mail; sem ele não é possível criar o usuário.",
                            f"sem e-mail ({profile.label})")
    role = mapped_role(profile) or Role.VISUALIZADOR
    user = User(username=_free_username(profile), email=profile.email, nome=(profile.nome or None) and
                profile.nome[:120], role=role, password_hash=passwords.UNUSABLE)
    db.session.add(user)
    db.session.flush()
    audit.record("usuario_criado_provedor", entity=user, user=user, detail=f"via {profile.label}; perfil={role}")
    return user


def _free_username(profile: Profile) -> str:
    """A username from the provider's (or the e-mail's), made unique with -2, -3…"""
    hint = profile.username or (profile.email or "").partition("@")[0] or "usuario"
    base = USERNAME_DROP.sub("", hint)[:USERNAME_MAX - 4] or "usuario"
    taken = {name.lower() for name in db.session.scalars(
        select(User.username).where(func.lower(User.username).like(base.lower() + "%")))}
    candidate, n = base, 2
    while candidate.lower() in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _sync_role(user: User, profile: Profile) -> None:
    role = mapped_role(profile)
    if role is None or role == user.role:
        return
    audit.record("perfil_alterado_provedor", entity=user, user=user,
                 detail=f"perfil {user.role}→{role} ({profile.label})")
    user.role = role
    if role != Role.ADMIN:
        user.break_glass = False
    user.end_sessions()  # the new session (started after this) carries the new version
