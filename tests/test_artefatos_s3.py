"""Shared storage for real: files moved from the local directory to S3 by `flask artefatos copiar`
(idempotent, sha256 checked), and an artefato written by one process downloaded over HTTP from a second
web process (gunicorn on another port) that shares only the database and the S3 bucket."""
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from apps.artefatos import storage
from apps.artefatos.models import Artefato, Kind
from apps.auth.models import Role
from apps.core.types import db
from apps.processos.models import Fatura, StatusExecucao
from apps.rpa.runs import end_run
from tests.conftest import repo_root
from tests.factories import PASSWORD, PDF, ExecucaoFactory, ExecucaoLogFactory, OperadoraFactory, ProcessoFactory
from tests.support.s3 import client
from tests.support.servers import free_port

GUNICORN = Path(sys.executable).parent / "gunicorn"


def _manual_processo():
    return ProcessoFactory(cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))


def _upload(http_post, processo, pdf=PDF, numero="NF-1"):
    files = {"faturas-0-arquivo": ("nf.pdf", io.BytesIO(pdf), "application/pdf")}
    data = {"faturas-0-numero": numero, "faturas-0-valor": "10.00", "faturas-0-vencimento": "2026-06-10"}
    return http_post(f"/api/v1/processos/{processo.id}/faturas", files=files, data=data)


def _ended_run():
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="j")
    ExecucaoLogFactory(execucao=execucao, seq=1, message="baixando")
    end_run(execucao, error="fim")
    return execucao


def _bucket_objects(s3_url, bucket) -> dict:
    answer = client(s3_url).list_objects_v2(Bucket=bucket)
    return {item["Key"]: item["Size"] for item in answer.get("Contents", [])}


def test_copiar_moves_every_stored_file_to_s3_idempotently_checking_sha256(app, s3_settings, s3_url, runner,
                                                                          client, op, monkeypatch):
    monkeypatch.setitem(app.config, "ARTEFATOS_STORAGE", "local")  # files written locally first
    processo = _manual_processo()
    response = _upload(lambda url, files, data: client.post(url, data={**data, **{k: (v[1], v[0], v[2])
                                                                                   for k, v in files.items()}},
                                                            headers=op, content_type="multipart/form-data"), processo)
    assert response.status_code == 201, response.get_json()
    execucao = _ended_run()
    keys = {a.storage_key: a.size for a in db.session.scalars(select(Artefato))}
    assert len(keys) == 2

    first = runner.invoke(args=["artefatos", "copiar", "--de", "local", "--para", "s3"])
    assert first.exit_code == 0, first.output
    assert "Copiados: 2; já presentes: 0; ausentes na origem: 0; com erro: 0." in first.output
    assert _bucket_objects(s3_url, s3_settings["ARTEFATOS_S3_BUCKET"]) == keys

    again = runner.invoke(args=["artefatos", "copiar", "--de", "local", "--para", "s3"])
    assert "Copiados: 0; já presentes: 2" in again.output and again.exit_code == 0

    # A file changed on disk after it was recorded is not copied over the good copy, and is named.
    [log_file] = db.session.scalars(select(Artefato).where(Artefato.kind == Kind.LOG)).all()
    storage.backend("local").path(log_file.storage_key).write_bytes(b"adulterado")
    storage.backend("s3").delete(log_file.storage_key)
    bad = runner.invoke(args=["artefatos", "copiar", "--de", "local", "--para", "s3"])
    assert bad.exit_code == 1 and f"sha256 não confere na origem (não copiado): {log_file.storage_key}" in bad.output
    assert "Copiados: 0; já presentes: 1; ausentes na origem: 0; com erro: 1." in bad.output
    assert runner.invoke(args=["artefatos", "copiar", "--de", "s3", "--para", "s3"]).exit_code == 2

    # Switched to S3, the app serves the invoice from the bucket (the local files gone).
    monkeypatch.setitem(app.config, "ARTEFATOS_STORAGE", "s3")
    fatura = db.session.scalars(select(Fatura)).one()
    storage.backend("local").path(fatura.arquivo).unlink()
    pdf = client.get(f"/api/v1/faturas/{fatura.id}/pdf", headers=op)
    assert pdf.status_code == 200 and pdf.data == PDF and pdf.headers["Content-Security-Policy"] == "sandbox"
    assert execucao.id


class SecondWeb:
    """Another web process (gunicorn, one sync worker) on a free port: same database, same S3 bucket,
    its own empty FATURAS_DIR, so whatever it serves came from the shared storage."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path, self._log = log, log.open("wb")
        self.proc = subprocess.Popen([str(GUNICORN), "-w", "1", "-b", f"127.0.0.1:{self.port}", "apps:create_app()"],
                                     cwd=repo_root(), env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text(errors="replace")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError("segundo processo web não respondeu:\n" + log.read_text(errors="replace"))

    def token(self, username) -> dict:
        answer = requests.post(self.url + "/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                               timeout=10)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access']}"}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@pytest.fixture
def second_web(app, s3_settings, database_url, redis_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_", "ARTEFATOS_"))}
    env.update({"APP_ENV": "testing", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                "FATURAS_DIR": str(tmp_path / "outra-maquina" / "faturas"),
                "INSTANCE_DIR": str(tmp_path / "outra-maquina" / "instance"), "RATELIMIT_ENABLED": "false",
                "JSON_LOGS": "false", **s3_settings})
    server = SecondWeb(env, tmp_path / "second-web.log")
    yield server
    server.stop()


def test_an_artefato_written_here_downloads_from_a_second_web_process_and_back(app, second_web, users, client, op,
                                                                              tmp_path):
    # Written by this process (a run ending here: its log goes to S3) ...
    execucao = _ended_run()
    [log_file] = db.session.scalars(select(Artefato).where(Artefato.execucao_id == execucao.id)).all()
    headers = second_web.token(users[Role.VISUALIZADOR].username)
    listed = requests.get(f"{second_web.url}/api/v1/execucoes/{execucao.id}/artefatos", headers=headers, timeout=10)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["items"]] == [str(log_file.id)]
    with requests.get(f"{second_web.url}/api/v1/artefatos/{log_file.id}/download", headers=headers, timeout=10,
                      stream=True) as answer:
        assert answer.status_code == 200, answer.text
        body = b"".join(answer.iter_content(65536))
    assert body == b"".join(storage.backend().open(log_file.storage_key)) and b"baixando" in body
    assert answer.headers["Content-Security-Policy"] == "sandbox"
    assert int(answer.headers["Content-Length"]) == log_file.size

    # ... and an invoice uploaded through the second process downloads here, from the same bucket.
    processo = _manual_processo()
    operador = second_web.token(users[Role.OPERADOR].username)
    uploaded = _upload(lambda url, files, data: requests.post(second_web.url + url, files=files, data=data,
                                                              headers=operador, timeout=10), processo)
    assert uploaded.status_code == 201, uploaded.text
    fatura_id = uploaded.json()["faturas"][0]["id"]
    pdf = client.get(f"/api/v1/faturas/{fatura_id}/pdf", headers=op)
    assert pdf.status_code == 200 and pdf.data == PDF
    assert not any((tmp_path / "outra-maquina" / "faturas").rglob("*.pdf"))  # nothing on the other machine's disk


def test_a_pdf_served_from_s3_answers_one_byte_range(app, s3_settings, client, op):
    """A PDF viewer asks for the parts it shows: S3 cuts the one range asked for (206), a range past the end
    is 416 with the size, and what is not one byte range gets the whole file."""
    processo = _manual_processo()
    uploaded = _upload(lambda url, files, data: client.post(url, data={**data, **{k: (v[1], v[0], v[2])
                                                                                   for k, v in files.items()}},
                                                            headers=op, content_type="multipart/form-data"), processo)
    assert uploaded.status_code == 201, uploaded.get_json()
    url = f"/api/v1/faturas/{uploaded.get_json()['faturas'][0]['id']}/pdf"
    whole = client.get(url, headers=op)
    assert whole.status_code == 200 and whole.data == PDF and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(url, headers={**op, "Range": "bytes=5-14"})
    assert part.status_code == 206 and part.data == PDF[5:15]
    assert part.headers["Content-Range"] == f"bytes 5-14/{len(PDF)}" and part.headers["Content-Length"] == "10"
    assert part.headers["Content-Security-Policy"] == "sandbox"
    tail = client.get(url, headers={**op, "Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.data == PDF[-7:]
    past = client.get(url, headers={**op, "Range": f"bytes={len(PDF) + 10}-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(PDF)}"
    several = client.get(url, headers={**op, "Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.data == PDF
