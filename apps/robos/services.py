"""Rules about robots: validation (the URL through the SSRF guard), the admin's switches, pinned versions,
what the page and the API show (status, load, runs of the last 24 h). Services flush; the caller commits."""
import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from apps.core import audit
from apps.core.records import RecordError
from apps.core.types import db, utcnow
from apps.operadoras.url_validation import validate_rpa_url
from apps.processos.models import Execucao, StatusExecucao
from apps.robos import dispatch
from apps.robos.models import ALL_TAGS, Robo, RoboVersao, StatusRobo, VersaoAtiva

FIELDS = ("nome", "url", "tags", "capacidade", "ativo", "drenando")
TAG_RE = re.compile(r"^[A-Z0-9_-]{1,30}$")
CAPACIDADE_MAX = 1000
VERSAO_MAX = 80


def _text(value, label, max_length, errors, name):
    if value is not None and not isinstance(value, str):
        errors[name] = "Texto esperado."
        return None
    value = (value or "").strip()
    if not value:
        errors[name] = f"Informe {label}."
    elif len(value) > max_length:
        errors[name] = f"Use no máximo {max_length} caracteres."
    return value


def clean_tags(value, errors) -> str | None:
    """Tags from a list or a comma/space-separated text: operadora codes, SAT or *; stored sorted, upper-case."""
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        errors["tags"] = "Informe as tags como lista de textos (códigos de operadora, SAT ou *)."
        return None
    tags = sorted({t.strip().upper() for t in items if t.strip()})
    bad = [t for t in tags if t != ALL_TAGS and not TAG_RE.fullmatch(t)]
    if not tags:
        errors["tags"] = "Informe ao menos uma tag: códigos de operadora (VIVO, OI…), SAT ou * (todas)."
    elif bad:
        errors["tags"] = f"Tag inválida: {bad[0][:40]}. Use códigos de operadora (letras, números, - ou _), SAT ou *."
    elif len(",".join(tags)) > 500:
        errors["tags"] = "Tags demais (no máximo 500 caracteres ao todo)."
    return ",".join(tags)


def _clean_url(url, previous, errors):
    if "url" in errors or url == previous or url.rstrip("/") == previous:
        return url  # unchanged: the client checks it again before every call
    try:
        return validate_rpa_url(url, allow_private=bool(current_app.config.get("RPA_ALLOW_PRIVATE_TARGETS"))).rstrip("/")
    except ValueError as exc:
        errors["url"] = str(exc)
        return url


def _validate(values: dict, current: Robo | None = None) -> dict:
    errors = {}
    clean = {"nome": _text(values.get("nome"), "o nome", 120, errors, "nome"),
             "url": _text(values.get("url"), "a URL do servidor do robô", 500, errors, "url")}
    clean["url"] = _clean_url(clean["url"], current.url if current else None, errors)
    clean["tags"] = clean_tags(values.get("tags"), errors)
    capacidade = values.get("capacidade")
    if isinstance(capacidade, bool) or not isinstance(capacidade, int):
        errors["capacidade"] = "Informe um número inteiro."
    elif not 1 <= capacidade <= CAPACIDADE_MAX:
        errors["capacidade"] = f"Informe um valor entre 1 e {CAPACIDADE_MAX}."
    clean["capacidade"] = capacidade
    for name in ("ativo", "drenando"):
        if not isinstance(values.get(name), bool):
            errors[name] = "Valor verdadeiro ou falso esperado."
        clean[name] = values.get(name)
    if errors:
        raise RecordError("Corrija os campos indicados.", errors)
    _check_unique(clean, current.id if current else None)
    return clean


def _check_unique(clean, exclude_id):
    for name, label in (("nome", "nome"), ("url", "URL")):
        query = select(Robo.id).where(getattr(Robo, name) == clean[name])
        if exclude_id is not None:
            query = query.where(Robo.id != exclude_id)
        if db.session.scalar(query) is not None:
            raise RecordError(f"Já existe um robô com este {label}.", {name: f"{label.capitalize()} já cadastrado."}, 409)


def _unknown(data):
    extra = sorted(set(data) - set(FIELDS))
    if extra:
        raise RecordError("Campos desconhecidos.", {k: "Campo desconhecido." for k in extra})


def _flush():
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise RecordError("Já existe um robô com este nome ou URL.", {"nome": "Já cadastrado."}, 409) from exc


def create_robo(data: dict, by) -> Robo:
    """Register a robot; it gets runs once its first heartbeat answers."""
    _unknown(data)
    clean = _validate({"tags": ALL_TAGS, "capacidade": 1, "ativo": True, "drenando": False, **data})
    robo = Robo(status=StatusRobo.SEM_RESPOSTA, **clean)
    db.session.add(robo)
    _flush()
    audit.record("robo_criado", entity=robo, user=by, detail=f"url={robo.url} tags={robo.tags} capacidade={robo.capacidade}")
    return robo


def update_robo(robo: Robo, data: dict, by) -> Robo:
    """Change the given fields (a partial update)."""
    _unknown(data)
    before = {k: getattr(robo, k) for k in FIELDS}
    clean = _validate({**before, **data}, current=robo)
    changed = [k for k in FIELDS if clean[k] != before[k]]
    if "url" in changed and dispatch.loads([robo.id]).get(robo.id, 0):
        raise RecordError("O robô tem execuções em andamento, que seguem neste servidor: drene-o e aguarde que "
                          "terminem antes de mudar a URL.", {"url": "Robô com execuções em andamento."}, 409)
    for name in changed:
        setattr(robo, name, clean[name])
    if "url" in changed:  # another server: what the old one said is not this one's
        robo.status, robo.versao, robo.ultimo_contato, robo.latencia_ms = StatusRobo.SEM_RESPOSTA, None, None, None
    _flush()
    if changed:
        audit.record("robo_alterado", entity=robo, user=by,
                     detail="; ".join(f"{k}: {before[k]!s:.80} → {clean[k]!s:.80}" for k in changed))
    return robo


def delete_robo(robo: Robo, by) -> None:
    """Delete a robot holding no run (its past runs keep their history, without the robot)."""
    held = dispatch.loads([robo.id]).get(robo.id, 0)
    if held:
        raise RecordError(f"O robô {robo.nome} tem {held} execução(ões) em andamento: drene-o e aguarde que terminem.",
                          status=409)
    audit.record("robo_excluido", entity=robo, user=by, detail=f"url={robo.url}")
    db.session.delete(robo)
    db.session.flush()


def set_active(robo: Robo, ativo: bool, by) -> bool:
    """Switch a robot on (also ends a drain) or off (no probes, no new runs; its runs go on). True if changed."""
    if robo.ativo == ativo and not (ativo and robo.drenando):
        return False
    if ativo and not robo.ativo:  # what it said before it was switched off is stale: runs wait for its next answer
        robo.status = StatusRobo.SEM_RESPOSTA
    robo.ativo, robo.drenando = ativo, False if ativo else robo.drenando
    audit.record("robo_ativado" if ativo else "robo_desativado", entity=robo, user=by)
    return True


def drain(robo: Robo, by) -> bool:
    """No new runs for this robot; the ones it holds finish. True if changed."""
    if robo.drenando:
        return False
    robo.drenando = True
    audit.record("robo_drenando", entity=robo, user=by, detail=f"execucoes_ativas={dispatch.loads([robo.id]).get(robo.id, 0)}")
    return True


def known_versions() -> list[str]:
    return list(db.session.scalars(select(RoboVersao.versao).distinct().order_by(RoboVersao.versao)))


def set_pinned_version(tag, versao, by) -> VersaoAtiva | None:
    """Pin `versao` for `tag` (only robots on it get new runs of that tag); None unpins. RecordError(422)."""
    errors = {}
    tags = clean_tags([tag] if isinstance(tag, str) else tag, errors)
    if not errors and "," in (tags or ""):
        errors["tag"] = "Informe uma só tag."
    elif not errors and tags == ALL_TAGS:
        errors["tag"] = "Fixe a versão para uma tag de operadora (VIVO, OI…) ou SAT, não para *."
    if errors:
        raise RecordError("Corrija os campos indicados.", {"tag": errors.get("tags") or errors["tag"]})
    current = db.session.get(VersaoAtiva, tags)
    if versao is None or (isinstance(versao, str) and not versao.strip()):
        if current is not None:
            db.session.delete(current)
            audit.record("robo_versao_liberada", entity_type="robos", entity_id=tags, user=by,
                         detail=f"tag={tags} versao={current.versao}")
            db.session.flush()
        return None
    if not isinstance(versao, str) or len(versao.strip()) > VERSAO_MAX:
        raise RecordError("Corrija os campos indicados.", {"versao": f"Texto de até {VERSAO_MAX} caracteres."})
    versao = versao.strip()
    if versao not in known_versions():
        raise RecordError(f"Nenhum robô informou a versão {versao}.", {"versao": "Versão desconhecida."})
    if current is None:
        current = VersaoAtiva(tag=tags, versao=versao)
        db.session.add(current)
    current.versao, current.definida_por_id, current.definida_em = versao, getattr(by, "id", None), utcnow()
    audit.record("robo_versao_fixada", entity_type="robos", entity_id=tags, user=by, detail=f"tag={tags} versao={versao}")
    db.session.flush()
    return current


def pinned() -> list[VersaoAtiva]:
    return list(db.session.scalars(select(VersaoAtiva).order_by(VersaoAtiva.tag)))


# -- what people see ---------------------------------------------------------------------------------------
def shown_status(robo: Robo, held: int) -> str:
    """DESATIVADO when switched off, OCUPADO when connected and at capacity, else the heartbeat's status."""
    if not robo.ativo:
        return StatusRobo.DESATIVADO
    if robo.status == StatusRobo.DISPONIVEL and held >= robo.capacidade:
        return StatusRobo.OCUPADO
    return robo.status


def last_day(robo_ids) -> dict:
    """{robo_id: (runs ended in the last 24 h, of which failed)} in one query."""
    if not robo_ids:
        return {}
    since = utcnow() - timedelta(hours=24)
    failed = func.sum(case((Execucao.status == StatusExecucao.FALHOU, 1), else_=0))
    rows = db.session.execute(
        select(Execucao.robo_id, func.count(), failed)
        .where(Execucao.robo_id.in_(list(robo_ids)), Execucao.data_fim >= since,
               Execucao.status.in_((StatusExecucao.CONCLUIDO, StatusExecucao.FALHOU)))
        .group_by(Execucao.robo_id)).all()
    return {robo_id: (int(n), int(f or 0)) for robo_id, n, f in rows}


def overview() -> list[dict]:
    """Every robot with its load and last day, for the page, its fragment and the API (three queries)."""
    robots = db.session.scalars(select(Robo).order_by(Robo.nome, Robo.id)).all()
    ids = [r.id for r in robots]
    held, day = dispatch.loads(ids), last_day(ids)
    return [row(robo, held.get(robo.id, 0), day.get(robo.id, (0, 0))) for robo in robots]


def row(robo, held, day) -> dict:
    total, failed = day
    return {"robo": robo, "status": shown_status(robo, held), "ativas": held,
            "carga": held / robo.capacidade if robo.capacidade else 0.0,
            "execucoes_24h": total, "falhas_24h": failed, "taxa_falha_24h": failed / total if total else None}


def available_count() -> tuple[int, int]:
    """(robots available now, robots registered and active): the dashboard's "Robôs disponíveis X / Y"."""
    rows = overview()
    active = [r for r in rows if r["robo"].ativo]
    return sum(1 for r in active if r["status"] == StatusRobo.DISPONIVEL and not r["robo"].drenando), len(active)


def _iso(value):
    return value.isoformat() if value else None


def serialize(entry: dict) -> dict:
    """The API's JSON form of an overview row."""
    robo = entry["robo"]
    return {"id": str(robo.id), "nome": robo.nome, "url": robo.url, "tags": robo.tag_list,
            "capacidade": robo.capacidade, "ativo": robo.ativo, "drenando": robo.drenando, "status": entry["status"],
            "versao": robo.versao, "ultimo_contato": _iso(robo.ultimo_contato), "latencia_ms": robo.latencia_ms,
            "carga": round(entry["carga"], 4), "execucoes_ativas": entry["ativas"],
            "execucoes_24h": entry["execucoes_24h"], "falhas_24h": entry["falhas_24h"]}


def entry_of(robo: Robo) -> dict:
    return row(robo, dispatch.loads([robo.id]).get(robo.id, 0), last_day([robo.id]).get(robo.id, (0, 0)))
