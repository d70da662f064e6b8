"""Serving a stored file: streamed from either backend, with the headers that keep hostile content harmless."""
import re
import unicodedata
from urllib.parse import quote

from flask import Response, abort, send_file, stream_with_context

from apps.artefatos import storage
from apps.core.templating import local_dt

INLINE_TYPES = {"application/pdf", "text/plain; charset=utf-8"}


def ascii_filename(name: str, default: str = "arquivo") -> str:
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:120] or default


def _harden(response, filename: str, inline: bool):
    plain = ascii_filename(filename)
    value = f'{"inline" if inline else "attachment"}; filename="{plain}"'
    if plain != filename:  # the real name too, for browsers that read RFC 6266's filename*
        value += f"; filename*=UTF-8''{quote(filename[:120], safe='')}"
    response.headers["Content-Disposition"] = value
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The bytes came from a robot or an upload: shown in a unique opaque origin, without scripts, forms or
    # same-origin access to the dashboard (what keeps a hostile PDF or HTML harmless).
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def send(key: str, *, content_type: str, filename: str, inline: bool | None = None):
    """The file under `key` as a response, streamed (local: the file itself, with conditional requests
    and ranges; S3: the object's body in chunks). 404 when it is not stored."""
    inline = content_type in INLINE_TYPES if inline is None else inline
    mimetype = content_type if inline else "application/octet-stream"
    backend = storage.backend()
    try:
        if isinstance(backend, storage.LocalStorage):
            path = backend.path(key)
            if not path.is_file():
                abort(404, "O arquivo não foi encontrado no armazenamento.")
            response = send_file(path, mimetype=mimetype, conditional=True, max_age=0)
        else:
            size, chunks = backend.open_sized(key)
            response = Response(stream_with_context(chunks), mimetype=mimetype, direct_passthrough=True)
            response.headers["Content-Length"] = str(size)
    except storage.NotStored:
        abort(404, "O arquivo não foi encontrado no armazenamento.")
    except storage.StorageUnavailable as exc:
        abort(503, exc.message)
    return _harden(response, filename, inline)


def removed_message(artefato) -> str:
    return f"Arquivo removido em {local_dt(artefato.removido_em)} pela política de retenção."


def send_artefato(artefato):
    """An artefato's file; 410 with the date when retention removed it."""
    if artefato.removido_em is not None:
        abort(410, removed_message(artefato))
    return send(artefato.storage_key, content_type=artefato.content_type, filename=artefato.name)
