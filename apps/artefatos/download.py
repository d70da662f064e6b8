"""Serving a stored file: streamed from either backend, with the headers that keep hostile content harmless."""
import re
import unicodedata
from urllib.parse import quote

from flask import Response, abort, request, send_file, stream_with_context

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


def _single_range() -> str | None:
    """The request's Range when it is one byte range (what PDF viewers send), for S3 to cut; anything else
    (several ranges, other units, a malformed header) gets the whole file, as RFC 9110 allows."""
    requested = request.range
    if requested is None or requested.units != "bytes" or len(requested.ranges) != 1:
        return None
    return requested.to_header()


def send(key: str, *, content_type: str, filename: str, inline: bool | None = None):
    """The file under `key` as a response, streamed (local: the file itself, with conditional requests
    and ranges; S3: the object's body in chunks, or the one byte range asked for). 404 when it is not stored."""
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
            part = backend.open_part(key, _single_range())
            response = Response(stream_with_context(part.chunks), mimetype=mimetype, direct_passthrough=True,
                                status=206 if part.content_range else 200)
            response.headers["Content-Length"] = str(part.length)
            response.headers["Accept-Ranges"] = "bytes"  # a PDF viewer asks for the pages it shows
            if part.content_range:
                response.headers["Content-Range"] = part.content_range
            if part.etag:
                response.headers["ETag"] = part.etag
    except storage.RangeNotSatisfiable as exc:
        response = Response(exc.message, status=416, mimetype="text/plain")
        response.headers["Content-Range"] = f"bytes */{exc.size}"
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
