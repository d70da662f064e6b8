"""What admins and people do on the portal: keep domínios and serviços, run a serviço, list their asks.

A serviço's run is an execucao of kind SERVICO (no processo; its operadora, when the form names one, takes
that operadora's concurrency slot), dispatched by the same throttle and start job as every run. The mapping
`"tarefa": "download"` runs the invoice download of a cliente's competência instead: that processo is found
or created and its download started the normal way (processos.services.executar).
"""
import re
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from apps.auth import roles
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.queues import QueueUnavailable, ensure_available
from apps.core.types import db, parse_uuid
from apps.portal import schema, valores
from apps.portal.models import Dominio, Servico
from apps.processos import services as processos
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao
from apps.rpa import throttle

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
DOMINIO_FIELDS = ("slug", "nome", "ordem")
SERVICO_FIELDS = ("nome", "descricao", "dominio_id", "papeis", "ativo", "form_schema_json", "run_template_json")


class PortalError(ServiceError):
    """A refusal of the portal's rules."""


def _text(data, name, label, errors, *, maximum, required=True):
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = f"Informe {label}."
        return None
    if not isinstance(value, str):
        errors[name] = f"{label.capitalize()} deve ser texto."
        return None
    value = value.strip()
    if len(value) > maximum:
        errors[name] = f"No máximo {maximum} caracteres."
    return value


# -- domínios ------------------------------------------------------------------------------------
def _dominio_values(data: dict, current=None) -> dict:
    errors = {}
    slug = _text(data, "slug", "o identificador (slug)", errors, maximum=60)
    if slug is not None:
        slug = slug.lower()
        if not SLUG.match(slug):
            errors["slug"] = "Use letras minúsculas, números e hífens (ex.: faturas-e-debitos)."
        elif db.session.scalar(select(Dominio.id).where(Dominio.slug == slug,
                                                        Dominio.id != getattr(current, "id", None))):
            errors["slug"] = "Já existe um domínio com este identificador."
    nome = _text(data, "nome", "o nome", errors, maximum=120)
    ordem = data.get("ordem", 0)
    if isinstance(ordem, str) and ordem.strip().lstrip("-").isdigit():
        ordem = int(ordem)
    if isinstance(ordem, bool) or not isinstance(ordem, int) or not -10000 <= ordem <= 10000:
        errors["ordem"] = "Informe um número inteiro entre -10000 e 10000."
    if errors:
        raise PortalError("Confira os campos do domínio.", fields=errors)
    return {"slug": slug, "nome": nome, "ordem": ordem}


def _unknown(data, allowed):
    unknown = {key: "Campo desconhecido." for key in data if key not in allowed}
    if unknown:
        raise PortalError("Campos não aceitos: " + ", ".join(sorted(unknown)) + ".", fields=unknown)


def create_dominio(data: dict, by) -> Dominio:
    _unknown(data, DOMINIO_FIELDS)
    dominio = Dominio(**_dominio_values(data))
    db.session.add(dominio)
    db.session.flush()
    audit.record("dominio_criado", entity=dominio, user=by, detail=f"slug={dominio.slug}")
    return dominio


def update_dominio(dominio: Dominio, data: dict, by) -> Dominio:
    _unknown(data, DOMINIO_FIELDS)
    current = {name: getattr(dominio, name) for name in DOMINIO_FIELDS}
    for name, value in _dominio_values({**current, **data}, current=dominio).items():
        setattr(dominio, name, value)
    db.session.flush()
    audit.record("dominio_alterado", entity=dominio, user=by, detail=f"slug={dominio.slug}")
    return dominio


def dominios() -> list:
    return list(db.session.scalars(select(Dominio).order_by(Dominio.ordem, Dominio.nome)))


def serialize_dominio(dominio: Dominio) -> dict:
    return {"id": str(dominio.id), "slug": dominio.slug, "nome": dominio.nome, "ordem": dominio.ordem}


# -- serviços ------------------------------------------------------------------------------------
def _servico_values(data: dict) -> dict:
    errors = {}
    nome = _text(data, "nome", "o nome", errors, maximum=120)
    descricao = _text(data, "descricao", "a descrição", errors, maximum=2000, required=False)
    dominio = db.session.get(Dominio, parse_uuid(data.get("dominio_id"))) if parse_uuid(data.get("dominio_id")) else None
    if dominio is None:
        errors["dominio_id"] = "Escolha um domínio existente."
    papeis = data.get("papeis")
    if not isinstance(papeis, list) or not all(isinstance(p, str) for p in papeis):
        errors["papeis"] = "Informe a lista de códigos de papel (como OPERADOR ou um papel criado em Papéis)."
    elif any(roles.resolve(p) is None for p in papeis):
        errors["papeis"] = "Papel desconhecido: " + ", ".join(p for p in papeis if roles.resolve(p) is None) + "."
    ativo = data.get("ativo", True)
    if not isinstance(ativo, bool):
        errors["ativo"] = "Informe true ou false."
    form_schema, run_template = data.get("form_schema_json"), data.get("run_template_json")
    errors.update(schema.check_definition(form_schema, run_template))
    if errors:
        raise PortalError("Confira os campos do serviço.", fields=errors)
    return {"nome": nome, "descricao": descricao, "dominio_id": dominio.id, "papeis": list(dict.fromkeys(papeis)),
            "ativo": ativo, "form_schema_json": form_schema, "run_template_json": run_template}


def create_servico(data: dict, by) -> Servico:
    _unknown(data, SERVICO_FIELDS)
    servico = Servico(id=uuid.uuid4(), **_servico_values(data))
    db.session.add(servico)
    db.session.flush()
    audit.record("servico_criado", entity=servico, user=by, detail=f"tarefa={servico.tarefa}")
    return servico


def update_servico(servico: Servico, data: dict, by) -> Servico:
    _unknown(data, SERVICO_FIELDS)
    current = {name: getattr(servico, name) for name in SERVICO_FIELDS}
    current["dominio_id"] = str(servico.dominio_id)
    values = _servico_values({**current, **data})
    changed = [name for name in SERVICO_FIELDS if values[name] != getattr(servico, name)]
    for name in changed:
        setattr(servico, name, values[name])
    db.session.flush()
    if changed:
        audit.record("servico_alterado", entity=servico, user=by, detail="alterado: " + ", ".join(changed))
    return servico


def servicos() -> list:
    return list(db.session.scalars(select(Servico).join(Dominio).order_by(Dominio.ordem, Dominio.nome, Servico.nome)))


def may_run(servico: Servico, user) -> bool:
    """Whether `user` may ask for this serviço: it is active and the user's role is among its papeis."""
    return bool(servico.ativo and user is not None and getattr(user, "role", None) in (servico.papeis or []))


def portal(user) -> list:
    """[(domínio, [serviços])] the user may run, in the domínios' order."""
    grouped = {}
    for servico in servicos():
        if may_run(servico, user):
            grouped.setdefault(servico.dominio_id, (servico.dominio, []))[1].append(servico)
    return list(grouped.values())


def serialize_servico(servico: Servico) -> dict:
    return {"id": str(servico.id), "nome": servico.nome, "descricao": servico.descricao,
            "dominio_id": str(servico.dominio_id), "papeis": list(servico.papeis or []), "ativo": servico.ativo,
            "form_schema_json": servico.form_schema_json, "run_template_json": servico.run_template_json}


# -- running -------------------------------------------------------------------------------------
def executar(servico: Servico, valores_: dict, by) -> Execucao:
    """Check the answers and start the serviço's run; PortalError with `fields` when an answer is refused."""
    if not may_run(servico, by):
        raise PortalError("Você não pode solicitar este serviço.", status=403)
    if not isinstance(valores_, dict):
        raise PortalError("Informe os valores do formulário.", fields={"valores": "objeto esperado"})
    answers, errors = valores.check(servico, valores_)
    if errors:
        raise PortalError("Confira os campos destacados.", fields=errors)
    body = valores.request_body(servico, answers)
    if body["tarefa"] == schema.DOWNLOAD:
        return _download(servico, answers, body, by)
    ensure_available()
    execucao = Execucao(id=uuid.uuid4(), processo_id=None, tipo=TipoExecucao.SERVICO, status=StatusExecucao.PENDENTE,
                        servico_id=servico.id, parametros=body, criado_por_id=getattr(by, "id", None),
                        operadora_id=answers.operadora.id if answers.operadora else None)
    db.session.add(execucao)
    db.session.commit()
    try:
        throttle.dispatch_run(execucao)  # starts it now, or it waits for its operadora's free slot
    except QueueUnavailable:
        db.session.rollback()
        db.session.delete(db.session.get(Execucao, execucao.id))
        db.session.commit()
        raise
    audit.record("servico_solicitado", entity=servico, user=by, detail=f"execucao={execucao.id} tarefa={body['tarefa']}")
    db.session.commit()
    return execucao


def _download(servico, answers, body, by) -> Execucao:
    """The invoice download of the cliente and competência the answers name, run the normal way."""
    params = body["parametros"]
    cliente = valores._cliente(params.get("cliente"), {})
    competencia = processos.parse_competencia(params.get("competencia"))
    processo = db.session.scalar(select(Processo).where(Processo.cliente_id == cliente.id,
                                                        Processo.competencia == competencia))
    if processo is None:
        processo = Processo(cliente=cliente, competencia=competencia, criado_por_id=getattr(by, "id", None))
        db.session.add(processo)
        try:
            db.session.commit()
        except IntegrityError:  # created meanwhile by someone else: use that one
            db.session.rollback()
            processo = db.session.scalar(select(Processo).where(Processo.cliente_id == cliente.id,
                                                                Processo.competencia == competencia))
    execucao = processos.executar(processo, by)
    execucao.servico_id, execucao.parametros = servico.id, body
    audit.record("servico_solicitado", entity=servico, user=by, detail=f"execucao={execucao.id} tarefa=download")
    db.session.commit()
    return execucao


def solicitacoes_query(user):
    """The runs this user asked for on the portal, newest first."""
    return (select(Execucao).where(Execucao.criado_por_id == user.id, Execucao.servico_id.is_not(None))
            .order_by(Execucao.created_at.desc(), Execucao.id.desc()))


def execucoes_query(servico):
    return select(Execucao).where(Execucao.servico_id == servico.id).order_by(Execucao.created_at.desc(),
                                                                              Execucao.id.desc())
