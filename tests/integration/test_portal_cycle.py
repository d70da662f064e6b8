"""A portal serviço defined through the API, asked for on the portal page, run by a real RQ worker against
the simulator over HTTP: live log stored, result.dados stored, each file fetched (streamed, sha256-checked) and
handed to artefatos keep() — recorded in the workers by tests/support/keep_recorder until the real one lands."""
import hashlib
import os
import uuid
from pathlib import Path

import pytest

from apps.auth.models import Role
from apps.core.types import db
from apps.portal import catalogo
from apps.portal.execucoes import NO_TASKS
from apps.processos.models import StatusExecucao, TipoExecucao
from tests.factories import ClienteFactory, OperadoraFactory, valid_cnpj
from tests.integration.conftest import REPO, Cycle, wait_for
from tests.integration.helpers import SimHttp, finished, stored_logs
from tests.portal_support import make_dominio, make_servico
from tests.support.keep_recorder.recorder import calls

RECORDER = REPO / "tests" / "support" / "keep_recorder"


@pytest.fixture
def kept(cycle, tmp_path):
    """Where the workers' keep() moves files and records its calls."""
    directory = tmp_path / "kept"
    base = cycle.worker_env

    def env():
        values = base()
        values["PYTHONPATH"] = os.pathsep.join([str(RECORDER), str(REPO), values.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
        values["PORTAL_KEEP_DIR"] = str(directory)
        return values

    cycle.worker_env = env
    return directory


def _ask(client, servico, data):
    prefix = f"s{uuid.UUID(servico['id']).hex[:8]}-"
    return client.post(f"/portal/servicos/{servico['id']}/solicitar",
                       data={prefix + key: value for key, value in data.items()})


def _execucao_id(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response.headers["Location"].rsplit("/", 1)[-1]


def test_a_serviço_defined_by_api_runs_from_the_portal(cycle: Cycle, sim, kept, client, admin, users, login):
    cliente = ClienteFactory(operadora=OperadoraFactory(codigo="VIVO"), cnpj=valid_cnpj(7, 11222333))
    servico = make_servico(client, admin, make_dominio(client, admin)["id"], catalogo.SEGUNDA_VIA)
    cycle.start_workers(1)
    login(users[Role.VISUALIZADOR])
    refused = _ask(client, servico, {"cliente": str(cliente.id), "competencia": "2026-1"})
    assert refused.status_code == 422 and "Informe o mês no formato AAAA-MM" in refused.get_data(as_text=True)
    execucao_id = _execucao_id(_ask(client, servico, {"cliente": str(cliente.id), "competencia": "2026-09"}))

    execucao = wait_for(lambda: finished(execucao_id), 20, message="serviço terminar")
    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    assert execucao.tipo == TipoExecucao.SERVICO and execucao.processo_id is None
    http = SimHttp(sim)
    job = http.job(execucao.job_id)
    assert job["tipo"] == "tarefa" and job["tarefa"] == "segunda_via_fatura"
    assert sim.state.jobs[execucao.job_id].body["parametros"] == {
        "operadora": "VIVO", "cnpj": cliente.cnpj, "competencia": "2026-09"}
    assert execucao.resultado == job["result"]["dados"] and execucao.resultado["competencia"] == "2026-09"
    robot_lines = http.logs(execucao.job_id)
    assert stored_logs(execucao.id) == robot_lines and "concluído" in robot_lines[-1][2]
    assert execucao.mensagem.startswith("1 arquivo(s) recebido(s).")

    (arquivo,) = job["result"]["arquivos"]
    (call,) = calls(kept)
    assert call["execucao_id"] == execucao_id and call["kind"] == "ARQUIVO"
    assert call["name"] == arquivo["arquivo"] and call["content_type"] == arquivo["content_type"]
    assert call["sha256"] == call["file_sha256"] == arquivo["sha256"] and call["size"] == arquivo["tamanho"]
    assert hashlib.sha256(Path(call["stored"]).read_bytes()).hexdigest() == arquivo["sha256"]

    page = client.get(f"/portal/execucoes/{execucao_id}").get_data(as_text=True)
    assert "Concluída" in page and "linha_digitavel" in page
    mine = client.get("/portal/solicitacoes").get_data(as_text=True)
    assert f'data-execucao-id="{execucao_id}" data-status="CONCLUIDO"' in mine


def test_a_server_without_tarefas_fails_the_run_saying_so(cycle: Cycle, sim, kept, client, admin, users, login):
    sim.set_config(tasks_supported=False)
    servico = make_servico(client, admin, make_dominio(client, admin)["id"], catalogo.REENVIO_SAT)
    unknown = make_servico(client, admin, make_dominio(client, admin, "outros")["id"], catalogo.REENVIO_SAT,
                           nome="Tarefa que o robô não tem",
                           run_template_json={"mapping": {"tarefa": "nao_existe", "parametros": {"p": "{protocolo}"}}})
    cycle.start_workers(1)
    login(users[Role.OPERADOR])
    without = _execucao_id(_ask(client, servico, {"protocolo": "SAT-2026-000123"}))
    execucao = wait_for(lambda: finished(without), 20, message="serviço falhar")
    assert execucao.status == StatusExecucao.FALHOU and execucao.mensagem == NO_TASKS and execucao.job_id is None
    sim.set_config(tasks_supported=True)
    missing = _execucao_id(_ask(client, unknown, {"protocolo": "SAT-2026-000123"}))
    execucao = wait_for(lambda: finished(missing), 20, message="tarefa desconhecida falhar")
    assert execucao.status == StatusExecucao.FALHOU
    assert execucao.mensagem.startswith("O servidor RPA não conhece a tarefa 'nao_existe' (tarefas disponíveis:")
    assert calls(kept) == []
    db.session.rollback()
    mine = client.get("/portal/solicitacoes").get_data(as_text=True)
    assert f'data-execucao-id="{without}" data-status="FALHOU"' in mine and "não oferece tarefas genéricas" in mine
    assert f'data-execucao-id="{missing}" data-status="FALHOU"' in mine
