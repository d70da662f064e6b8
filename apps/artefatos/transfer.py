"""Copying stored files between backends (local → S3 when moving to shared storage, or back).

Idempotent: a file already at the target with the recorded sha256 is left alone; every copy is streamed
through a temporary file, checked against the recorded sha256 before it is written and read back after.
"""
import os
import tempfile

from sqlalchemy import select

from apps.artefatos import storage
from apps.artefatos.models import Artefato
from apps.artefatos.services import scratch_dir
from apps.core.types import db
from apps.processos.models import Fatura


def stored_files():
    """(key, sha256, content type) of every file the database says is stored: artefatos not removed,
    and invoices (an invoice without an artefato row is still a file to keep)."""
    seen = set()
    rows = db.session.execute(select(Artefato.storage_key, Artefato.sha256, Artefato.content_type)
                              .where(Artefato.removido_em.is_(None)).order_by(Artefato.created_at, Artefato.id)
                              .execution_options(yield_per=1000))
    for key, sha256, content_type in rows:
        seen.add(key)
        yield key, sha256, content_type
    removed = set(db.session.scalars(select(Artefato.storage_key).where(Artefato.removido_em.is_not(None))))
    for key, sha256 in db.session.execute(select(Fatura.arquivo, Fatura.sha256).order_by(Fatura.created_at)):
        if key not in seen and key not in removed:
            yield key, sha256, "application/pdf"


def _hash(backend, key) -> str | None:
    try:
        return storage.sha256_of_stream(backend.open(key))[0]
    except storage.NotStored:
        return None


def copiar(source_name: str, target_name: str, progress=None) -> dict:
    source, target = storage.backend(source_name), storage.backend(target_name)
    result = {"copiados": 0, "presentes": 0, "ausentes": 0, "erros": 0}
    say = progress or (lambda _text: None)
    scratch = scratch_dir()
    for key, sha256, content_type in list(stored_files()):
        if target.size(key) is not None and _hash(target, key) == sha256:
            result["presentes"] += 1
            continue
        handle, path = tempfile.mkstemp(dir=scratch, suffix=".part")
        try:
            try:
                with os.fdopen(handle, "wb") as out:
                    digest, _ = storage.sha256_of_stream(_tee(source.open(key), out))
            except storage.NotStored:
                say(f"ausente na origem: {key}")
                result["ausentes"] += 1
                continue
            if digest != sha256:
                say(f"sha256 não confere na origem (não copiado): {key}")
                result["erros"] += 1
                continue
            target.put_file(key, path, content_type=content_type, move=False)
            if _hash(target, key) != sha256:
                say(f"sha256 não confere no destino depois da cópia: {key}")
                result["erros"] += 1
                continue
            result["copiados"] += 1
        finally:
            if os.path.exists(path):
                os.unlink(path)
    return result


def _tee(chunks, out):
    for chunk in chunks:
        out.write(chunk)
        yield chunk
