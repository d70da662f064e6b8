"""The pieces of a SERVICO run below the pages: the client's task calls against the simulator (start, list,
files streamed and size-limited), the contract checks of result.arquivos, the end (files checked then handed
to keep(), dados stored), and the operadora's slot a SERVICO run takes and frees."""
import hashlib
import os
import time
import uuid

import pytest
from sqlalchemy import select

from apps.core.types import db
from apps.portal import execucoes as servicos
from apps.processos.execucoes import FaturaInvalida
from apps.processos.models import Execucao, StatusExecucao, TipoExecucao
from apps.rpa import answers, throttle
from apps.rpa.client import Download, RpaClient, RpaError, RpaRejected
from apps.rpa.runs import end_run
from tests.factories import ClienteFactory, OperadoraFactory
from tests.portal_support import make_dominio, make_servico
from tests.support.keep_recorder.recorder import calls, recorder


@pytest.fixture(scope="module")
def sim_knobs():
    return {"job_duration": 0, "queue_wait": 0, "log_lines": 2}


class Token:
    def __init__(self, token):
        self.token = token

    def get(self):
        return self.token

    def refresh(self, rejected=None):
        return None


def _client(sim):
    return RpaClient(sim.url, token_provider=Token(sim.issue_token()), max_retries=0)


def _done(client, job_id):
    deadline = time.monotonic() + 5
    while (job := client.get_job(job_id))["status"] not in answers.TERMINAL and time.monotonic() < deadline:
        time.sleep(0.02)
    return job


def test_client_starts_a_task_and_streams_its_file(sim, tmp_path):
    client = _client(sim)
    assert {t["nome"] for t in client.list_tarefas()} >= {"segunda_via_fatura", "consulta_debitos"}
    started = client.start_tarefa("consulta_debitos", parametros={"operadora": "VIVO", "cnpj": "11222333000181"},
                                  operadora="VIVO", runtime_arguments=["--x"], runtime_env={"A": "1"},
                                  idempotency_key="execucao-teste-1")
    again = client.start_tarefa("consulta_debitos", parametros={"operadora": "VIVO", "cnpj": "11222333000181"},
                                idempotency_key="execucao-teste-1")
    assert again["job_id"] == started["job_id"]  # the same key: one robot run
    job = _done(client, started["job_id"])
    assert job["status"] == "COMPLETED"
    (meta,) = answers.arquivos(job["result"], max_items=5)
    download = client.fetch_arquivo(job["job_id"], meta["arquivo"], max_bytes=1_000_000, directory=tmp_path)
    assert download.sha256 == meta["sha256"] and download.size == meta["tamanho"]
    with open(download.path, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == meta["sha256"]
    with pytest.raises(RpaError, match="maior que o limite"):
        client.fetch_arquivo(job["job_id"], meta["arquivo"], max_bytes=10, directory=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [download.path.rsplit("/", 1)[-1]]  # the cut one is gone
    with pytest.raises(RpaRejected) as missing:
        client.fetch_arquivo(job["job_id"], "outro.csv", max_bytes=1000, directory=tmp_path)
    assert missing.value.status == 404


def test_a_server_without_tasks_is_named_in_the_message(sim):
    sim.set_config(tasks_supported=False)
    client = _client(sim)
    execucao = Execucao(id=uuid.uuid4(), tipo=TipoExecucao.SERVICO, parametros={"tarefa": "consulta_debitos",
                                                                                "parametros": {}})
    with pytest.raises(RpaRejected) as caught:
        servicos.start(client, execucao)
    assert caught.value.message == servicos.NO_TASKS


@pytest.mark.parametrize("result, message", [
    ({"arquivos": "x.pdf"}, "formato inesperado"),
    ({"arquivos": [{"arquivo": "../\u202ex.pdf"}]}, "nome de arquivo ausente ou inválido"),
    ({"arquivos": [{"arquivo": "a.pdf", "sha256": "zz"}]}, "sha256 inválido"),
    ({"arquivos": [{"arquivo": "a.pdf", "tamanho": -1}]}, "tamanho inválido"),
    ({"arquivos": [], "dados": [1]}, "dados num formato inesperado"),
])
def test_result_arquivos_and_dados_are_checked(result, message):
    with pytest.raises(answers.BadAnswer, match=message):
        answers.arquivos(result, max_items=5)
        answers.dados(result)
    with pytest.raises(answers.LimitExceeded):
        answers.arquivos({"arquivos": [{"arquivo": f"{n}.pdf"} for n in range(3)]}, max_items=2)


def _running_servico(**fields) -> Execucao:
    execucao = Execucao(id=uuid.uuid4(), tipo=TipoExecucao.SERVICO, status=StatusExecucao.EXECUTANDO,
                        job_id="job-1", parametros={"tarefa": "t", "parametros": {}}, **fields)
    db.session.add(execucao)
    db.session.commit()
    return execucao


def _download(tmp_path, data=b"conteudo"):
    path = tmp_path / f"{uuid.uuid4().hex}.part"
    path.write_bytes(data)
    return Download(path=str(path), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def test_the_end_hands_each_checked_file_to_keep_and_stores_dados(tmp_path, monkeypatch):
    kept = tmp_path / "kept"
    monkeypatch.setattr("apps.artefatos.services.keep", recorder(kept))
    execucao = _running_servico()
    good = _download(tmp_path)
    meta = {"arquivo": "a.csv", "content_type": "text/csv", "sha256": good.sha256, "tamanho": good.size}
    assert servicos.concluir(execucao, [(meta, good)], {"total": "10.00"})
    db.session.refresh(execucao)
    assert execucao.status == StatusExecucao.CONCLUIDO and execucao.resultado == {"total": "10.00"}
    (call,) = calls(kept)
    assert (call["name"], call["kind"], call["sha256"], call["size"]) == ("a.csv", "ARQUIVO", good.sha256, good.size)
    assert not os.path.exists(good.path)  # moved by keep()
    assert not servicos.concluir(execucao, [], None)  # ended once


def test_a_file_that_does_not_match_its_sha256_keeps_nothing(tmp_path, monkeypatch):
    kept = tmp_path / "kept"
    monkeypatch.setattr("apps.artefatos.services.keep", recorder(kept))
    execucao = _running_servico()
    download = _download(tmp_path)
    meta = {"arquivo": "a.pdf", "content_type": "application/pdf", "sha256": "0" * 64, "tamanho": None}
    with pytest.raises(FaturaInvalida, match="sha256 não confere"):
        servicos.concluir(execucao, [(meta, download)], None)
    db.session.refresh(execucao)
    assert execucao.status == StatusExecucao.EXECUTANDO and calls(kept) == []


def test_a_servico_run_takes_its_operadoras_slot_and_frees_it(client, admin, enqueued):
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=1)
    cliente = ClienteFactory(operadora=vivo)
    servico = make_servico(client, admin, make_dominio(client, admin)["id"])
    url = f"/api/v1/servicos/{servico['id']}/executar"
    valores = {"cliente": str(cliente.id), "competencia": "2026-01"}
    first, second = (uuid.UUID(client.post(url, json={"valores": valores}, headers=admin).get_json()["execucao_id"])
                     for _ in range(2))
    assert enqueued == [first]
    end_run(db.session.get(Execucao, first), error="Falhou no teste.")
    assert enqueued == [first, second]  # the ended run's slot went to the waiting one at once
    assert db.session.get(Execucao, second).data_inicio is not None
    no_operadora = Execucao(id=uuid.uuid4(), tipo=TipoExecucao.SERVICO, status=StatusExecucao.EXECUTANDO)
    db.session.add(no_operadora)
    db.session.commit()
    assert end_run(no_operadora, error="x") and enqueued == [first, second]  # it held no slot
    assert db.session.scalar(select(Execucao.mensagem).where(Execucao.id == no_operadora.id)) == "x"


def test_the_reconciler_admits_a_waiting_servico_run_that_names_no_operadora(enqueued):
    waiting = Execucao(id=uuid.uuid4(), tipo=TipoExecucao.SERVICO, status=StatusExecucao.PENDENTE)
    db.session.add(waiting)
    db.session.commit()
    assert throttle.dispatch_all() == 1 and enqueued == [waiting.id]
    assert throttle.dispatch_all() == 0  # admitted once
    assert db.session.get(Execucao, waiting.id).data_inicio is not None
