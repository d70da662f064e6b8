"""A person's answers to a serviço's form: checked field by field (Portuguese messages keyed by field),
then turned into what is sent to the robots by the run template's mapping.

One checker for the page and the API: the page's WTForms form only carries the typed text, and the API's
`valores` may carry JSON numbers and booleans.
"""
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from apps.clientes import cnpj as cnpj_rules
from apps.clientes.models import Cliente
from apps.core.clock import is_competencia
from apps.core.types import db, parse_uuid
from apps.operadoras.models import Operadora
from apps.portal.schema import PLACEHOLDER, template_values

REQUIRED = "Campo obrigatório."
MAX_TEXT = 1000  # a text field's longest answer when its schema sets no max (and what an admin's regex reads)
MAX_NUMBER = Decimal(10) ** 15
TRUE = {"1", "true", "on", "sim", "yes", "y"}
FALSE = {"", "0", "false", "off", "nao", "não", "no", "n"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Invalid(ValueError):
    """One field's answer refused; the message is what the person reads next to the field."""


@dataclass
class Answers:
    """Checked answers: `values` by key (text, number, bool, Cliente, Operadora) and the run's operadora."""

    values: dict = field(default_factory=dict)
    operadora: Operadora | None = None


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(raw, rules):
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise Invalid("Informe um número.")
    try:
        number = Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation:
        raise Invalid("Informe um número.") from None
    if not number.is_finite():
        raise Invalid("Informe um número.")
    if abs(number) >= MAX_NUMBER:
        raise Invalid("Número grande demais.")
    _bounds(number, rules, Decimal)
    return int(number) if number == number.to_integral_value() else float(number)


def _bounds(value, rules, convert, unit=""):
    low, high = rules.get("min"), rules.get("max")
    if low is not None and value < convert(str(low)):
        raise Invalid(f"O mínimo é {low}{unit}.")
    if high is not None and value > convert(str(high)):
        raise Invalid(f"O máximo é {high}{unit}.")


def _text(raw, rules):
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise Invalid("Informe um texto.")
    text = str(raw).strip()
    low, high = rules.get("min"), rules.get("max", MAX_TEXT)
    if low is not None and len(text) < int(low):
        raise Invalid(f"Informe ao menos {int(low)} caractere(s).")
    if high is not None and len(text) > int(high):
        raise Invalid(f"Informe no máximo {int(high)} caractere(s).")
    if rules.get("regex") and not re.fullmatch(rules["regex"], text):
        raise Invalid("Formato inválido.")
    return text


def _date(raw, rules):
    text = raw.strip() if isinstance(raw, str) else None
    try:
        if not text or not _DATE.match(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise Invalid("Informe uma data válida (AAAA-MM-DD).") from None
    _bounds(text, rules, str)
    return text


def _month(raw, rules):
    text = raw.strip() if isinstance(raw, str) else None
    if not is_competencia(text):
        raise Invalid("Informe o mês no formato AAAA-MM (ex.: 2026-05).")
    _bounds(text, rules, str)
    return text


def option_values(rules) -> list:
    return [o if isinstance(o, str) else o["value"] for o in rules.get("options") or []]


def _select(raw, rules):
    if not isinstance(raw, str) or raw not in option_values(rules):
        raise Invalid("Escolha uma das opções.")
    return raw


def _checkbox(raw, rules):
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, (str, int)) else None
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise Invalid("Marque ou desmarque a opção.")


def _cnpj(raw, rules):
    if not isinstance(raw, str) or not cnpj_rules.is_valid(raw):
        raise Invalid("CNPJ inválido: confira os 14 caracteres e os dígitos verificadores.")
    return cnpj_rules.clean(raw)


def _cliente(raw, rules):
    """The cliente by its id (the select, the API) or by its CNPJ (the search field, typed or picked)."""
    if parse_uuid(raw):
        cliente = db.session.get(Cliente, parse_uuid(raw))
    elif isinstance(raw, str) and cnpj_rules.is_valid(raw):
        cliente = db.session.scalar(select(Cliente).where(Cliente.cnpj == cnpj_rules.clean(raw)))
    else:
        cliente = None
    if cliente is None or not cliente.ativo:
        raise Invalid("Escolha um cliente ativo da lista.")
    return cliente


def _operadora(raw, rules):
    operadora = db.session.get(Operadora, parse_uuid(raw)) if parse_uuid(raw) else None
    if operadora is None and isinstance(raw, str) and raw.strip():
        operadora = db.session.scalar(db.select(Operadora).where(Operadora.codigo == raw.strip().upper()))
    if operadora is None or not operadora.ativo:
        raise Invalid("Escolha uma operadora ativa da lista.")
    return operadora


CHECKS = {"text": _text, "number": _number, "date": _date, "month": _month, "select": _select,
          "checkbox": _checkbox, "cnpj": _cnpj, "cliente": _cliente, "operadora": _operadora}


def check(servico, valores: dict) -> tuple[Answers, dict]:
    """(checked answers, {key: message}) for `valores` against the serviço's form."""
    answers, errors = Answers(), {}
    fields = servico.fields
    known = {f["key"] for f in fields}
    for key in valores:
        if key not in known:
            errors[key] = "Campo desconhecido neste serviço."
    defaults = (servico.run_template_json or {}).get("defaults") or {}
    for spec in fields:
        key, kind = spec["key"], spec["type"]
        raw = valores.get(key)
        if kind == "checkbox" and raw is None and not spec.get("required"):
            raw = spec.get("default", False)
        if _empty(raw):
            raw = spec.get("default") if spec.get("default") not in (None, "") else defaults.get(key)
        if _empty(raw) or (kind == "checkbox" and spec.get("required") and raw in (False, "")):
            if spec.get("required"):
                errors[key] = REQUIRED
            continue
        try:
            answers.values[key] = CHECKS[kind](raw, spec.get("validation") or {})
        except Invalid as exc:
            errors[key] = str(exc)
            continue
        if kind == "checkbox" and spec.get("required") and answers.values[key] is not True:
            errors[key] = REQUIRED
    for spec in fields:  # the operadora of the run: an operadora field, else a cliente's
        value = answers.values.get(spec["key"])
        if spec["type"] == "operadora" and value is not None:
            answers.operadora = value
            break
    if answers.operadora is None:
        answers.operadora = next((answers.values[f["key"]].operadora for f in fields
                                  if f["type"] == "cliente" and f["key"] in answers.values), None)
    return answers, errors


def _attribute(value, attribute):
    if isinstance(value, Cliente):
        attribute = attribute or "id"
        return value.operadora.codigo if attribute == "operadora" else str(getattr(value, attribute) or "")
    if isinstance(value, Operadora):
        return str(getattr(value, attribute or "codigo") or "")
    return value


def fill(template, values: dict, defaults: dict):
    """A template value with its placeholders replaced: a whole `{campo}` keeps the answer's type
    (number, bool); inside a longer text it is written as text. An unanswered field gives None / ''."""
    if not isinstance(template, str):
        return template
    source = {**defaults, **values}
    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return _attribute(source.get(whole.group(1)), whole.group(2))

    def text(match):
        value = _attribute(source.get(match.group(1)), match.group(2))
        return "" if value is None else (("true" if value else "false") if isinstance(value, bool) else str(value))
    return PLACEHOLDER.sub(text, template)


def request_body(servico, answers: Answers) -> dict:
    """What the start sends: {"tarefa", "parametros", "operadora", "runtime_arguments", "runtime_env"}."""
    run = servico.run_template_json or {}
    defaults, mapping = run.get("defaults") or {}, run["mapping"]
    filled = {where: fill(value, answers.values, defaults) for where, value in template_values(mapping)}
    parametros = {name: filled[f"parametros.{name}"] for name in (mapping.get("parametros") or {})}
    parametros = {name: value for name, value in parametros.items() if value is not None}
    body = {"tarefa": mapping["tarefa"], "parametros": parametros,
            "operadora": answers.operadora.codigo if answers.operadora else None}
    if mapping.get("runtime_arguments"):
        body["runtime_arguments"] = [str(filled[f"runtime_arguments/{i}"] or "")
                                     for i in range(len(mapping["runtime_arguments"]))]
    if mapping.get("runtime_env"):
        body["runtime_env"] = {name: str(filled[f"runtime_env.{name}"] or "") for name in mapping["runtime_env"]}
    return body
