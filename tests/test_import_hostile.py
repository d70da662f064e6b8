"""Hostile and broken CSV uploads: a 422 in Portuguese on the page and on the API, nothing left on disk."""
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from apps.auth.models import Role
from apps.clientes import importacao as importacao_mod
from apps.clientes import importer
from apps.clientes.importacao import Importacao
from apps.clientes.models import Cliente
from apps.core.types import db
from tests.factories import OperadoraFactory
from tests.factories import valid_cnpj as cnpj_for

HEADER = b"nome;cnpj;codigo;operadora;ativo\r\n"
BIG = 19 * 1024 * 1024  # under the 20 MB upload limit, so it reaches the reader


def good_rows(n: int) -> bytes:
    return b"".join(f"Cliente {i};{cnpj_for(i)};;VIVO;sim\r\n".encode() for i in range(1, n + 1))


@pytest.fixture
def vivo(app):
    return OperadoraFactory(codigo="VIVO")


def stored_files(app) -> list:
    return list((Path(app.config["INSTANCE_DIR"]) / "imports").glob("*"))


def page_upload(client, data: bytes, name="clientes.csv"):
    return client.post("/clientes/importar", data={"arquivo": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def api_upload(client, headers, data: bytes, query=""):
    return client.post(f"/api/v1/clientes/importar{query}", data={"arquivo": (io.BytesIO(data), "clientes.csv")},
                       headers=headers, content_type="multipart/form-data", no_csrf=True)


HOSTILE = {
    "cabecalho_de_19_mb": (b"x" * BIG, "A primeira linha (o cabeçalho) tem mais de 4.096 caracteres"),
    "linha_de_19_mb": (HEADER + good_rows(3) + b"A;" + b"9" * BIG + b";;VIVO;sim\r\n",
                       "A linha 5 do arquivo tem mais de 16.384 caracteres"),
    # short physical lines, one quoted field of 200,000 characters: the csv module's own limit
    "campo_entre_aspas_enorme": (HEADER + b'"' + b"a\r\n" * 100_000 + b'";1;;VIVO;sim\r\n',
                                 "perto da linha 2: um campo tem mais de 131.072 caracteres"),
    "nul_depois_dos_primeiros_64_kb": (HEADER + good_rows(2000) + b"Nulo\x00;1;;VIVO;sim\r\n",
                                       "não é um CSV de texto"),
    "utf16": (HEADER.decode().encode("utf-16"), "não é um CSV de texto"),
    "bytes_sem_codificacao": (HEADER + "Jos\u00e9;1;;VIVO;sim\r\n".encode("cp1252") + b"A\x81;1;;VIVO;\r\n",
                              "não são texto em UTF-8 nem em Latin-1"),
    "separador_tab": (b"nome\tcnpj\toperadora\r\nA\t1\tVIVO\r\n", "Separador de colunas não reconhecido"),
    "zip": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 10, "não é um CSV de texto"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_file_on_the_page_is_a_422_with_the_form_again(app, vivo, operador_client, kind):
    data, message = HOSTILE[kind]
    response = page_upload(operador_client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:500]
    assert message in page and 'name="arquivo"' in page
    assert stored_files(app) == [] and db.session.scalar(select(func.count()).select_from(Importacao)) == 0


@pytest.mark.parametrize("kind", ["cabecalho_de_19_mb", "campo_entre_aspas_enorme", "nul_depois_dos_primeiros_64_kb",
                                  "bytes_sem_codificacao", "separador_tab"])
@pytest.mark.parametrize("query", ["", "?dry_run=true"])
def test_a_hostile_file_on_the_api_is_a_422_json(app, vivo, client, api_headers, kind, query):
    data, message = HOSTILE[kind]
    response = api_upload(client, api_headers(Role.OPERADOR), data, query)
    assert response.status_code == 422
    body = response.get_json()
    assert message in body["error"] and "arquivo" in body["fields"]
    assert stored_files(app) == [] and db.session.scalar(select(func.count()).select_from(Importacao)) == 0
    assert db.session.scalar(select(func.count()).select_from(Cliente)) == 0


def test_a_broken_row_deep_in_the_file_is_refused_at_upload_not_mid_import(app, vivo, client, api_headers):
    """The whole file is read at upload, so an import never starts on a file that cannot be read to its end."""
    data = HEADER + good_rows(3000) + b'"aberta;1;;VIVO;sim\r\n' + b"xx\r\n" * 40_000
    response = api_upload(client, api_headers(Role.OPERADOR), data)
    assert response.status_code == 422 and "perto da linha 3002" in response.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(Cliente)) == 0 and stored_files(app) == []


def test_a_header_without_line_ends_is_refused_by_its_length(app, vivo, tmp_path):
    """The header is read at most MAX_HEADER_CHARS + 1 characters, however long the line is."""
    path = tmp_path / "big.csv"
    path.write_bytes(b"nome;" * 400_000)
    with pytest.raises(importer.ImportFileError) as exc:
        importer.check_file(path)
    assert exc.value.status == 422 and exc.value.fields == {"arquivo": "cabeçalho longo demais"}


def test_an_upload_that_breaks_off_leaves_nothing_on_disk(app, vivo, monkeypatch):
    def broken_save(self, dst, buffer_size=16384):
        Path(dst).write_bytes(HEADER + good_rows(10)[:50])
        raise OSError("conexão interrompida")

    monkeypatch.setattr(FileStorage, "save", broken_save)
    with app.test_request_context():
        with pytest.raises(OSError):
            importacao_mod.save_upload(FileStorage(io.BytesIO(b""), filename="clientes.csv"))
        assert stored_files(app) == []


def test_an_unexpected_error_while_checking_leaves_nothing_on_disk(app, vivo, operador_client, monkeypatch):
    def explode(path):
        raise RuntimeError("bug")

    monkeypatch.setattr(importacao_mod.UPLOADS, "check", explode)
    assert page_upload(operador_client, HEADER + good_rows(2)).status_code == 500
    assert stored_files(app) == []


def test_a_good_cp1252_file_is_still_read(app, vivo, operador_client):
    data = HEADER + f"Açougue São João;{cnpj_for(7)};;VIVO;não\r\n".encode("cp1252")
    assert page_upload(operador_client, data).status_code == 302
    (path,) = stored_files(app)
    result = importer.preview(path)
    assert (result.encoding, result.validas, result.invalidas) == ("Latin-1 (Windows-1252)", 1, 0)
    path.unlink()  # a preview's file stays for its confirmation; other modules count the folder


def test_an_upload_over_the_limit_is_a_413_in_portuguese_and_leaves_nothing(app, vivo, operador_client, client,
                                                                              api_headers):
    data = HEADER + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    page = page_upload(operador_client, data)
    assert page.status_code == 413 and "Arquivo grande demais" in page.get_data(as_text=True)
    api = api_upload(client, api_headers(Role.OPERADOR), data)
    assert api.status_code == 413 and "Arquivo grande demais" in api.get_json()["error"]
    assert stored_files(app) == []
