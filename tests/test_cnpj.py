"""CNPJ rules: classic and alphanumeric (IN RFB 2229/2024) forms, cleaning and formatting."""
import pytest

from apps.clientes.cnpj import check_digits, clean, format_cnpj, is_valid


@pytest.fixture(autouse=True)
def _clean_state():
    """Pure functions: override conftest's per-test database and Redis cleanup (keeps this file fast)."""
    yield


@pytest.mark.parametrize("value", [
    "11.222.333/0001-81",
    "11222333000181",
    "00.000.000/0001-91",     # Banco do Brasil
    "33.000.167/0001-01",     # Petrobras
    " 11 222 333 0001 81 ",
])
def test_valid_classic(value):
    assert is_valid(value)


def test_official_alphanumeric_example():
    """The Receita Federal's worked example of the new format: 12.ABC.345/01DE-35."""
    assert check_digits("12ABC34501DE") == "35"
    assert is_valid("12.ABC.345/01DE-35")
    assert is_valid("12ABC34501DE35")


def test_alphanumeric_letters_weigh_ord_minus_48():
    """'A' is worth 17 (ord 65 - 48): the digits differ from treating letters as zero."""
    base = "AB12CD340001"
    digits = check_digits(base)
    assert is_valid(base + digits)
    assert digits != check_digits("001200340001")


@pytest.mark.parametrize("value", [
    "11.222.333/0001-82",     # wrong second digit
    "11.222.333/0001-91",     # wrong first digit
    "12.ABC.345/01DE-36",
    "12ABC34501DEAB",         # check digits must be numeric
])
def test_invalid_check_digits(value):
    assert not is_valid(value)


@pytest.mark.parametrize("digit", "0123456789")
def test_all_same_characters_refused(digit):
    assert not is_valid(digit * 14)


@pytest.mark.parametrize("value", ["1122233300018", "112223330001811", "", None, "12.ABC.345/01DE-3"])
def test_wrong_length(value):
    assert not is_valid(value)


@pytest.mark.parametrize("value", ["11.222.333/0001-8A", "11#222333000181", "12ÃBC34501DE35"])
def test_other_characters_refused(value):
    assert not is_valid(value)


def test_lower_case_input_is_normalized():
    assert clean("12.abc.345/01de-35") == "12ABC34501DE35"
    assert is_valid("12.abc.345/01de-35")


def test_format():
    assert format_cnpj("11222333000181") == "11.222.333/0001-81"
    assert format_cnpj("12abc34501de35") == "12.ABC.345/01DE-35"
    assert format_cnpj("11.222.333/0001-81") == "11.222.333/0001-81"
    assert format_cnpj("123") == "123"
    assert format_cnpj(None) == ""


def test_check_digits_refuses_a_bad_base():
    with pytest.raises(ValueError):
        check_digits("12ABC")
    with pytest.raises(ValueError):
        check_digits("12ABC34501D!")
