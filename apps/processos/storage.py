"""Invoice files: generated keys in the artefatos storage (a local directory or S3), never a path from outside.

The PDF checks live here; the bytes go through `apps.artefatos.storage`, so web and worker machines
that share an S3 bucket see the same invoices. Files on their way in (`incoming`, a refused upload's
kept files in apps/processos/manual.py) stay on the local disk under FATURAS_DIR."""
import hashlib
import mmap
import os
import re
import time
import uuid
from pathlib import Path

from flask import current_app

from apps.artefatos import storage as artefatos_storage
from apps.core.errors import ServiceError

PDF_MAGIC = b"%PDF-"
PDF_TRAILER = b"%%EOF"
TRAILER_WINDOW = 1024  # like Acrobat, accept up to 1 KB of padding after the last %%EOF
# Names that make a PDF run code or carry other files: scripts (/JavaScript, /JS), running a program or
# opening a file (/Launch), attachments (/EmbeddedFile(s), the usual way to smuggle an executable), Flash
# and 3D media with their own scripting (/RichMedia), XML forms with their own scripts (/XFA). An invoice
# needs none of them. /OpenAction and /AA alone are left alone: many generators use them to open at page 1,
# and what they could trigger is refused here already. /URI links are fine (invoices link to the portal).
ACTIVE_NAMES = frozenset({b"JavaScript", b"JS", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia", b"XFA"})
NAME_RE = re.compile(rb"/((?:[A-Za-z0-9]|#[0-9A-Fa-f]{2})+)")
HEX_ESCAPE_RE = re.compile(rb"#([0-9A-Fa-f]{2})")
STREAM_RE = re.compile(rb"\bstream(?:\r\n|\n|\r)")


class StorageError(ServiceError, ValueError):
    """A file that may not be stored (not a PDF, too large, or a bad name)."""


def root() -> Path:
    folder = Path(current_app.config["FATURAS_DIR"]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _outside_streams(data: bytes):
    """The parts of a PDF between its streams (dictionaries, where actions and names live); the
    streams' binary bodies are skipped, since random compressed bytes would match short names."""
    position = 0
    while match := STREAM_RE.search(data, position):
        yield data[position:match.start()]
        end = data.find(b"endstream", match.end())
        if end < 0:
            return
        position = end + len(b"endstream")
    yield data[position:]


def active_content(data: bytes) -> str | None:
    """The first active-content name found outside the streams (/J#61vaScript counts too), or None.

    A tripwire, not a sandbox: a name inside a compressed object stream is not seen. What keeps a
    hostile PDF harmless in the browser is the `Content-Security-Policy: sandbox` it is served with."""
    for part in _outside_streams(data):
        if b"/" not in part:
            continue
        for match in NAME_RE.finditer(part):
            name = HEX_ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
            if name in ACTIVE_NAMES:
                return name.decode("latin-1")
    return None


def check_size(data: bytes, max_bytes: int | None = None) -> None:
    limit = max_bytes or current_app.config["MAX_CONTENT_LENGTH"]
    if len(data) > limit:
        raise StorageError(f"Arquivo maior que o limite de {limit // (1024 * 1024)} MB.")


def check_pdf(data: bytes, max_bytes: int | None = None) -> None:
    """Refuse anything that is not a whole PDF by content (header and %%EOF trailer), that carries active
    content (scripts, launch actions, attachments), or that is larger than the upload limit."""
    check_size(data, max_bytes)
    if data[:len(PDF_MAGIC)] != PDF_MAGIC:  # slicing: works on bytes and on a mapped file
        raise StorageError("O arquivo não é um PDF válido.")
    if PDF_TRAILER not in data[-TRAILER_WINDOW:]:
        raise StorageError("O arquivo não é um PDF completo (falta o final %%EOF): pode ter sido cortado no download.")
    name = active_content(data)
    if name is not None:
        raise StorageError(f"O PDF contém conteúdo ativo (/{name}: scripts, ações ou arquivos anexados) "
                           "e foi recusado por segurança.")


def _new_key(processo_id) -> str:
    return f"{uuid.UUID(str(processo_id))}/{uuid.uuid4().hex}.pdf"


def save(processo_id, data: bytes) -> str:
    """Store the bytes under a generated key; return the key (the fatura's `arquivo`).

    Only the size and the PDF header are checked here: the full content check (check_pdf) is made where
    files come in (a robot's download, a manual upload), before anything is recorded."""
    check_size(data)
    if not data.startswith(PDF_MAGIC):
        raise StorageError("O arquivo não é um PDF válido.")
    key = _new_key(processo_id)
    artefatos_storage.backend().put_bytes(key, data, content_type="application/pdf")
    return key


def path_of(relative: str) -> Path:
    """The local file of a stored key (local backend only); refuses anything that escapes the root."""
    try:
        return artefatos_storage.backend("local").path(relative)
    except artefatos_storage.NotStored:
        raise StorageError("Caminho de arquivo inválido.") from None


def delete(relative: str) -> None:
    try:
        artefatos_storage.backend().delete(relative)
    except (artefatos_storage.NotStored, artefatos_storage.StorageUnavailable):
        pass


def incoming() -> Path:
    """Where downloads land while they are fetched and checked: inside the root, so storing is a rename."""
    folder = root() / ".incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_pdf_file(path) -> None:
    """check_pdf on a file on disk, mapped rather than read, so a large file costs no heap."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise StorageError("O arquivo não é um PDF válido.")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            check_pdf(data)


def store_file(processo_id, path) -> str:
    """Check a downloaded file and move it into storage under a generated key; return the key."""
    check_pdf_file(path)
    key = _new_key(processo_id)
    # A storage that is down raises StorageUnavailable (not StorageError): the run is looked at again later.
    artefatos_storage.backend().put_file(key, path, content_type="application/pdf")
    return key


def sweep_incoming(older_than_seconds: float = 3600) -> int:
    """Remove downloads a killed worker left half-way in incoming(); return how many."""
    limit, removed = time.time() - older_than_seconds, 0
    for path in incoming().glob("*.part"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # its worker finished with it meanwhile
    return removed
