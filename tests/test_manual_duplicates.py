"""Manual upload: two identical PDFs are named as the same file (not "already sent"), and the good files
chosen with a refused one are kept for the next try."""
import io
import os
import re
import time

import pytest
from sqlalchemy import func, select

from apps.auth.models import Role
from apps.core.types import db
from apps.processos import manual, storage
from apps.processos.models import Fatura, Processo
from apps.processos.models import StatusProcesso as S
from tests.factories import PDF, FaturaFactory, OperadoraFactory, ProcessoFactory

OTHER = PDF + b"% outra fatura\n"


@pytest.fixture
def operador(users, login):
    return login(users[Role.OPERADOR])


@pytest.fixture
def processo():
    return ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD,
                           cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))


def fields(*files, **extra):
    """The upload form's fields; each file is (bytes, filename), or None for an entry without a new file."""
    data = {}
    for i, file in enumerate(files):
        if file is not None:
            data[f"faturas-{i}-arquivo"] = (io.BytesIO(file[0]), file[1], "application/pdf")
        data.update({f"faturas-{i}-numero": f"NF-{i + 1}", f"faturas-{i}-valor": "10,00",
                     f"faturas-{i}-vencimento": "2026-06-10", f"faturas-{i}-emissao": ""})
    data.update(extra)
    return data


def send(client, processo, data):
    return client.post(f"/processos/{processo.id}/faturas", data=data, content_type="multipart/form-data")


def kept_tokens(html: str) -> dict:
    return dict(re.findall(r'name="(faturas-\d+-arquivo)_mantido" value="([0-9a-f]{32})"', html))


def faturas_of(processo) -> int:
    return db.session.scalar(select(func.count()).select_from(Fatura).where(Fatura.processo_id == processo.id))


def test_two_identical_pdfs_are_named_as_the_same_file(operador, processo):
    response = send(operador, processo, fields((PDF, "janeiro.pdf"), (PDF, "copia.pdf")))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "copia.pdf: é o mesmo arquivo que janeiro.pdf (fatura 1): os dois PDFs escolhidos são iguais." in html
    assert "já foi enviado" not in html
    assert faturas_of(processo) == 0


def test_a_pdf_stored_before_is_still_already_sent(operador, processo):
    FaturaFactory(processo=processo, data=PDF)
    db.session.expire_all()
    response = send(operador, processo, fields((PDF, "de-novo.pdf")))
    assert response.status_code == 422
    assert "de-novo.pdf: este PDF já foi enviado para este processo." in response.get_data(as_text=True)


def test_every_refused_file_is_named_at_once(operador, processo):
    response = send(operador, processo, fields((PDF, "a.pdf"), (b"texto", "b.pdf"), (PDF, "c.pdf")))
    html = response.get_data(as_text=True)
    assert "b.pdf: O arquivo não é um PDF válido." in html and "c.pdf: é o mesmo arquivo que a.pdf" in html


def test_good_files_are_kept_and_the_next_try_needs_only_the_fixed_one(operador, processo):
    response = send(operador, processo, fields((PDF, "boa.pdf"), (b"nada", "ruim.pdf"), (OTHER, "outra.pdf")))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    kept = kept_tokens(html)
    assert set(kept) == {"faturas-0-arquivo", "faturas-2-arquivo"}  # the refused one is not kept
    assert "Arquivo mantido: boa.pdf" in html and "Arquivo mantido: outra.pdf" in html
    file_inputs = re.findall(r'<input[^>]*type="file"[^>]*>', html)
    assert ["required" in tag for tag in file_inputs] == [False, True, False]  # the browser does not ask again
    assert faturas_of(processo) == 0

    again = fields(None, (PDF + b"% corrigida\n", "corrigida.pdf"), None, **{
        "faturas-0-arquivo_mantido": kept["faturas-0-arquivo"], "faturas-0-arquivo_mantido_nome": "boa.pdf",
        "faturas-2-arquivo_mantido": kept["faturas-2-arquivo"], "faturas-2-arquivo_mantido_nome": "outra.pdf"})
    response = send(operador, processo, again)
    assert response.status_code == 302
    db.session.expire_all()
    stored = sorted(db.session.get(Processo, processo.id).faturas, key=lambda f: f.numero)
    assert [(f.numero, f.nome_original) for f in stored] == [
        ("NF-1", "boa.pdf"), ("NF-2", "corrigida.pdf"), ("NF-3", "outra.pdf")]
    assert storage.path_of(stored[2].arquivo).read_bytes() == OTHER
    assert manual.kept(processo.id, kept["faturas-0-arquivo"]) is None  # used, then removed


def test_a_field_error_keeps_every_good_file(operador, processo):
    data = fields((PDF, "a.pdf"), (OTHER, "b.pdf"))
    data["faturas-1-valor"] = "doze"
    response = send(operador, processo, data)
    assert response.status_code == 422
    assert set(kept_tokens(response.get_data(as_text=True))) == {"faturas-0-arquivo", "faturas-1-arquivo"}


def test_a_file_chosen_again_replaces_the_kept_one(operador, processo):
    token = manual.keep(processo.id, PDF)
    response = send(operador, processo, fields((OTHER, "nova.pdf"), **{
        "faturas-0-arquivo_mantido": token, "faturas-0-arquivo_mantido_nome": "velha.pdf"}))
    assert response.status_code == 302
    db.session.expire_all()
    [fatura] = db.session.get(Processo, processo.id).faturas
    assert fatura.nome_original == "nova.pdf" and fatura.sha256 == storage.sha256_hex(OTHER)


def test_a_token_of_another_processo_or_made_up_is_not_a_file(operador, processo):
    other = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__operadora=processo.cliente.operadora)
    token = manual.keep(other.id, PDF)
    for value in (token, "../../etc/passwd", "0" * 32):
        response = send(operador, processo, fields(None, **{"faturas-0-arquivo_mantido": value}))
        assert response.status_code == 422 and "Escolha o arquivo PDF da fatura." in response.get_data(as_text=True)
    assert faturas_of(processo) == 0


def test_kept_files_nobody_sent_again_are_swept(processo):
    token = manual.keep(processo.id, PDF)
    path = storage.path_of(f"{manual.KEPT_PREFIX}/{processo.id.hex}/{token}.pdf")
    old = time.time() - manual.KEPT_SECONDS - 60
    os.utime(path, (old, old))
    assert manual.sweep_kept() == 1 and manual.kept(processo.id, token) is None
