"""Invoices uploaded by staff for operadoras without a robot: all of them are recorded, or none."""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from werkzeug.utils import secure_filename

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


class UploadError(ProcessoError):
    """A file we refuse; `index` is its position in the upload (for the message next to it)."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message, 422)
        self.index = index
        if index is not None:
            self.fields = {f"faturas-{index}-arquivo": message}  # the upload form's field of that file


def _check_processo(processo: Processo) -> None:
    if processo.status != StatusProcesso.AGUARDANDO_DOWNLOAD:
        raise ProcessoError(f"{state.WRONG_STATUS['faturas_enviadas']} O processo está em {processo.status}.")
    if processo.execucao_ativa is not None:
        raise ProcessoError("O robô está baixando as faturas deste processo agora; aguarde a execução terminar.")


def _check_files(processo: Processo, faturas: list[FaturaManual]) -> list[str]:
    """Every file must be a PDF (by content) and appear once; returns their sha256."""
    if not faturas:
        raise UploadError("Envie pelo menos uma fatura.")
    known = {f.sha256 for f in processo.faturas_ativas}
    hashes = []
    for index, fatura in enumerate(faturas):
        try:
            storage.check_pdf(fatura.data)
        except storage.StorageError as exc:
            raise UploadError(f"{fatura.nome_original or 'Arquivo'}: {exc}", index) from exc
        digest = storage.sha256_hex(fatura.data)
        if digest in known or digest in hashes:
            name = fatura.nome_original or "Arquivo"
            raise UploadError(f"{name}: este PDF já foi enviado para este processo.", index)
        hashes.append(digest)
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
        state.move(processo, "faturas_enviadas", by=by,
                   comentario=f"{len(rows)} fatura(s) enviada(s) manualmente")
        db.session.commit()
    except Exception:
        db.session.rollback()
        for arquivo in stored:
            storage.delete(arquivo)
        raise
    return rows
