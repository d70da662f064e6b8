"""One storage interface, two backends: the same behaviour from the local directory and from a real
S3-speaking server (moto on localhost); keys from outside never reach a file."""
import hashlib

import pytest

from apps.artefatos import storage
from apps.processos import manual
from tests.factories import PDF, ProcessoFactory
from tests.support.s3 import client
from tests.support.servers import free_port


@pytest.fixture(params=["local", "s3"])
def backend(request, app):
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    return storage.backend()


def test_a_file_goes_in_by_path_and_comes_back_in_chunks(backend, tmp_path):
    data = b"%PDF-1.4\n" + bytes(range(256)) * 4000 + b"\n%%EOF\n"  # ~1 MB: more than one chunk
    source = tmp_path / "entrada.part"
    source.write_bytes(data)
    key = storage.new_key("execucoes/teste", "pdf")
    backend.put_file(key, source, content_type="application/pdf")
    assert not source.exists()  # moved, not copied
    chunks = list(backend.open(key))
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= storage.CHUNK
    assert b"".join(chunks) == data and backend.size(key) == len(data)
    assert storage.sha256_of_stream(backend.open(key)) == (hashlib.sha256(data).hexdigest(), len(data))
    backend.delete(key)
    assert backend.size(key) is None
    with pytest.raises(storage.NotStored):
        backend.open(key)
    backend.delete(key)  # deleting what is gone is fine


def test_bytes_go_in_and_a_copy_keeps_the_source(backend, tmp_path):
    backend.put_bytes("execucoes/x/protocolo.txt", b"SAT-123\n", content_type="text/plain")
    assert b"".join(backend.open("execucoes/x/protocolo.txt")) == b"SAT-123\n"
    source = tmp_path / "fica.bin"
    source.write_bytes(b"abc")
    backend.put_file("execucoes/x/copia.bin", source, move=False)
    assert source.read_bytes() == b"abc" and backend.size("execucoes/x/copia.bin") == 3


@pytest.mark.parametrize("key", ["../segredo", "a/../../b", "/etc/passwd", "a//b", "a/b/c/d/e/f", "a\\b", "", ".x",
                                 "a/..", "faturas/%2e%2e/x", "a/b.c.d"])
def test_a_key_not_of_the_generated_shape_is_refused(backend, key):
    with pytest.raises(storage.NotStored):
        backend.open(key)
    with pytest.raises(storage.NotStored):
        backend.put_bytes(key, b"x")


def test_the_s3_backend_really_writes_to_the_server(app, s3_settings, s3_url):
    storage.backend().put_bytes("execucoes/y/log.txt", b"linha 1\n", content_type="text/plain")
    body = client(s3_url).get_object(Bucket=s3_settings["ARTEFATOS_S3_BUCKET"], Key="execucoes/y/log.txt")
    assert body["Body"].read() == b"linha 1\n" and body["ContentType"] == "text/plain"


def test_an_s3_server_that_is_down_is_storage_unavailable(app, monkeypatch):
    monkeypatch.setitem(app.config, "ARTEFATOS_STORAGE", "s3")
    monkeypatch.setitem(app.config, "ARTEFATOS_S3_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.config, "ARTEFATOS_S3_BUCKET", "nenhum")
    with pytest.raises(storage.StorageUnavailable):
        storage.backend().put_bytes("execucoes/z/a.txt", b"x")
    with pytest.raises(storage.StorageUnavailable):
        storage.backend().open("execucoes/z/a.txt")


def test_old_files_under_a_prefix_are_swept(backend):
    backend.put_bytes("mantidos/abc/um.pdf", b"1")
    backend.put_bytes("mantidos/abc/dois.pdf", b"2")
    backend.put_bytes("execucoes/abc/fica.txt", b"3")
    assert backend.delete_older("mantidos", 3600) == 0  # written just now
    assert backend.delete_older("mantidos", -60) == 2  # "older than a minute from now": all of them
    assert backend.size("mantidos/abc/um.pdf") is None and backend.size("execucoes/abc/fica.txt") == 1


def test_a_refused_uploads_kept_file_is_in_the_shared_storage(app, s3_settings, s3_url):
    processo = ProcessoFactory()
    token = manual.keep(processo.id, PDF)
    listed = client(s3_url).list_objects_v2(Bucket=s3_settings["ARTEFATOS_S3_BUCKET"], Prefix="mantidos/")
    assert [o["Key"] for o in listed["Contents"]] == [f"mantidos/{processo.id.hex}/{token}.pdf"]
    assert manual.kept(processo.id, token) == PDF and manual.kept(ProcessoFactory().id, token) is None
    manual.discard(processo.id, [token])
    assert manual.kept(processo.id, token) is None
