"""Rules about clientes: CNPJ and operadora checks, uniqueness, audit, queries."""
import re

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from apps.clientes import cnpj as cnpj_rules
from apps.clientes.models import Cliente
from apps.core import audit
from apps.core.records import RecordError, contains
from apps.core.types import db, parse_uuid
from apps.operadoras.models import Operadora

EDITABLE_FIELDS = ("nome", "cnpj", "codigo", "operadora_id", "ativo")
DUPLICATE_CNPJ = "Já existe um cliente com este CNPJ."


def list_query(q: str | None = None, operadora_id=None, ativo: bool | None = None):
    """Clientes with their operadora loaded in the same query, sorted by nome in Portuguese order (its search
    key, read from ix_clientes_nome_busca); the search ignores case and accents."""
    query = (
        select(Cliente).join(Cliente.operadora).options(contains_eager(Cliente.operadora))
        .order_by(Cliente.nome_busca, Cliente.nome, Cliente.id)
    )
    q = (q or "").strip()
    if q:
        condition = contains(q, Cliente.codigo, keys=(Cliente.nome_busca,))
        bare = cnpj_rules.clean(q)
        if re.search(r"\d", bare):  # a CNPJ fragment, typed with or without punctuation
            condition = or_(condition, contains(bare, Cliente.cnpj))
        query = query.where(condition)
    if operadora_id is not None:
        query = query.where(Cliente.operadora_id == operadora_id)
    if ativo is not None:
        query = query.where(Cliente.ativo == ativo)
    return query


def _text(values, name, label, max_length, errors, required=True):
    value = values.get(name)
    if value is not None and not isinstance(value, str):
        errors[name] = "Texto esperado."
        return None
    value = (value or "").strip()
    if required and not value:
        errors[name] = f"Informe {label}."
    elif len(value) > max_length:
        errors[name] = f"Use no máximo {max_length} caracteres."
    return value or None


def _clean_cnpj(values, errors):
    raw = values.get("cnpj")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors["cnpj"] = "Informe o CNPJ."
        return None
    if not isinstance(raw, str):
        errors["cnpj"] = "Texto esperado."
        return None
    if not cnpj_rules.is_valid(raw):
        errors["cnpj"] = "CNPJ inválido: confira os 14 caracteres e os dígitos verificadores."
        return None
    return cnpj_rules.clean(raw)


def _clean_operadora(values, errors, current: Cliente | None):
    """The operadora must exist, and be active when chosen, changed or the cliente is reactivated."""
    raw = values.get("operadora_id")
    if raw in (None, ""):
        errors["operadora_id"] = "Escolha a operadora."
        return None
    operadora = db.session.get(Operadora, parse_uuid(raw)) if parse_uuid(raw) else None
    if operadora is None:
        errors["operadora_id"] = "Operadora não encontrada."
        return None
    unchanged = current is not None and current.operadora_id == operadora.id
    reactivating = current is not None and not current.ativo and values.get("ativo") is True
    if not operadora.ativo and (not unchanged or reactivating):
        errors["operadora_id"] = f"A operadora {operadora.codigo} está inativa; escolha uma operadora ativa."
    return operadora.id


def _validate(values: dict, current: Cliente | None = None) -> dict:
    """Check and normalize a full set of values; RecordError(422) naming every bad field."""
    errors = {}
    clean = {
        "nome": _text(values, "nome", "o nome", 200, errors),
        "codigo": _text(values, "codigo", "o código", 60, errors, required=False),
        "cnpj": _clean_cnpj(values, errors),
        "operadora_id": _clean_operadora(values, errors, current),
        "ativo": values.get("ativo"),
    }
    if not isinstance(clean["ativo"], bool):
        errors["ativo"] = "Valor verdadeiro ou falso esperado."
    if errors:
        raise RecordError("Corrija os campos indicados.", errors)
    _check_unique(clean["cnpj"], current.id if current else None)
    return clean


def _check_unique(cnpj: str, exclude_id=None):
    query = select(Cliente.id).where(Cliente.cnpj == cnpj)
    if exclude_id is not None:
        query = query.where(Cliente.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise RecordError(f"{DUPLICATE_CNPJ} ({cnpj_rules.format_cnpj(cnpj)})", {"cnpj": "CNPJ já cadastrado."}, 409)


def _unknown(data: dict):
    extra = sorted(set(data) - set(EDITABLE_FIELDS))
    if extra:
        raise RecordError("Campos desconhecidos.", {k: "Campo desconhecido." for k in extra})


def _flush():
    """Flush, turning a concurrent duplicate into the same 409 as the checked one."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise RecordError(DUPLICATE_CNPJ, {"cnpj": "CNPJ já cadastrado."}, 409) from exc


def create_cliente(data: dict, by) -> Cliente:
    """Create a cliente of an active operadora."""
    _unknown(data)
    clean = _validate({"ativo": True, **data})
    cliente = Cliente(**clean)
    db.session.add(cliente)
    _flush()
    audit.record("cliente_criado", entity=cliente, user=by, detail=f"cnpj={cliente.cnpj}")
    return cliente


def update_cliente(cliente: Cliente, data: dict, by) -> Cliente:
    """Change the given fields (a partial update)."""
    _unknown(data)
    current = {k: getattr(cliente, k) for k in EDITABLE_FIELDS}
    clean = _validate({**current, **data}, current=cliente)
    changed = [k for k in EDITABLE_FIELDS if clean[k] != current[k]]
    for name in changed:
        setattr(cliente, name, clean[name])
    _flush()
    if "operadora_id" in changed:
        db.session.refresh(cliente, ["operadora"])
    if changed:
        detail = "; ".join(f"{k}: {current[k]!s:.80} → {clean[k]!s:.80}" for k in changed)
        audit.record("cliente_alterado", entity=cliente, user=by, detail=detail)
    return cliente


def set_active(cliente: Cliente, ativo: bool, by) -> bool:
    """Deactivate or reactivate (only under an active operadora); True when something changed."""
    if cliente.ativo == ativo:
        return False
    if ativo and not cliente.operadora.ativo:
        raise RecordError(
            f"A operadora {cliente.operadora.codigo} está inativa: reative-a ou troque a operadora do cliente.",
            {"operadora_id": "Operadora inativa."},
        )
    cliente.ativo = ativo
    audit.record("cliente_reativado" if ativo else "cliente_desativado", entity=cliente, user=by,
                 detail=f"cnpj={cliente.cnpj}")
    return True


def serialize(cliente: Cliente) -> dict:
    """The API's JSON form of a cliente."""
    return {
        "id": str(cliente.id),
        "nome": cliente.nome,
        "cnpj": cliente.cnpj,
        "cnpj_formatado": cliente.cnpj_formatado,
        "codigo": cliente.codigo,
        "operadora_id": str(cliente.operadora_id),
        "ativo": cliente.ativo,
    }
