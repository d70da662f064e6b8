"""Rules about operadoras: validation, who may change the robot settings, audit, queries."""
import re
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from apps.aprovacoes.settings import APPROVAL_FIELDS, AprovadoresField, clean_approval
from apps.auth.policy import has_permission
from apps.clientes.models import Cliente
from apps.core import audit
from apps.core.records import RecordError, contains
from apps.core.types import db
from apps.operadoras import credentials
from apps.operadoras.models import Operadora
from apps.operadoras.url_validation import validate_rpa_url

RPA_FIELDS = ("possui_rpa", "rpa_terceirizado", "url_endpoint_rpa", "limite_concorrencia")
EDITABLE_FIELDS = ("codigo", "nome", *RPA_FIELDS, "ativo", *APPROVAL_FIELDS)
# Write-only: a string stores the outsourced robot's own credential (encrypted), None removes it.
CREDENTIAL_FIELD = "credencial_rpa"
ADMIN_FIELDS = (*RPA_FIELDS, CREDENTIAL_FIELD)
URL_MOVED = ("A URL do endpoint mudou de servidor: informe a credencial de novo (ou remova-a), para que a "
             "credencial cadastrada não seja enviada a outro servidor.")
CODIGO_RE = re.compile(r"^[A-Z0-9_-]+$")
LIMITE_MIN, LIMITE_MAX = 1, 100
RPA_ADMIN_ONLY = "Somente um Admin pode alterar as configurações do robô (RPA) da operadora."
ROBOT_SETTINGS = "operadora.configurar_robo"  # the permission that shows and accepts those fields


def list_query(q: str | None = None, ativo: bool | None = None):
    """Operadoras matching the search and filter, sorted by codigo."""
    query = select(Operadora).order_by(Operadora.codigo, Operadora.id).options(selectinload(Operadora.aprovadores))
    q = (q or "").strip()
    if q:
        query = query.where(contains(q, Operadora.codigo, keys=(Operadora.nome_busca,)))
    if ativo is not None:
        query = query.where(Operadora.ativo == ativo)
    return query


def active_operadoras():
    """Active operadoras by codigo, for select boxes."""
    return list(db.session.scalars(select(Operadora).where(Operadora.ativo.is_(True)).order_by(Operadora.codigo)))


def clientes_count(operadora_ids) -> dict:
    """{operadora_id: number of active clientes} in one query."""
    if not operadora_ids:
        return {}
    rows = db.session.execute(
        select(Cliente.operadora_id, func.count(Cliente.id))
        .where(Cliente.operadora_id.in_(list(operadora_ids)), Cliente.ativo.is_(True))
        .group_by(Cliente.operadora_id)
    )
    return dict(rows.all())


def _text(data, name, label, max_length, required=True):
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        return None, "Texto esperado."
    value = (value or "").strip()
    if required and not value:
        return None, f"Informe {label}."
    if len(value) > max_length:
        return None, f"Use no máximo {max_length} caracteres."
    return value or None, None


def _clean_codigo(data, errors):
    codigo, error = _text(data, "codigo", "o código", 30)
    if error:
        errors["codigo"] = error
        return None
    codigo = codigo.upper()
    if not CODIGO_RE.fullmatch(codigo):
        errors["codigo"] = "Use só letras, números, hífen ou sublinhado (ex.: VIVO, TIM_MOVEL)."
    return codigo


def _clean_limite(value, errors):
    if isinstance(value, bool) or not isinstance(value, int):
        errors["limite_concorrencia"] = "Informe um número inteiro."
    elif not LIMITE_MIN <= value <= LIMITE_MAX:
        errors["limite_concorrencia"] = f"Informe um valor entre {LIMITE_MIN} e {LIMITE_MAX}."
    return value


def _clean_url(values, errors, previous=None):
    """url_endpoint_rpa: required for an outsourced robot, SSRF-checked whenever it changes."""
    url, error = _text(values, "url_endpoint_rpa", "a URL", 500, required=False)
    if error:
        errors["url_endpoint_rpa"] = error
        return None
    if url is None:
        if values["rpa_terceirizado"] is True:
            errors["url_endpoint_rpa"] = "Informe a URL do endpoint: ela é obrigatória para RPA terceirizado."
        return None
    if url == previous:
        return url  # unchanged: the RPA client checks it again before every call
    try:
        return validate_rpa_url(url, allow_private=bool(current_app.config.get("RPA_ALLOW_PRIVATE_TARGETS")))
    except ValueError as exc:
        errors["url_endpoint_rpa"] = str(exc)
        return url


def _clean_flags(values, errors):
    for name in ("possui_rpa", "rpa_terceirizado", "ativo"):
        if not isinstance(values.get(name), bool):
            errors[name] = "Valor verdadeiro ou falso esperado."
    if values.get("rpa_terceirizado") is True and values.get("possui_rpa") is False:
        errors["rpa_terceirizado"] = "Uma operadora sem RPA não pode ter RPA terceirizado."


def _validate(values: dict, current: Operadora | None = None) -> dict:
    """Check and normalize a full set of values; RecordError(422) naming every bad field."""
    errors = {}
    clean = dict(values)
    _clean_flags(values, errors)
    clean["codigo"] = _clean_codigo(values, errors)
    nome, error = _text(values, "nome", "o nome", 120)
    if error:
        errors["nome"] = error
    clean["nome"] = nome
    clean["limite_concorrencia"] = _clean_limite(values.get("limite_concorrencia"), errors)
    clean["url_endpoint_rpa"] = _clean_url(values, errors, current.url_endpoint_rpa if current else None)
    clean_approval(values, clean, errors)
    if errors:
        raise RecordError("Corrija os campos indicados.", errors)
    _check_unique(clean["codigo"], current.id if current else None)
    return clean


def _check_unique(codigo: str, exclude_id=None):
    query = select(Operadora.id).where(func.upper(Operadora.codigo) == codigo)
    if exclude_id is not None:
        query = query.where(Operadora.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise RecordError(f"Já existe uma operadora com o código {codigo}.", {"codigo": "Código já cadastrado."}, 409)


def _check_rpa_permission(data: dict, by):
    sent = sorted(k for k in ADMIN_FIELDS if k in data)
    if sent and not has_permission(by, ROBOT_SETTINGS):
        raise RecordError(RPA_ADMIN_ONLY, {k: "Somente Admin." for k in sent}, 403)
    AprovadoresField.check_permission(data, by)


def _unknown(data: dict):
    extra = sorted(set(data) - set(EDITABLE_FIELDS) - {CREDENTIAL_FIELD, AprovadoresField.NAME})
    if extra:
        raise RecordError("Campos desconhecidos.", {k: "Campo desconhecido." for k in extra})


def _flush():
    """Flush, turning a concurrent duplicate into the same 409 as the checked one."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise RecordError("Já existe uma operadora com este código.", {"codigo": "Código já cadastrado."}, 409) from exc


def _origin(url: str | None):
    parts = urlsplit(url or "")
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _clean_credential(data: dict, clean: dict, current: Operadora | None) -> str | None:
    """The new Fernet token to store, "" to remove the credential, or None to keep it; RecordError(422).

    A credential is only for an outsourced robot, and one already stored is never sent to another
    server: moving the URL to another origin requires typing it again (or removing it)."""
    stored = current.credencial_rpa_cifrada if current is not None else None
    if CREDENTIAL_FIELD not in data:
        new_url = clean["url_endpoint_rpa"]
        moved = current is not None and new_url is not None and _origin(new_url) != _origin(current.url_endpoint_rpa)
        if stored and moved:
            raise RecordError(URL_MOVED, {CREDENTIAL_FIELD: URL_MOVED})
        return None
    value = data[CREDENTIAL_FIELD]
    if value is None:
        return "" if stored else None
    try:
        text = credentials.clean(value)
    except credentials.CredentialError as exc:
        raise RecordError("Corrija os campos indicados.", {CREDENTIAL_FIELD: str(exc)}) from exc
    if not clean["rpa_terceirizado"]:
        raise RecordError("Corrija os campos indicados.", {
            CREDENTIAL_FIELD: "A credencial própria só é usada por RPA terceirizado: marque-o ou deixe o campo vazio."})
    if stored and credentials.credential_for(current) == text:
        return None  # the same one again: nothing changes, nothing audited
    try:
        return credentials.encrypt(text)
    except credentials.CredentialError as exc:
        raise RecordError(str(exc), {CREDENTIAL_FIELD: str(exc)}, 500) from exc


def _store_credential(operadora: Operadora, token: str | None, by) -> None:
    """Apply _clean_credential's answer and audit it (the detail never holds the secret)."""
    if token is None:
        return
    operadora.credencial_rpa_cifrada = token or None
    action = "operadora_credencial_definida" if token else "operadora_credencial_removida"
    audit.record(action, entity=operadora, user=by, detail=f"codigo={operadora.codigo}")


def create_operadora(data: dict, by) -> Operadora:
    """Create an operadora; robot settings only from an Admin (others get the defaults)."""
    _unknown(data)
    _check_rpa_permission(data, by)
    values = {"possui_rpa": True, "rpa_terceirizado": False, "url_endpoint_rpa": None,
              "limite_concorrencia": 5, "ativo": True, "prazo_aprovacao_dias_uteis": 2, "valor_dupla_aprovacao": None,
              "variacao_alerta_pct": 25, **data}
    clean = _validate(values)
    credential = _clean_credential(data, clean, None)
    operadora = Operadora(**{k: clean[k] for k in EDITABLE_FIELDS})
    db.session.add(operadora)
    _flush()
    audit.record("operadora_criada", entity=operadora, user=by, detail=f"codigo={operadora.codigo}")
    _store_credential(operadora, credential, by)
    AprovadoresField.store(operadora, data, by)
    return operadora


def update_operadora(operadora: Operadora, data: dict, by) -> Operadora:
    """Change the given fields (a partial update); robot settings and the credential only from an Admin."""
    _unknown(data)
    _check_rpa_permission(data, by)
    current = {k: getattr(operadora, k) for k in EDITABLE_FIELDS}
    clean = _validate({**current, **data}, current=operadora)
    credential = _clean_credential(data, clean, operadora)
    changed = [k for k in EDITABLE_FIELDS if clean[k] != current[k]]
    for name in changed:
        setattr(operadora, name, clean[name])
    _flush()
    if changed:
        audit.record("operadora_alterada", entity=operadora, user=by, detail=_describe(changed, current, clean))
    _store_credential(operadora, credential, by)
    AprovadoresField.store(operadora, data, by)
    return operadora


def _describe(changed, before, after) -> str:
    return "; ".join(f"{k}: {before[k]!s:.80} → {after[k]!s:.80}" for k in changed)


def set_active(operadora: Operadora, ativo: bool, by) -> bool:
    """Deactivate or reactivate; True when something changed (audited)."""
    if operadora.ativo == ativo:
        return False
    operadora.ativo = ativo
    audit.record("operadora_reativada" if ativo else "operadora_desativada", entity=operadora, user=by,
                 detail=f"codigo={operadora.codigo}")
    return True


def serialize(operadora: Operadora) -> dict:
    """The API's JSON form of an operadora."""
    return {
        "id": str(operadora.id),
        "codigo": operadora.codigo,
        "nome": operadora.nome,
        "possui_rpa": operadora.possui_rpa,
        "rpa_terceirizado": operadora.rpa_terceirizado,
        "url_endpoint_rpa": operadora.url_endpoint_rpa,
        "limite_concorrencia": operadora.limite_concorrencia,
        "ativo": operadora.ativo,
        "credencial_configurada": operadora.credencial_configurada,  # the credential itself is write-only
        "aprovadores": [str(u.id) for u in operadora.aprovadores],
        "prazo_aprovacao_dias_uteis": operadora.prazo_aprovacao_dias_uteis,
        "valor_dupla_aprovacao": (f"{operadora.valor_dupla_aprovacao:.2f}"
                                  if operadora.valor_dupla_aprovacao is not None else None),
        "variacao_alerta_pct": operadora.variacao_alerta_pct,
    }
