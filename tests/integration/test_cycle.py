"""The whole monthly cycle with real parts: API or pages → Redis → worker → simulator over HTTP → DB."""
from apps.auth.models import Role
from apps.processos.models import StatusExecucao, StatusProcesso, TipoExecucao
from tests.integration.conftest import REPO, wait_for
from tests.integration.helpers import (
    SimHttp,
    execucoes_of,
    faturas_of,
    file_sha256,
    finished,
    processo_of,
    stored_logs,
)


def _check_download(sim, processo_id, execucao_id):
    """The download run finished as the robot reported it: faturas on disk, logs once, dates set."""
    execucao = wait_for(lambda: finished(execucao_id), 15, message="download terminar")
    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    assert execucao.tipo == TipoExecucao.DOWNLOAD
    assert execucao.data_inicio is not None and execucao.data_fim is not None
    assert execucao.data_inicio <= execucao.data_fim
    assert processo_of(processo_id).status == StatusProcesso.AGUARDANDO_APROVACAO
    http = SimHttp(sim)
    job = http.job(execucao.job_id)
    assert job["status"] == "COMPLETED"
    reported = {f["numero"]: f for f in job["result"]["faturas"]}
    faturas = faturas_of(processo_id)
    assert 1 <= len(faturas) <= 3 and {f.numero for f in faturas} == set(reported)
    for fatura in faturas:
        assert fatura.execucao_id == execucao.id
        assert fatura.sha256 == reported[fatura.numero]["sha256"]
        assert file_sha256(fatura) == fatura.sha256
        assert f"{fatura.valor:.2f}" == reported[fatura.numero]["valor"]
    robot_lines = http.logs(execucao.job_id)
    assert stored_logs(execucao.id) == robot_lines
    assert execucao.ultimo_seq == robot_lines[-1][0]
    assert "concluído" in robot_lines[-1][2]
    return execucao


def _check_sat(sim, processo_id, execucao_id):
    execucao = wait_for(lambda: finished(execucao_id), 15, message="envio ao SAT terminar")
    assert execucao.status == StatusExecucao.CONCLUIDO, execucao.mensagem
    assert execucao.tipo == TipoExecucao.ENVIO_SAT
    processo = processo_of(processo_id)
    assert processo.status == StatusProcesso.UPLOAD_REALIZADO
    job = SimHttp(sim).job(execucao.job_id)
    assert processo.protocolo_sat == job["result"]["protocolo"]
    assert processo.protocolo_sat.startswith("SAT-")
    assert stored_logs(execucao.id) == SimHttp(sim).logs(execucao.job_id)
    sent = sim.state.jobs[execucao.job_id].body["faturas"]
    assert sorted(f["sha256"] for f in sent) == sorted(f.sha256 for f in faturas_of(processo_id))


def test_whole_cycle_through_the_api(cycle, sim, processo, client, api_headers):
    cycle.start_workers(1)
    headers = api_headers(Role.OPERADOR)
    url = f"/api/v1/processos/{processo.id}"

    response = client.post(f"{url}/executar", headers=headers)
    assert response.status_code == 202, response.get_json()
    download = _check_download(sim, processo.id, response.get_json()["execucao_id"])
    body = client.get(url, headers=headers).get_json()
    assert body["status"] == StatusProcesso.AGUARDANDO_APROVACAO
    assert [e["status"] for e in body["execucoes"]] == [StatusExecucao.CONCLUIDO]
    logs = client.get(f"/api/v1/execucoes/{download.id}/logs", headers=headers).get_json()
    assert [line["seq"] for line in logs["items"]] == [seq for seq, _, _ in stored_logs(download.id)]

    response = client.post(f"{url}/aprovar", headers=headers, json={"comentario": "conferido"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == StatusProcesso.AGUARDANDO_ENVIO_SAT

    response = client.post(f"{url}/executar", headers=headers)
    assert response.status_code == 202, response.get_json()
    _check_sat(sim, processo.id, response.get_json()["execucao_id"])
    body = client.get(url, headers=headers).get_json()
    assert body["status"] == StatusProcesso.UPLOAD_REALIZADO and body["protocolo_sat"].startswith("SAT-")
    assert sim.stats()["jobs_created"] == {"download": 1, "sat": 1}


def test_whole_cycle_through_the_pages(cycle, sim, processo, operador_client):
    cycle.start_workers(1)
    page = f"/processos/{processo.id}"

    response = operador_client.post(f"{page}/executar", follow_redirects=True)
    assert response.status_code == 200
    assert "Execução iniciada (Download)" in response.get_data(as_text=True)
    [execucao] = execucoes_of(processo.id)
    _check_download(sim, processo.id, execucao.id)
    html = operador_client.get(page).get_data(as_text=True)
    assert "Aguardando aprovação" in html
    assert all(f.numero in html for f in faturas_of(processo.id))

    response = operador_client.post(f"{page}/aprovar", data={"comentario": "ok"}, follow_redirects=True)
    assert "aprovado: as faturas seguem para o envio ao SAT" in response.get_data(as_text=True)
    assert processo_of(processo.id).status == StatusProcesso.AGUARDANDO_ENVIO_SAT

    response = operador_client.post(f"{page}/executar", follow_redirects=True)
    assert "Execução iniciada (Envio ao SAT)" in response.get_data(as_text=True)
    sat = execucoes_of(processo.id)[-1]
    _check_sat(sim, processo.id, sat.id)
    html = operador_client.get(page).get_data(as_text=True)
    assert processo_of(processo.id).protocolo_sat in html
    assert sim.stats()["jobs_created"] == {"download": 1, "sat": 1}


def test_worker_processes_get_the_same_settings_as_the_app(app, cycle):
    """The worker builds its app from the environment (APP_ENV=testing): it must see what the app sees."""
    import json
    import subprocess
    import sys

    keys = ["SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE", "FATURAS_DIR", "API_EXTERNA_URL", "API_EXTERNA_TOKEN",
            "BRM_TOKEN_PASSWORD", "RPA_ALLOW_PRIVATE_TARGETS", "FOLLOW_LEASE_SECONDS", "RPA_POLL_INTERVAL", "TESTING"]
    cycle.configure(BRM_TOKEN_PASSWORD="senha-do-teste")
    script = ("import json; from apps import create_app; c = create_app().config; "
              f"print(json.dumps({{k: str(c[k]) for k in {keys!r}}}))")
    out = subprocess.run([sys.executable, "-c", script], env=cycle.worker_env(), cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {k: str(app.config[k]) for k in keys}


def test_log_lines_are_stored_once_per_seq_and_only_new_ones_are_returned(processo):
    """A page that repeats lines (a retried poll, two followers) stores and republishes nothing twice."""
    import uuid

    from apps.core.types import db
    from apps.processos import execucoes as lifecycle
    from apps.processos.models import Execucao

    execucao = Execucao(id=uuid.uuid4(), processo_id=processo.id, tipo=TipoExecucao.DOWNLOAD,
                        status=StatusExecucao.EXECUTANDO, job_id="robo-1")
    db.session.add(execucao)
    db.session.commit()

    def line(seq):
        return {"seq": seq, "level": "INFO", "message": f"linha {seq}", "timestamp": "2026-10-01T10:00:00.000Z"}

    assert [r.seq for r in lifecycle.gravar_logs(execucao, [line(1), line(2)])] == [1, 2]
    assert [r.seq for r in lifecycle.gravar_logs(execucao, [line(2), line(3), line(3)])] == [3]
    assert lifecycle.gravar_logs(execucao, [line(1)]) == []
    assert execucao.ultimo_seq == 3
    assert stored_logs(execucao.id) == [(s, "INFO", f"linha {s}") for s in (1, 2, 3)]
