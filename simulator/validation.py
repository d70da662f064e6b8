"""Request body validation following the contract's schemas (errors in Portuguese)."""
from __future__ import annotations

import re
from datetime import date
from typing import Any

COMPETENCIA_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)
CNPJ_RE = re.compile(r"[0-9A-Z]{12}[0-9]{2}", re.ASCII)
VALOR_RE = re.compile(r"-?[0-9]+\.[0-9]{2}", re.ASCII)
SHA256_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
IDEMPOTENCY_KEY_MAX = 200


class BodyError(ValueError):
    """A request body that does not follow the contract (answered with 422)."""


def _require_object(value: Any, where: str) -> dict:
    """Fail unless `value` is a JSON object."""
    if not isinstance(value, dict):
        raise BodyError(f"'{where}' deve ser um objeto")
    return value


def _string(data: dict, key: str, where: str, required: bool = True, nullable: bool = False) -> None:
    """Check that data[key] is a string (or absent/null when allowed)."""
    name = f"{where}{key}"
    if key not in data:
        if required:
            raise BodyError(f"campo obrigatório ausente: '{name}'")
        return
    value = data[key]
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise BodyError(f"'{name}' deve ser texto")


def _pattern(data: dict, key: str, where: str, regex: re.Pattern, hint: str) -> None:
    """Check an already-typed string field against a full-match regex."""
    value = data.get(key)
    if isinstance(value, str) and not regex.fullmatch(value):
        raise BodyError(f"'{where}{key}' inválido: esperado {hint}")


def _date(data: dict, key: str, where: str) -> None:
    """Check a YYYY-MM-DD calendar date string, when present and not null."""
    value = data.get(key)
    if not isinstance(value, str):
        return
    try:
        ok = bool(DATE_RE.fullmatch(value)) and date.fromisoformat(value) is not None
    except ValueError:
        ok = False
    if not ok:
        raise BodyError(f"'{where}{key}' inválido: esperada data AAAA-MM-DD")


def validate_cliente(value: Any) -> None:
    """Validate the Cliente schema."""
    cliente = _require_object(value, "cliente")
    for key in ("id", "nome", "cnpj"):
        _string(cliente, key, "cliente.")
    _pattern(cliente, "cnpj", "cliente.", CNPJ_RE, "14 caracteres sem pontuação")
    _string(cliente, "codigo", "cliente.", required=False, nullable=True)


def validate_fatura(value: Any, index: int) -> None:
    """Validate one item of the Fatura schema."""
    where = f"faturas[{index}]."
    fatura = _require_object(value, where[:-1])
    for key in ("numero", "valor", "vencimento", "arquivo"):
        _string(fatura, key, where)
    _string(fatura, "emissao", where, required=False, nullable=True)
    _string(fatura, "sha256", where, required=False, nullable=True)
    _pattern(fatura, "valor", where, VALOR_RE, "decimal como '123.45'")
    _pattern(fatura, "sha256", where, SHA256_RE, "64 dígitos hexadecimais minúsculos")
    _date(fatura, "vencimento", where)
    _date(fatura, "emissao", where)
    tamanho = fatura.get("tamanho")
    if tamanho is not None and (isinstance(tamanho, bool) or not isinstance(tamanho, int)):
        raise BodyError(f"'{where}tamanho' deve ser inteiro")


def _validate_common(body: Any) -> dict:
    """Validate processo_id, competencia and cliente shared by both job bodies."""
    data = _require_object(body, "corpo")
    for key in ("processo_id", "competencia"):
        _string(data, key, "")
    if "cliente" not in data:
        raise BodyError("campo obrigatório ausente: 'cliente'")
    _pattern(data, "competencia", "", COMPETENCIA_RE, "AAAA-MM")
    validate_cliente(data["cliente"])
    return data


def validate_executar(body: Any) -> dict:
    """Validate the body of POST /executar/{operadora}."""
    return _validate_common(body)


def validate_sat(body: Any) -> dict:
    """Validate the body of POST /sat/enviar."""
    data = _validate_common(body)
    faturas = data.get("faturas")
    if "faturas" not in data:
        raise BodyError("campo obrigatório ausente: 'faturas'")
    if not isinstance(faturas, list) or not faturas:
        raise BodyError("'faturas' deve ser uma lista com pelo menos 1 item")
    for index, fatura in enumerate(faturas):
        validate_fatura(fatura, index)
    return data


def validate_idempotency_key(key: str | None) -> None:
    """Validate the optional Idempotency-Key header."""
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        raise BodyError(f"Idempotency-Key excede {IDEMPOTENCY_KEY_MAX} caracteres")
