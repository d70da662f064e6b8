"""Invoices uploaded by staff for operadoras without a robot: all of them are recorded, or none.

When some files are refused, the good ones chosen with them are kept on the server for a while
(`keep`), so the person fixes only what was wrong instead of choosing every file again.
"""
import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from werkzeug.utils import secure_filename

from apps.aprovacoes import tarefas
from apps.artefatos import services as artefatos
from apps.artefatos.storage import NotStored, StorageUnavailable, backend
from apps.core.types import db
from apps.processos import state, storage
from apps.processos.models import Fatura, Processo, StatusProcesso
from apps.processos.state import ProcessoError


@dataclass
class FaturaManual:
    """One uploaded invoice: the file's bytes and what the person typed about it."""

    data: bytes
    nome_original: str
    numero: str
    valor: Decimal
    vencimento: date
    emissao: date | None = None


KEPT_SECONDS = 24 * 3600  # a kept file nobody sent again is removed after a day
KEPT_PREFIX = "mantidos"


class UploadError(ProcessoError):
    """Files we refuse: `problems` maps each one's position in the upload to its message (the first
    is `index` and `message`), for the message next to each file."""

    def __init__(self, message: str, index: int | None = None, problems: dict | None = None):
        super().__init__(message, 422)
        self.index = index
        self.problems = problems or ({index: message} if index is not None else {})
        if self.problems:  # the upload form's field of each file
            self.fields = {f"faturas-{i}-arquivo": text for i, text in self.problems.items()}


def _check_processo(processo: Processo) -> None:
    if processo.status != StatusProcesso.AGUARDANDO_DOWNLOAD:
        raise ProcessoError(f"{state.WRONG_STATUS['faturas_enviadas']} O processo está em {processo.status}.")
    if processo.execucao_ativa is not None:
        raise ProcessoError("O robô está baixando as faturas deste processo agora; aguarde a execução terminar.")


def file_problem(data: bytes, name: str, digest: str, known: set, earlier: dict) -> str | None:
    """Why one file of an upload is refused, or None: not a whole PDF, already stored for the processo
    (`known` sha256), or the same file as an earlier one of this upload (`earlier`: sha256 -> (position, name))."""
    name = name or "Arquivo"
    try:
        storage.check_pdf(data)
    except storage.StorageError as exc:
        return f"{name}: {exc}"
    if digest in known:
        return f"{name}: este PDF já foi enviado para este processo."
    if digest in earlier:
        position, other = earlier[digest]
        return (f"{name}: é o mesmo arquivo que {other or 'o arquivo'} (fatura {position + 1}): "
                "os dois PDFs escolhidos são iguais. Escolha o PDF certo ou remova a fatura repetida.")
    return None


def _check_files(processo: Processo, faturas: list[FaturaManual]) -> list[str]:
    """Every file must be a PDF (by content) and appear once; returns their sha256 (UploadError naming each bad one)."""
    if not faturas:
        raise UploadError("Envie pelo menos uma fatura.")
    known = {f.sha256 for f in processo.faturas_ativas}
    hashes, earlier, problems = [], {}, {}
    for index, fatura in enumerate(faturas):
        hashes.append(storage.sha256_hex(fatura.data))
        problem = file_problem(fatura.data, fatura.nome_original, hashes[-1], known, earlier)
        if problem:
            problems[index] = problem
        else:
            earlier.setdefault(hashes[-1], (index, fatura.nome_original))
    if problems:
        first = min(problems)
        raise UploadError(problems[first], first, problems)
    return hashes


def enviar_faturas(processo: Processo, faturas: list[FaturaManual], by) -> list[Fatura]:
    """Store the PDFs, record the faturas and move the processo to approval, in one commit."""
    _check_processo(processo)
    hashes = _check_files(processo, faturas)
    stored, rows = [], []
    try:
        for fatura, digest in zip(faturas, hashes, strict=True):
            stored.append(storage.save(processo.id, fatura.data))
            rows.append(Fatura(
                processo_id=processo.id, arquivo=stored[-1], sha256=digest, tamanho=len(fatura.data),
                nome_original=(secure_filename(fatura.nome_original) or "fatura.pdf")[:255],
                numero=fatura.numero.strip()[:80], valor=fatura.valor, vencimento=fatura.vencimento,
                emissao=fatura.emissao,
            ))
        db.session.add_all(rows)
        for row in rows:
            artefatos.record_fatura(row)
        state.move(processo, "faturas_enviadas", by=by,
                   comentario=f"{len(rows)} fatura(s) enviada(s) manualmente")
        tarefas.abrir([processo.id], enviado_por=by)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        for arquivo in stored:
            storage.delete(arquivo)
        if isinstance(exc, StorageUnavailable):
            raise ProcessoError(f"{exc.message} Nenhuma fatura foi registrada; tente de novo.", 503) from None
        raise
    return rows


# --- files kept between a refused upload and the next try -------------------------------------
# In the shared storage, so the next try may reach another web machine and still find them.

def _kept_key(processo_id, token: str) -> str | None:
    if not re.fullmatch(r"[0-9a-f]{32}", token or ""):
        return None
    return f"{KEPT_PREFIX}/{uuid.UUID(str(processo_id)).hex}/{token}.pdf"


def keep(processo_id, data: bytes) -> str:
    """Keep a good file of a refused upload for the next try; its token."""
    sweep_kept()
    token = uuid.uuid4().hex
    backend().put_bytes(_kept_key(processo_id, token), data, content_type="application/pdf")
    return token


def kept(processo_id, token: str) -> bytes | None:
    """The bytes of a kept file of this processo, or None (unknown, expired or another processo's)."""
    key = _kept_key(processo_id, token)
    if key is None:
        return None
    try:
        return b"".join(backend().open(key))  # an upload's file: at most MAX_UPLOAD_MB, as the form reads it
    except (NotStored, StorageUnavailable):
        return None


def discard(processo_id, tokens) -> None:
    for token in tokens:
        key = _kept_key(processo_id, token)
        if key is not None:
            try:
                backend().delete(key)
            except StorageUnavailable:
                pass  # swept later


def sweep_kept(older_than_seconds: float = KEPT_SECONDS) -> int:
    """Remove kept files nobody sent again; return how many."""
    try:
        return backend().delete_older(KEPT_PREFIX, older_than_seconds)
    except StorageUnavailable:
        return 0
