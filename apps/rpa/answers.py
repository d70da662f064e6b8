"""What an RPA server's answers must look like before anything else reads them (pure, no Flask).

The contract's schemas (shared/rpa-api/openapi.yaml) are the reference. A server that is not our
simulator can send anything: HTML, a JSON array, a log entry that is a string, `seq` of 2**63, a
lone surrogate, a NUL byte (PostgreSQL refuses it in text), a 30 MB line. Every answer is checked
here where it enters, and every text is cleaned, so the follower, the database and the viewers
only ever see well-formed values. A refusal is `BadAnswer` with a Portuguese message saying what
the server sent; the follower counts them and ends the run after a few in a row.
"""
import re
import unicodedata
from datetime import datetime
from decimal import Decimal, InvalidOperation

JOB_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED")
TERMINAL = frozenset({"COMPLETED", "FAILED"})
LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})
MAX_SEQ = 2**31 - 1  # the stored column is a 32-bit integer; no real log has two billion lines
MAX_SHOWN = 80   # characters of an offending value quoted back in a message
LINE_CUT = " … [linha cortada]"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
VALOR = re.compile(r"^-?\d{1,13}\.\d{2}$")
# C0 and C1 controls except tab and newline; bidi overrides and isolates, which can make a line read
# as something else; and the BOM/zero-width no-break space.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadAnswer(ValueError):
    """An answer that breaks the contract; the message is Portuguese and quotes what came."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class LimitExceeded(BadAnswer):
    """A well-formed answer that asks more than a run may take (more invoices than EXECUCAO_MAX_FATURAS)."""


def shown(value) -> str:
    """A short, printable rendering of an offending value for a message."""
    text = clean_text(repr(value), MAX_SHOWN)
    return text if len(text) < MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def clean_text(value, max_chars: int) -> str:
    """`value` as text a database and a terminal accept: no NUL, no lone surrogates, no control or bidi
    characters (each becomes U+FFFD), normalised to NFC and cut at `max_chars`."""
    text = value if isinstance(value, str) else str(value)
    text = _SURROGATE.sub("\ufffd", text)
    text = _UNSAFE.sub("\ufffd", unicodedata.normalize("NFC", text))
    if len(text) > max_chars:
        keep = max(0, max_chars - len(LINE_CUT))
        text = text[:keep] + LINE_CUT
    return text


def _optional_text(data, key, max_chars, what):
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadAnswer(f"{what}: o campo '{key}' deveria ser texto e veio {shown(value)}.")
    return clean_text(value, max_chars) or None


def job(data, *, max_error_chars=2000) -> dict:
    """GET /jobs/{id} with "status", "error" (clean text or None) and "result" (a dict) checked; extras kept."""
    if not isinstance(data, dict):
        raise BadAnswer(f"A API RPA respondeu o job num formato inesperado ({shown(data)}).")
    status = data.get("status")
    if status not in JOB_STATUSES:
        raise BadAnswer(f"A API RPA informou um status de job desconhecido: {shown(status)}.")
    result = data.get("result")
    if result is not None and not isinstance(result, dict):
        raise BadAnswer(f"A API RPA enviou o resultado do job num formato inesperado ({shown(result)}).")
    return {**data, "status": status, "error": _optional_text(data, "error", max_error_chars, "Job"),
            "result": result or {}}


def log_page(data, after: int, *, max_lines: int, max_chars: int) -> dict:
    """GET /jobs/{id}/logs: {"logs": [clean lines with seq > after, in seq order], "next": int}."""
    if not isinstance(data, dict) or not isinstance(data.get("logs"), list):
        raise BadAnswer(f"A API RPA respondeu os logs num formato inesperado ({shown(data)}).")
    raw = data["logs"]
    if len(raw) > max_lines:
        raise BadAnswer(f"A API RPA enviou {len(raw)} linhas de log numa só página (limite {max_lines}).")
    lines = {}
    for entry in raw:
        line = log_line(entry, max_chars=max_chars)
        if line["seq"] > after:
            lines.setdefault(line["seq"], line)
    ordered = [lines[seq] for seq in sorted(lines)]
    return {"logs": ordered, "next": ordered[-1]["seq"] if ordered else after}


def clean_lines(entries, *, max_chars: int) -> list[dict]:
    """Log lines (raw from the contract, or already clean) as clean lines, one per seq, in seq order."""
    return log_page({"logs": list(entries)}, 0, max_lines=len(entries), max_chars=max_chars)["logs"]


def log_line(entry, *, max_chars: int) -> dict:
    """One log line as we store it: seq, level, message, timestamp (aware or None), service, logger."""
    if not isinstance(entry, dict):
        raise BadAnswer(f"A API RPA enviou uma linha de log que não é um objeto: {shown(entry)}.")
    seq = entry.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= MAX_SEQ:
        raise BadAnswer(f"A API RPA enviou uma linha de log com seq inválido: {shown(seq)}.")
    message = entry.get("message")
    if message is None:
        message = ""
    elif not isinstance(message, str):
        raise BadAnswer(f"A API RPA enviou a linha {seq} com uma mensagem que não é texto: {shown(message)}.")
    level = entry.get("level")
    level = level.upper() if isinstance(level, str) else "INFO"
    return {"seq": seq, "level": level if level in LEVELS else "INFO", "message": clean_text(message, max_chars),
            "timestamp": _timestamp(entry.get("timestamp")),
            "service": _short(entry.get("service")), "logger": _short(entry.get("logger"))}


def _timestamp(value):
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _short(value):
    return clean_text(value, 120) or None if isinstance(value, str) else None


def job_id(data) -> str:
    """The job id of a 202 answer, as text."""
    value = data.get("job_id") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise BadAnswer(f"A API RPA aceitou o pedido mas não informou um job_id válido ({shown(value)}).")
    text = str(value).strip()
    if len(text) > 200 or clean_text(text, 200) != text:
        raise BadAnswer(f"A API RPA informou um job_id inválido: {shown(text)}.")
    return text


def faturas(result: dict, *, max_items: int) -> list[dict]:
    """`result.faturas` of a completed download: each a dict of the contract's Fatura shape."""
    items = result.get("faturas")
    if not isinstance(items, list):
        raise BadAnswer(f"O robô concluiu sem a lista de faturas (veio {shown(items)}).")
    if len(items) > max_items:
        raise LimitExceeded(f"O robô informou {len(items)} faturas; o limite por execução é {max_items}.")
    return [fatura(item, index) for index, item in enumerate(items, 1)]


def fatura(item, index: int) -> dict:
    """One Fatura: numero, valor (Decimal), vencimento/emissao (date), arquivo, sha256, tamanho."""
    where = f"Fatura {index}"
    if not isinstance(item, dict):
        raise BadAnswer(f"{where}: deveria ser um objeto e veio {shown(item)}.")
    numero, arquivo = item.get("numero"), item.get("arquivo")
    if not isinstance(numero, str) or not numero.strip():
        raise BadAnswer(f"{where}: número ausente ou inválido ({shown(numero)}).")
    where = f"Fatura {clean_text(numero, 40)}"
    if not isinstance(arquivo, str) or not arquivo.strip() or len(arquivo) > 255:
        raise BadAnswer(f"{where}: nome de arquivo ausente ou inválido ({shown(arquivo)}).")
    valor = item.get("valor")
    if not isinstance(valor, str) or not VALOR.match(valor):
        raise BadAnswer(f"{where}: valor inválido ({shown(valor)}); esperado texto como \"123.45\".")
    sha256 = item.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and SHA256.match(sha256)):
        raise BadAnswer(f"{where}: sha256 inválido ({shown(sha256)}).")
    tamanho = item.get("tamanho")
    if tamanho is not None and (isinstance(tamanho, bool) or not isinstance(tamanho, int) or tamanho < 0):
        raise BadAnswer(f"{where}: tamanho inválido ({shown(tamanho)}).")
    return {"numero": clean_text(numero.strip(), 80), "valor": _decimal(valor, where),
            "vencimento": _date(item.get("vencimento"), where, "vencimento", required=True),
            "emissao": _date(item.get("emissao"), where, "emissao", required=False),
            "arquivo": arquivo, "sha256": sha256, "tamanho": tamanho}


def _decimal(text, where):
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadAnswer(f"{where}: valor inválido ({shown(text)}).") from None


def _date(value, where, name, *, required):
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadAnswer(f"{where}: data de {name} inválida ({shown(value)}).")
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise BadAnswer(f"{where}: data de {name} inválida ({shown(value)}).") from None


def tarefas(data) -> list[dict]:
    """GET /tarefas: the list of tasks, each with a text `nome`."""
    items = data.get("tarefas") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(t, dict) and isinstance(t.get("nome"), str) for t in items):
        raise BadAnswer(f"A API RPA respondeu a lista de tarefas num formato inesperado ({shown(data)}).")
    return items


def arquivos(result: dict, *, max_items: int) -> list[dict]:
    """`result.arquivos` of a completed task: each {"arquivo", "content_type", "sha256", "tamanho"} checked."""
    items = result.get("arquivos")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise BadAnswer(f"A tarefa concluiu com a lista de arquivos num formato inesperado ({shown(items)}).")
    if len(items) > max_items:
        raise LimitExceeded(f"A tarefa informou {len(items)} arquivos; o limite por execução é {max_items}.")
    checked = []
    for index, item in enumerate(items, 1):
        where = f"Arquivo {index}"
        if not isinstance(item, dict):
            raise BadAnswer(f"{where}: deveria ser um objeto e veio {shown(item)}.")
        name = item.get("arquivo")
        if not isinstance(name, str) or not name.strip() or len(name) > 255 or clean_text(name, 255) != name:
            raise BadAnswer(f"{where}: nome de arquivo ausente ou inválido ({shown(name)}).")
        sha256, tamanho = item.get("sha256"), item.get("tamanho")
        if sha256 is not None and not (isinstance(sha256, str) and SHA256.match(sha256)):
            raise BadAnswer(f"{where}: sha256 inválido ({shown(sha256)}).")
        if tamanho is not None and (isinstance(tamanho, bool) or not isinstance(tamanho, int) or tamanho < 0):
            raise BadAnswer(f"{where}: tamanho inválido ({shown(tamanho)}).")
        content_type = item.get("content_type")
        if not isinstance(content_type, str) or not content_type.strip():
            content_type = "application/octet-stream"
        checked.append({"arquivo": name, "content_type": clean_text(content_type, 120), "sha256": sha256,
                        "tamanho": tamanho})
    return checked


def dados(result: dict):
    """`result.dados` of a completed task: an object or None."""
    value = result.get("dados")
    if value is not None and not isinstance(value, dict):
        raise BadAnswer(f"A tarefa concluiu com dados num formato inesperado ({shown(value)}).")
    return value


def protocolo(result: dict) -> str:
    """`result.protocolo` of a completed SAT upload."""
    value = result.get("protocolo")
    if not isinstance(value, str) or not value.strip():
        raise BadAnswer(f"O envio ao SAT concluiu sem protocolo (veio {shown(value)}).")
    return clean_text(value.strip(), 120)


def is_final_line(level: str, message: str) -> bool:
    """The robot's last line of a job (README of the contract): WARNING '… concluído' or ERROR '… falhou'."""
    lowered = message.lower()
    return (level == "WARNING" and "concluído" in lowered) or (level == "ERROR" and "falhou" in lowered)


def health(data) -> dict:
    """GET /health: {"status", "version", "running", "capacity", "robot"}; the 1.1 fields are None when a
    server (1.0) does not report them, and a field of the wrong type is refused, not guessed."""
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise BadAnswer(f"A API RPA respondeu o /health num formato inesperado ({shown(data)}).")
    checked = {"status": clean_text(data["status"], 40)}
    for key in ("running", "capacity"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000):
            raise BadAnswer(f"/health: o campo '{key}' deveria ser um inteiro entre 0 e 100000 e veio {shown(value)}.")
        checked[key] = value
    checked["version"] = _optional_text(data, "version", 80, "/health")
    checked["robot"] = _optional_text(data, "robot", 120, "/health")
    return checked
