"""Roles: what a role code grants (built-in or custom, cached per request) and the rules of /papeis."""
import re
from dataclasses import dataclass

from flask import g, has_app_context
from sqlalchemy import func, select

from apps.auth.models import Papel, User
from apps.auth.permissions import BUILTIN_ROLES, PERMISSIONS, role_summary
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.types import db

CODIGO_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")
_CACHE = "_papeis_resolvidos"


class PapelError(ServiceError):
    """A role change the rules refuse."""


@dataclass(frozen=True)
class ResolvedRole:
    code: str
    nome: str
    descricao: str
    permissions: frozenset
    builtin: bool
    ativo: bool = True
    usuarios: int = 0

    @property
    def summary(self) -> str:
        return role_summary(self.permissions)


def _from_builtin(role) -> ResolvedRole:
    return ResolvedRole(role.code, role.nome, role.descricao, role.permissions, builtin=True)


def _from_papel(papel: Papel, usuarios: int = 0) -> ResolvedRole:
    granted = frozenset(p for p in (papel.permissoes or []) if p in PERMISSIONS) if papel.ativo else frozenset()
    return ResolvedRole(papel.codigo, papel.nome, papel.descricao or "", granted, builtin=False,
                        ativo=papel.ativo, usuarios=usuarios)


def reset_cache() -> None:
    """Forget what this request resolved (a request start, or a role just changed)."""
    if has_app_context():
        g.pop(_CACHE, None)


def resolve(code: str | None) -> ResolvedRole | None:
    """The role a code names, None when no role has it; custom ones are read once per request."""
    if code in BUILTIN_ROLES:
        return _from_builtin(BUILTIN_ROLES[code])
    if not code or not CODIGO_RE.match(code):
        return None  # not a code any role can have: no query (a NUL in a URL never reaches the database)
    cache = g.setdefault(_CACHE, {}) if has_app_context() else {}
    if code not in cache:
        papel = db.session.scalar(select(Papel).where(Papel.codigo == code))
        cache[code] = _from_papel(papel) if papel is not None else None
    return cache[code]


def permissions_of(user) -> frozenset:
    """Every permission `user` holds now: none for nobody, an inactive user, or an unknown or inactive role."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    role = resolve(user.role)
    return role.permissions if role is not None else frozenset()


def codes_granting(permission: str) -> list[str]:
    """The codes of every role (built-in, and custom while active) that grants `permission`."""
    codes = [code for code, role in BUILTIN_ROLES.items() if permission in role.permissions]
    codes += [p.codigo for p in db.session.scalars(select(Papel).where(Papel.ativo.is_(True)).order_by(Papel.codigo))
              if permission in (p.permissoes or [])]
    return codes


def role_name(code: str | None) -> str:
    role = resolve(code)
    return role.nome if role is not None else (code or "—")


def all_roles() -> list[ResolvedRole]:
    """Built-in roles first (catalogue order), then custom ones by nome, each with its count of users."""
    counts = dict(db.session.execute(select(User.role, func.count()).group_by(User.role)).all())
    builtins = [_from_builtin(r) for r in BUILTIN_ROLES.values()]
    builtins = [ResolvedRole(**{**r.__dict__, "usuarios": counts.get(r.code, 0)}) for r in builtins]
    custom = [_from_papel(p, counts.get(p.codigo, 0)) for p in db.session.scalars(select(Papel).order_by(Papel.nome))]
    return builtins + custom


def assignable_choices(current: str | None = None) -> list[tuple[str, str]]:
    """(code, nome) of the roles a user can be given: built-ins and active custom ones (plus `current`)."""
    choices = [(r.code, r.nome) for r in BUILTIN_ROLES.values()]
    for papel in db.session.scalars(select(Papel).order_by(Papel.nome)):
        if papel.ativo or papel.codigo == current:
            choices.append((papel.codigo, papel.nome + ("" if papel.ativo else " (inativo)")))
    return choices


def is_assignable(code: str) -> bool:
    if code in BUILTIN_ROLES:
        return True
    if not isinstance(code, str) or not CODIGO_RE.match(code):
        return False
    return db.session.scalar(select(Papel.id).where(Papel.codigo == code, Papel.ativo.is_(True))) is not None


def get_custom(code: str) -> Papel | None:
    if not isinstance(code, str) or not CODIGO_RE.match(code):
        return None
    return db.session.scalar(select(Papel).where(Papel.codigo == code))


def _clean(nome, descricao, permissoes, exclude_id=None) -> tuple[str, str | None, list[str]]:
    nome = (nome or "").strip()
    if not nome or len(nome) > 80:
        raise PapelError("Informe o nome (até 80 caracteres).", fields={"nome": "Informe o nome."})
    clash = select(Papel.id).where(func.lower(Papel.nome) == nome.lower())
    if exclude_id is not None:
        clash = clash.where(Papel.id != exclude_id)
    if db.session.scalar(clash) is not None or nome.lower() in {r.nome.lower() for r in BUILTIN_ROLES.values()}:
        raise PapelError("Já existe um papel com este nome.", status=409, fields={"nome": "Nome já usado."})
    if not isinstance(permissoes, (list, tuple, set)) or not all(isinstance(p, str) for p in permissoes):
        raise PapelError("Permissões inválidas.", fields={"permissoes": "uma lista de códigos"})
    unknown = sorted(set(permissoes) - set(PERMISSIONS))
    if unknown:
        raise PapelError("Permissões desconhecidas: " + ", ".join(unknown) + ".",
                         fields={"permissoes": "desconhecidas: " + ", ".join(unknown)})
    ordered = [code for code in PERMISSIONS if code in set(permissoes)]
    return nome, (descricao or "").strip() or None, ordered


def create_papel(codigo, nome, descricao, permissoes, by=None) -> Papel:
    """A new custom role (audited); its code is fixed for good, as users hold it."""
    codigo = (codigo or "").strip().upper()
    if not CODIGO_RE.match(codigo):
        raise PapelError("Código inválido: de 2 a 20 letras maiúsculas, números ou _, começando por letra.",
                         fields={"codigo": "Use A-Z, 0-9 e _, começando por letra."})
    if codigo in BUILTIN_ROLES or get_custom(codigo) is not None:
        raise PapelError("Já existe um papel com este código.", status=409, fields={"codigo": "Código já usado."})
    nome, descricao, permissoes = _clean(nome, descricao, permissoes)
    papel = Papel(codigo=codigo, nome=nome, descricao=descricao, permissoes=permissoes, ativo=True)
    db.session.add(papel)
    db.session.flush()
    audit.record("papel_criado", entity=papel, user=by, detail=f"codigo={codigo}; permissoes={','.join(permissoes)}")
    reset_cache()
    return papel


def update_papel(papel: Papel, *, nome, descricao, permissoes, ativo, by=None) -> Papel:
    """Change a custom role; its holders get the new set at their next request (audited)."""
    nome, descricao, permissoes = _clean(nome, descricao, permissoes, exclude_id=papel.id)
    before = set(papel.permissoes or [])
    changes = []
    if set(permissoes) - before:
        changes.append("+" + ",".join(p for p in permissoes if p not in before))
    if before - set(permissoes):
        changes.append("-" + ",".join(sorted(before - set(permissoes))))
    if bool(ativo) != papel.ativo:
        changes.append("ativado" if ativo else "desativado")
    if nome != papel.nome:
        changes.append(f"nome {papel.nome}→{nome}")
    papel.nome, papel.descricao, papel.permissoes, papel.ativo = nome, descricao, permissoes, bool(ativo)
    db.session.flush()
    audit.record("papel_alterado", entity=papel, user=by, detail="; ".join(changes) or "dados")
    reset_cache()
    return papel


def delete_papel(papel: Papel, by=None) -> None:
    """Delete a custom role nobody holds (one in use is refused: deactivate it instead)."""
    holders = db.session.scalar(select(func.count()).select_from(User).where(User.role == papel.codigo))
    if holders:
        raise PapelError(f"O papel {papel.nome} está atribuído a {holders} usuário(s): troque o papel deles "
                         "ou desative-o.", status=409)
    audit.record("papel_excluido", entity=papel, user=by, detail=f"codigo={papel.codigo}")
    db.session.delete(papel)
    db.session.flush()
    reset_cache()
