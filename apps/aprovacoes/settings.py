"""An operadora's approval settings, as the operadora service checks them: prazo in business days, the value
above which two approvers are needed, the alert threshold of the change against past months, and the group.
All of them are an Admin's to change (they decide who may approve what)."""
from decimal import Decimal, InvalidOperation

from apps.aprovacoes.tarefas import definir_aprovadores
from apps.auth.policy import has_permission
from apps.core.records import RecordError
from apps.core.types import db, parse_uuid

APPROVAL_FIELDS = ("prazo_aprovacao_dias_uteis", "valor_dupla_aprovacao", "variacao_alerta_pct")
PRAZO_MAX, VARIACAO_MAX = 30, 1000
VALOR_MAX = Decimal("999999999999.99")
ADMIN_ONLY = "Somente um Admin pode alterar as regras de aprovação da operadora."


def _int_in(value, low, high, name, errors):
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = "Informe um número inteiro."
    elif not low <= value <= high:
        errors[name] = f"Informe um valor entre {low} e {high}."
    return value


def _valor(value, errors):
    if value is None or value == "":
        return None
    try:
        number = Decimal(value) if isinstance(value, (str, Decimal)) and not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        errors["valor_dupla_aprovacao"] = "Informe o valor em reais (ex.: 50000.00) ou deixe em branco."
        return None
    number = number.quantize(Decimal("0.01"))
    if not Decimal("0") < number <= VALOR_MAX:
        errors["valor_dupla_aprovacao"] = "Informe um valor maior que zero."
        return None
    return number


def clean_approval(values: dict, clean: dict, errors: dict) -> None:
    """Check and normalise the approval settings among `values` into `clean` (messages into `errors`)."""
    clean["prazo_aprovacao_dias_uteis"] = _int_in(values.get("prazo_aprovacao_dias_uteis"), 0, PRAZO_MAX,
                                                  "prazo_aprovacao_dias_uteis", errors)
    clean["variacao_alerta_pct"] = _int_in(values.get("variacao_alerta_pct"), 1, VARIACAO_MAX,
                                           "variacao_alerta_pct", errors)
    clean["valor_dupla_aprovacao"] = _valor(values.get("valor_dupla_aprovacao"), errors)


class AprovadoresField:
    """The `aprovadores` key of an operadora's data: a list of user ids, stored in the group table."""

    NAME = "aprovadores"

    @classmethod
    def check_permission(cls, data: dict, by) -> None:
        sent = [k for k in (*APPROVAL_FIELDS, cls.NAME) if k in data]
        if sent and not has_permission(by, "aprovacao.atribuir"):
            raise RecordError(ADMIN_ONLY, {k: "Somente Admin." for k in sent}, 403)

    @classmethod
    def parse(cls, value) -> list:
        """User ids (UUIDs or their text), or RecordError naming the field."""
        parsed = [parse_uuid(v) for v in value] if isinstance(value, list) else None
        if parsed is None or any(uid is None for uid in parsed):
            raise RecordError("Corrija os campos indicados.", {cls.NAME: "lista de ids de usuários"})
        return parsed

    @classmethod
    def store(cls, operadora, data: dict, by) -> None:
        """Replace the group when `data` names it (flushes; the caller commits)."""
        if cls.NAME in data:
            definir_aprovadores(operadora, cls.parse(data[cls.NAME]), by)
            db.session.expire(operadora, ["aprovadores"])
