"""Artefatos: a run's log and SAT receipt kept when it ends, invoices recorded as they are stored, the
pages and API list and serve them (access follows the processo's), retention proven by moving the clock."""
import io
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from apps.artefatos import retention, services, storage
from apps.artefatos.models import Artefato, Kind
from apps.auth.models import Role
from apps.core.types import db, utcnow
from apps.processos import execucoes as lifecycle
from apps.processos import storage as invoice_storage
from apps.processos.models import Execucao, StatusExecucao, StatusProcesso, TipoExecucao
from apps.rpa.runs import end_run
from tests.conftest import actions
from tests.factories import PDF, ExecucaoFactory, ExecucaoLogFactory, OperadoraFactory, ProcessoFactory


def artefatos_of(execucao_id=None, kind=None):
    db.session.expire_all()
    query = select(Artefato).order_by(Artefato.created_at)
    if execucao_id is not None:
        query = query.where(Artefato.execucao_id == execucao_id)
    if kind is not None:
        query = query.where(Artefato.kind == kind)
    return db.session.scalars(query).all()


def content(artefato) -> bytes:
    return b"".join(storage.backend().open(artefato.storage_key))


def running(**fields):
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-1", **fields)
    for seq in (1, 2, 3):
        ExecucaoLogFactory(execucao=execucao, seq=seq, message=f"passo {seq} ção")
    return execucao


@pytest.fixture(params=["local", "s3"])
def any_storage(request, app):
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    return request.param


# --- what a run leaves ----------------------------------------------------------------------------------

def test_a_failed_run_leaves_its_whole_log_as_a_text_file(any_storage):
    execucao = running()
    assert end_run(execucao, error="O robô caiu.")
    [log_file] = artefatos_of(execucao.id)
    assert log_file.kind == Kind.LOG and log_file.processo_id == execucao.processo_id
    text = content(log_file).decode()
    assert [line.split("\t")[3] for line in text.splitlines()[:3]] == ["passo 1 ção", "passo 2 ção", "passo 3 ção"]
    assert text.splitlines()[-1] == "# Falhou: O robô caiu."
    assert log_file.size == len(content(log_file)) and log_file.sha256 == storage.sha256_of_stream([content(log_file)])[0]
    assert log_file.expira_em - log_file.created_at == timedelta(days=90)


def test_a_finished_sat_upload_leaves_its_log_and_the_receipt(any_storage):
    processo = ProcessoFactory(status=StatusProcesso.AGUARDANDO_ENVIO_SAT)
    execucao = running(processo=processo, tipo=TipoExecucao.ENVIO_SAT)
    assert end_run(execucao, store=lambda: lifecycle.concluir_sat(execucao, "SAT-2026-0001"))
    kinds = {a.kind: a for a in artefatos_of(execucao.id)}
    assert set(kinds) == {Kind.LOG, Kind.PROTOCOLO}
    assert b"Protocolo SAT: SAT-2026-0001" in content(kinds[Kind.PROTOCOLO])
    assert kinds[Kind.PROTOCOLO].expira_em - kinds[Kind.PROTOCOLO].created_at == timedelta(days=5 * 365 + 1)


def test_a_storage_failure_never_stops_a_run_from_ending(app, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise storage.StorageUnavailable("S3 fora do ar")

    monkeypatch.setattr(storage.LocalStorage, "put_file", broken)
    execucao = running()
    with caplog.at_level(logging.WARNING, logger="apps.artefatos.services"):
        assert end_run(execucao, error="Falhou por outro motivo.")
    db.session.expire_all()
    assert db.session.get(Execucao, execucao.id).status == StatusExecucao.FALHOU
    assert artefatos_of(execucao.id) == []
    assert "could not keep the log" in caplog.text
    assert list(invoice_storage.incoming().glob("*.part")) == []  # nothing left behind


def test_a_run_ended_twice_keeps_one_log(app):
    execucao = running()
    assert end_run(execucao, error="primeira")
    assert not end_run(execucao, error="segunda")  # already ended: nothing written again
    services.after_run(execucao)  # and a repeated hook finds the log already there
    assert len(artefatos_of(execucao.id, Kind.LOG)) == 1


def test_keep_moves_a_service_file_into_storage(any_storage, tmp_path):
    execucao = running()
    path = tmp_path / "relatorio.part"
    path.write_bytes(b"a,b\n1,2\n")
    digest = storage.sha256_of_stream([path.read_bytes()])[0]
    artefato = services.keep(execucao, Kind.ARQUIVO, name="../../relatório.csv", path=path, content_type="text/csv",
                             sha256=digest, size=8)
    db.session.commit()
    assert not path.exists() and content(artefato) == b"a,b\n1,2\n"
    assert artefato.name == "relatório.csv" and artefato.storage_key.startswith(f"execucoes/{execucao.id}/")
    assert artefato.expira_em - artefato.created_at == timedelta(days=30)
    other = tmp_path / "b.part"
    other.write_bytes(b"123")
    with pytest.raises(services.ArtefatoError, match="tamanho"):
        services.keep(execucao, Kind.ARQUIVO, name="b", path=other, content_type="text/plain", sha256="0", size=99)


def test_manual_invoices_are_fatura_artefatos_listed_on_the_processo_page(any_storage, operador_client):
    processo = ProcessoFactory(cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))
    data = {"faturas-0-arquivo": (io.BytesIO(PDF), "nf.pdf", "application/pdf"), "faturas-0-numero": "NF-1",
            "faturas-0-valor": "10,00", "faturas-0-vencimento": "2026-06-10", "faturas-0-emissao": ""}
    response = operador_client.post(f"/processos/{processo.id}/faturas", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    [artefato] = artefatos_of(kind=Kind.FATURA)
    assert artefato.fatura.numero == "NF-1" and artefato.storage_key == artefato.fatura.arquivo
    assert content(artefato) == PDF
    page = operador_client.get(f"/processos/{processo.id}").get_data(as_text=True)
    assert "Artefatos" in page and f"/artefatos/{artefato.id}/download" in page and "nf.pdf" in page
    pdf = operador_client.get(f"/faturas/{artefato.fatura_id}/pdf")
    assert pdf.data == PDF and pdf.headers["Content-Security-Policy"] == "sandbox"
    download = operador_client.get(f"/artefatos/{artefato.id}/download")
    assert download.data == PDF and download.headers["Content-Security-Policy"] == "sandbox"
    assert download.headers["X-Content-Type-Options"] == "nosniff" and download.mimetype == "application/pdf"


# --- the API ---------------------------------------------------------------------------------------------

def test_api_lists_a_runs_artefatos_and_downloads_them(any_storage, client, viewer):
    execucao = running()
    end_run(execucao, error="falhou")
    body = client.get(f"/api/v1/execucoes/{execucao.id}/artefatos", headers=viewer).get_json()
    assert body["total"] == 1 and body["items"][0]["kind"] == "LOG"
    item = body["items"][0]
    response = client.get(item["download"], headers=viewer)
    assert response.status_code == 200 and b"passo 2" in response.data
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["Content-Disposition"].startswith("inline; filename=\"log-execucao-")
    assert client.get(item["download"]).status_code == 401
    assert client.get(f"/api/v1/artefatos/{execucao.id}/download", headers=viewer).status_code == 404
    assert client.get("/api/v1/execucoes/nao-e-uuid/artefatos", headers=viewer).status_code == 404


def test_a_service_file_with_no_processo_belongs_to_who_asked_and_to_admins(app, users):
    requester, other = users[Role.OPERADOR], users[Role.VISUALIZADOR]
    execucao = Execucao(tipo=TipoExecucao.DOWNLOAD, criado_por_id=requester.id)  # a SERVICO run has no processo
    artefato = Artefato(kind=Kind.ARQUIVO, execucao=execucao, processo_id=None)
    assert services.can_read(requester, artefato) and services.can_read(users[Role.ADMIN], artefato)
    assert not services.can_read(other, artefato) and not services.can_read(None, artefato)
    with_processo = Artefato(kind=Kind.LOG, processo_id=ProcessoFactory().id)
    assert services.can_read(other, with_processo) and not services.can_read(None, with_processo)


def test_a_file_served_that_is_not_pdf_or_text_is_an_attachment(app, operador_client, tmp_path):
    execucao = running()
    path = tmp_path / "x.part"
    path.write_bytes(b"<script>alert(1)</script>")
    artefato = services.keep(execucao, Kind.ARQUIVO, name="página.html", path=path, content_type="text/html",
                             sha256=storage.sha256_of_stream([path.read_bytes()])[0], size=25)
    db.session.commit()
    response = operador_client.get(f"/artefatos/{artefato.id}/download")
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"] == ("attachment; filename=\"pagina.html\"; "
                                                       "filename*=UTF-8''p%C3%A1gina.html")


# --- retention, by moving the clock -------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    """Moves the retention job's clock: clock(days=91) is 91 days from now."""
    def move(**delta):
        moment = utcnow() + timedelta(**delta)
        monkeypatch.setattr(retention, "utcnow", lambda: moment)
        return moment
    return move


def _ended_run(status):
    execucao = running(processo=ProcessoFactory(status=status))
    end_run(execucao, error="fim")
    return execucao


def test_retention_removes_expired_files_only_of_finished_processos(any_storage, clock, runner, operador_client):
    done = _ended_run(StatusProcesso.UPLOAD_REALIZADO)
    waiting = _ended_run(StatusProcesso.AGUARDANDO_APROVACAO)
    [log_done], [log_waiting] = artefatos_of(done.id), artefatos_of(waiting.id)

    clock(days=89)
    assert "0 artefato(s) seriam removidos" in runner.invoke(args=["artefatos", "limpar", "--dry-run"]).output

    clock(days=91)
    dry = runner.invoke(args=["artefatos", "limpar", "--dry-run"])
    assert dry.exit_code == 0 and f"1 artefato(s) seriam removidos (LOG: 1); {log_done.size} bytes" in dry.output
    assert content(log_done) and actions("artefatos_retencao") == []  # a dry run changes nothing

    real = runner.invoke(args=["artefatos", "limpar"])
    assert real.exit_code == 0 and f"1 artefato(s) removidos (LOG: 1); {log_done.size} bytes liberados" in real.output
    [log_done], [log_waiting] = artefatos_of(done.id), artefatos_of(waiting.id)
    assert log_done.removido_em is not None and log_waiting.removido_em is None
    with pytest.raises(storage.NotStored):
        content(log_done)
    assert content(log_waiting)  # its processo has not reached UPLOAD_REALIZADO: kept, however old
    [line] = actions("artefatos_retencao")
    assert f"1 artefato(s) removido(s) pela política de retenção, {log_done.size} bytes liberados" in line.detail

    page = operador_client.get(f"/processos/{done.processo_id}").get_data(as_text=True)
    assert "removido em" in page and "pela política de retenção" in page
    gone = operador_client.get(f"/artefatos/{log_done.id}/download")
    assert gone.status_code == 410 and "pela política de retenção" in gone.get_data(as_text=True)

    again = runner.invoke(args=["artefatos", "limpar"])
    assert "0 artefato(s) removidos" in again.output and len(actions("artefatos_retencao")) == 1


def test_invoices_are_kept_five_years_then_go_with_the_pdf_route_saying_so(app, clock, client, viewer, operador_client):
    processo = ProcessoFactory(status=StatusProcesso.AGUARDANDO_DOWNLOAD,
                               cliente__operadora=OperadoraFactory(codigo="OI", possui_rpa=False))
    data = {"faturas-0-arquivo": (io.BytesIO(PDF), "nf.pdf", "application/pdf"), "faturas-0-numero": "NF-9",
            "faturas-0-valor": "10,00", "faturas-0-vencimento": "2026-06-10", "faturas-0-emissao": ""}
    assert operador_client.post(f"/processos/{processo.id}/faturas", data=data,
                                content_type="multipart/form-data").status_code == 302
    db.session.expire_all()
    processo.status = StatusProcesso.UPLOAD_REALIZADO
    db.session.commit()
    [fatura] = artefatos_of(kind=Kind.FATURA)
    clock(days=5 * 365)
    assert retention.limpar(now=retention.utcnow())["artefatos"] == 0
    clock(days=5 * 365 + 2)
    assert retention.limpar(now=retention.utcnow()) == {"artefatos": 1, "bytes": len(PDF), "falhas": 0,
                                                         "por_tipo": {"FATURA": 1, "LOG": 0, "PROTOCOLO": 0, "ARQUIVO": 0}}
    response = client.get(f"/api/v1/faturas/{fatura.fatura_id}/pdf", headers=viewer)
    assert response.status_code == 410 and "pela política de retenção" in response.get_json()["error"]
    assert client.get(f"/api/v1/artefatos/{fatura.id}/download", headers=viewer).status_code == 410


def test_retention_settings_are_per_kind(app, monkeypatch):
    monkeypatch.setitem(app.config, "RETENCAO_LOG_DIAS", 7)
    execucao = running()
    end_run(execucao, error="x")
    [log_file] = artefatos_of(execucao.id)
    assert log_file.expira_em - log_file.created_at == timedelta(days=7)


def test_a_file_retention_cannot_delete_is_tried_again(app, clock, monkeypatch):
    execucao = _ended_run(StatusProcesso.UPLOAD_REALIZADO)
    clock(days=100)

    def broken(self, key):
        raise storage.StorageUnavailable("fora do ar")

    monkeypatch.setattr(storage.LocalStorage, "delete", broken)
    assert retention.limpar()["falhas"] == 1
    assert artefatos_of(execucao.id)[0].removido_em is None
    monkeypatch.undo()
    clock(days=100)
    assert retention.limpar()["artefatos"] == 1


def test_the_live_parts_of_the_processo_page_carry_the_artefatos(app, operador_client):
    execucao = running()
    end_run(execucao, error="fim")
    [log_file] = artefatos_of(execucao.id)
    html = operador_client.get(f"/processos/{execucao.processo_id}/ao-vivo").get_data(as_text=True)
    assert 'id="artefatos-table"' in html and f'data-artefato-id="{log_file.id}"' in html


def test_a_changed_term_applies_to_what_exists_without_removing_anything_early(app, clock, monkeypatch, client, op):
    """Raised from 90 to 365 days, a log made under 90 is kept 365 (the page and the API say so); lowered to 7,
    it still stays the 90 it was promised."""
    execucao = _ended_run(StatusProcesso.UPLOAD_REALIZADO)
    [log_file] = artefatos_of(execucao.id)
    assert log_file.expira_em - log_file.created_at == timedelta(days=90)
    monkeypatch.setitem(app.config, "RETENCAO_LOG_DIAS", 365)
    assert log_file.guardado_ate - log_file.created_at == timedelta(days=365)
    listed = client.get(f"/api/v1/execucoes/{execucao.id}/artefatos", headers=op).get_json()["items"]
    assert listed[0]["expira_em"].startswith((log_file.created_at + timedelta(days=365)).date().isoformat())
    clock(days=100)
    assert retention.limpar(now=retention.utcnow())["artefatos"] == 0 and content(log_file)
    monkeypatch.setitem(app.config, "RETENCAO_LOG_DIAS", 7)
    assert log_file.guardado_ate == log_file.expira_em
    clock(days=80)
    assert retention.limpar(now=retention.utcnow())["artefatos"] == 0
    clock(days=91)
    assert retention.limpar(now=retention.utcnow())["artefatos"] == 1
