"""A portal serviço defined through the API, asked for on the portal page, run by a real RQ worker against
the simulator over HTTP: live log stored, result.dados stored, each file fetched (streamed, sha256-checked) and
kept as an ARQUIVO artefato — on S3, downloadable through a second web process on another port."""
import hashlib
import uuid

import requests
from sqlalchemy import select

from apps.artefatos.models import Artefato, Kind
from apps.auth.models import Role
from apps.core.types import db
from apps.portal import catalogo
from apps.portal.execucoes import NO_TASKS
from apps.processos.models import StatusExecucao, TipoExecucao
from tests.factories import ClienteFactory, OperadoraFactory, valid_cnpj
from tests.integration.conftest import Cycle, wait_for
from tests.integration.helpers import SimHttp, finished, stored_logs
from tests.portal_support import make_dominio, make_servico
from tests.test_artefatos_s3 import second_web  # noqa: F401 (fixture)


def _ask(client, servico, data):
    prefix = f"s{uuid.UUID(servico['id']).hex[:8]}-"
    return client.post(f"/portal/servicos/{servico['id']}/solicitar",
                       data={prefix + key: value for key, value in data.items()})


def _execucao_id(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response.headers["Location"].rsplit("/", 1)[-1]


def test_a_serviço_defined_by_api_runs_from_the_portal(cycle: Cycle, sim, s3_settings, second_web, client, admin,  # noqa: F811
                                                       users, login):
    cliente = ClienteFactory(operadora=OperadoraFactory(codigo="VIVO"), cnpj=valid_cnpj(7, 11222333))
    servico = make_servico(client, admin, make_dominio(client, admin)["id"], catalogo.SEGUNDA_VIA)
    cycle.start_workers(1)
    login(users[Role.APROVADOR])
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
    (kept,) = db.session.scalars(select(Artefato).where(Artefato.execucao_id == execucao.id,
                                                        Artefato.kind == Kind.ARQUIVO)).all()
    assert (kept.name, kept.content_type, kept.sha256, kept.size) == (
        arquivo["arquivo"], arquivo["content_type"], arquivo["sha256"], arquivo["tamanho"])
    # Another web process (another machine: its own empty FATURAS_DIR), same database and S3 bucket, serves it
    # to the person who asked for it.
    headers = second_web.token(users[Role.APROVADOR].username)
    with requests.get(f"{second_web.url}/api/v1/artefatos/{kept.id}/download", headers=headers, timeout=10) as got:
        assert got.status_code == 200, got.text
        assert hashlib.sha256(got.content).hexdigest() == arquivo["sha256"]
    other = second_web.token(users[Role.VISUALIZADOR].username)  # someone else's service file
    assert requests.get(f"{second_web.url}/api/v1/artefatos/{kept.id}/download", headers=other,
                        timeout=10).status_code in (403, 404)

    page = client.get(f"/portal/execucoes/{execucao_id}").get_data(as_text=True)
    assert "Concluída" in page and "linha_digitavel" in page
    mine = client.get("/portal/solicitacoes").get_data(as_text=True)
    assert f'data-execucao-id="{execucao_id}" data-status="CONCLUIDO"' in mine


def test_a_server_without_tarefas_fails_the_run_saying_so(cycle: Cycle, sim, client, admin, users, login):
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
    assert db.session.scalar(select(Artefato).where(Artefato.kind == Kind.ARQUIVO)) is None
    db.session.rollback()
    mine = client.get("/portal/solicitacoes").get_data(as_text=True)
    assert f'data-execucao-id="{without}" data-status="FALHOU"' in mine and "não oferece tarefas genéricas" in mine
    assert f'data-execucao-id="{missing}" data-status="FALHOU"' in mine
