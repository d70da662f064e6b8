"""Payload checks shared by the API v1 resources: JSON types (400), unknown keys (422)."""
from apps.core.errors import ApiError

READ_ONLY = frozenset({"id", "cnpj_formatado"})
TYPE_LABELS = {str: "texto", bool: "booleano (true/false)", int: "número inteiro", list: "lista"}

OPERADORA_FIELDS = {
    "codigo": (str, False), "nome": (str, False), "possui_rpa": (bool, False), "rpa_terceirizado": (bool, False),
    "url_endpoint_rpa": (str, True), "limite_concorrencia": (int, False), "ativo": (bool, False),
}
CLIENTE_FIELDS = {
    "nome": (str, False), "cnpj": (str, False), "codigo": (str, True), "operadora_id": (str, False),
    "ativo": (bool, False),
}


def _has_type(value, expected, nullable) -> bool:
    if value is None:
        return nullable
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def check_payload(data: dict, fields: dict) -> dict:
    """`data` when every known key has the right JSON type and no key is unknown."""
    wrong = {
        key: f"{TYPE_LABELS[fields[key][0]]} esperado" + (" ou null" if fields[key][1] else "")
        for key, value in data.items() if key in fields and not _has_type(value, *fields[key])
    }
    if wrong:
        raise ApiError(400, "Tipos inválidos no corpo JSON.", wrong)
    unknown = {key: "campo somente leitura" if key in READ_ONLY else "campo desconhecido"
               for key in data if key not in fields}
    if unknown:
        raise ApiError(422, "Campos não aceitos: " + ", ".join(sorted(unknown)) + ".", unknown)
    return data

