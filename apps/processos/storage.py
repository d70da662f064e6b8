"""Invoice files on disk: generated names under FATURAS_DIR, never a path from outside."""
import hashlib
import uuid
from pathlib import Path

from flask import current_app

PDF_MAGIC = b"%PDF-"


class StorageError(ValueError):
    """A file that may not be stored (not a PDF, too large, or a bad name)."""


def root() -> Path:
    folder = Path(current_app.config["FATURAS_DIR"]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_pdf(data: bytes, max_bytes: int | None = None) -> None:
    """Refuse anything that is not a PDF by content, or larger than the upload limit."""
    limit = max_bytes or current_app.config["MAX_CONTENT_LENGTH"]
    if len(data) > limit:
        raise StorageError(f"Arquivo maior que o limite de {limit // (1024 * 1024)} MB.")
    if not data.startswith(PDF_MAGIC):
        raise StorageError("O arquivo não é um PDF válido.")


def save(processo_id, data: bytes) -> str:
    """Store the bytes under a generated name; return the path relative to the root."""
    check_pdf(data)
    relative = Path(str(processo_id)) / f"{uuid.uuid4().hex}.pdf"
    target = root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return relative.as_posix()


def path_of(relative: str) -> Path:
    """The absolute path of a stored file; refuses anything that escapes the root."""
    base = root()
    target = (base / relative).resolve()
    if base not in target.parents:
        raise StorageError("Caminho de arquivo inválido.")
    return target


def delete(relative: str) -> None:
    try:
        path_of(relative).unlink(missing_ok=True)
    except StorageError:
        pass
