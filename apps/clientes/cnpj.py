"""CNPJ validation: the classic all-digit form and the alphanumeric one (IN RFB 2229/2024).

The first 12 characters may be 0-9 or A-Z, each valued ord(c) - 48; the two check digits
stay numeric and use the same modulo-11 weights as before.
"""
import re

_BODY = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_BASE = re.compile(r"^[0-9A-Z]{12}$")
_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_WEIGHTS_2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def clean(value: str | None) -> str:
    """Strip punctuation and spaces and upper-case: '12.ABC.345/01DE-35' -> '12ABC34501DE35'."""
    return re.sub(r"[\s./-]", "", value or "").upper()


def _check_digit(chars: str, weights) -> int:
    total = sum((ord(c) - 48) * w for c, w in zip(chars, weights, strict=False))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def is_valid(value: str | None) -> bool:
    """True when `value` (with or without punctuation) is a valid CNPJ of either form."""
    cnpj = clean(value)
    if not _BODY.match(cnpj) or cnpj == cnpj[0] * 14:
        return False
    first = _check_digit(cnpj[:12], _WEIGHTS_1)
    second = _check_digit(cnpj[:12] + str(first), _WEIGHTS_2)
    return cnpj[12:] == f"{first}{second}"


def check_digits(base12: str) -> str:
    """The two check digits for a 12-character base (used to make demo and test data)."""
    base12 = clean(base12)
    if not _BASE.match(base12):
        raise ValueError("A base do CNPJ deve ter 12 caracteres entre 0-9 e A-Z.")
    first = _check_digit(base12, _WEIGHTS_1)
    return f"{first}{_check_digit(base12 + str(first), _WEIGHTS_2)}"


def format_cnpj(value: str | None) -> str:
    """'12ABC34501DE35' -> '12.ABC.345/01DE-35'; anything not 14 characters is returned as is."""
    cnpj = clean(value)
    if len(cnpj) != 14:
        return value or ""
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
