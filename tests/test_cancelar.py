"""Cancelling a robot run: the service, the API and the page, against the real simulator over HTTP."""
import pytest

from apps.auth.models import Role
from apps.core.types import db
from apps.processos import services
from apps.processos.models import Execucao, StatusExecucao
from apps.rpa import jobs
from apps.rpa.client import RpaClient, RpaRejected
from apps.rpa.runs import CANNOT_CANCEL, CancelamentoError, cancelar, end_run
from tests.conftest import actions
from tests.factories import ExecucaoFactory, OperadoraFactory, ProcessoFactory


@pytest.fixture(scope="module")
def sim_knobs():
    # Long jobs: a run is still RUNNING at the robots when the test cancels it.
    return {"job_duration": 60, "queue_wait": 0, "log_lines": 10, "cancel_delay": 0}


@pytest.fixture
def rpa(app, sim, monkeypatch):
    """The app talks to this module's simulator with a token it accepts."""
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim.url)
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", sim.issue_token())
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "")
    return sim


@pytest.fixture
def vivo():
    return OperadoraFactory(codigo="VIVO", limite_concorrencia=1)


def _requested(vivo, nome="Padaria Aurora Ltda"):
    """A processo's download run as Executar leaves it: PENDENTE (admitted when a slot is free)."""
    return services.executar(ProcessoFactory(cliente__operadora=vivo, cliente__nome=nome))


def _running(vivo, nome="Padaria Aurora Ltda"):
    """A run started at the simulator: EXECUTANDO with its job id (the start job, run here)."""
    execucao = _requested(vivo, nome)
    assert jobs.start_execucao(str(execucao.id)) == execucao.job_id
    return execucao


def _sim_job(sim, job_id):
    return RpaClient(sim.url, token_provider=_Token(sim.issue_token())).get_job(job_id)


class _Token:
    def __init__(self, token):
        self.token = token

    def get(self):
        return self.token

    def refresh(self, rejected=None):
        return None


def _fresh(execucao):
    db.session.expire_all()
    return db.session.get(Execucao, execucao.id)


# -- the client -----------------------------------------------------------------------------------
def test_cancel_job_returns_the_checked_job_or_says_the_server_cannot(rpa, vivo, users):
    execucao = _running(vivo)
    client = RpaClient(rpa.url, token_provider=_Token(rpa.issue_token()), max_retries=0)
    job = client.cancel_job(execucao.job_id)
    assert job["job_id"] == execucao.job_id and job["status"] in ("PENDING", "RUNNING", "FAILED")
    with pytest.raises(RpaRejected) as unknown:
        client.cancel_job("job-que-nao-existe")
    assert unknown.value.status == 404
    rpa.set_config(cancel_supported=False)
    with pytest.raises(RpaRejected) as refused:
        client.cancel_job(execucao.job_id)
    assert refused.value.status == 405


# -- the service ----------------------------------------------------------------------------------
def test_cancelling_a_running_run_stops_the_robot_fails_it_once_and_frees_the_slot(rpa, vivo, users, enqueued):
    operador = users[Role.OPERADOR]
    execucao = _running(vivo)
    waiting = _requested(vivo, "Clínica Boa Vista Ltda")
    assert waiting.data_inicio is None, "limite 1: a segunda espera a vaga"

    assert cancelar(execucao, by=operador) is True

    execucao = _fresh(execucao)
    assert execucao.status == StatusExecucao.FALHOU and execucao.data_fim is not None
    assert execucao.mensagem == "Execução cancelada por operador."
    assert rpa.stats()["cancel_requests"] == 1
    job = _sim_job(rpa, execucao.job_id)
    assert job["status"] == "FAILED" and "cancelado" in job["error"]
    # The slot freed at once: the waiting run of the same operadora is admitted and its start queued.
    assert _fresh(waiting).data_inicio is not None and enqueued[-1] == waiting.id
    entry, = actions("execucao_cancelada")
    assert entry.user_id == operador.id and entry.entity_id == str(execucao.processo_id)
    assert str(execucao.id) in entry.detail

    # The robot's own FAILED that follows ends nothing a second time.
    assert jobs.poll_execucao(str(execucao.id)) == "nada a fazer"
    assert end_run(execucao, error="Job falhou: cancelado a pedido do dashboard") is False
    assert _fresh(execucao).mensagem == "Execução cancelada por operador."
    assert len(actions("execucao_falhou")) == 1


def test_a_pendente_run_without_job_is_cancelled_without_calling_the_server(app, rpa, vivo, users, monkeypatch):
    execucao = _requested(vivo)
    assert execucao.job_id is None
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")  # nothing listens: no call may go out
    cancelar(execucao, by=users[Role.ADMIN])
    execucao = _fresh(execucao)
    assert execucao.status == StatusExecucao.FALHOU and execucao.mensagem == "Execução cancelada por admin."
    assert rpa.stats()["cancel_requests"] == 0
    assert len(actions("execucao_cancelada")) == 1


def test_a_server_that_cannot_cancel_changes_nothing(rpa, vivo, users):
    execucao = _running(vivo)
    rpa.set_config(cancel_supported=False)
    with pytest.raises(CancelamentoError) as refused:
        cancelar(execucao, by=users[Role.OPERADOR])
    assert refused.value.message == CANNOT_CANCEL and refused.value.status == 422
    execucao = _fresh(execucao)
    assert execucao.status == StatusExecucao.EXECUTANDO and execucao.mensagem is None
    assert actions("execucao_cancelada") == [] and actions("execucao_falhou") == []
    assert _sim_job(rpa, execucao.job_id)["status"] in ("PENDING", "RUNNING")


def test_a_finished_run_cannot_be_cancelled(rpa, users):
    execucao = ExecucaoFactory(status=StatusExecucao.CONCLUIDO, job_id="job-antigo", mensagem="2 fatura(s) baixada(s).")
    with pytest.raises(CancelamentoError) as refused:
        cancelar(execucao, by=users[Role.OPERADOR])
    assert refused.value.status == 409 and "Concluída" in refused.value.message
    assert _fresh(execucao).mensagem == "2 fatura(s) baixada(s)." and rpa.stats()["cancel_requests"] == 0


# -- the API --------------------------------------------------------------------------------------
def test_api_cancels_a_running_run(client, rpa, vivo, op):
    execucao = _running(vivo)
    response = client.post(f"/api/v1/execucoes/{execucao.id}/cancelar", headers=op)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == str(execucao.id) and body["status"] == "FALHOU"
    assert body["mensagem"] == "Execução cancelada por operador." and body["data_fim"]
    assert rpa.stats()["cancel_requests"] == 1


def test_api_cancel_off_is_422_and_the_run_goes_on(client, rpa, vivo, op):
    execucao = _running(vivo)
    rpa.set_config(cancel_supported=False)
    response = client.post(f"/api/v1/execucoes/{execucao.id}/cancelar", headers=op)
    assert response.status_code == 422
    assert response.get_json()["error"] == CANNOT_CANCEL
    assert _fresh(execucao).status == StatusExecucao.EXECUTANDO


def test_api_pendente_without_job_and_finished_run(client, rpa, vivo, op):
    pendente = _requested(vivo)
    response = client.post(f"/api/v1/execucoes/{pendente.id}/cancelar", headers=op)
    assert response.status_code == 200 and response.get_json()["status"] == "FALHOU"
    again = client.post(f"/api/v1/execucoes/{pendente.id}/cancelar", headers=op)
    assert again.status_code == 409 and "já terminou" in again.get_json()["error"]
    assert client.post("/api/v1/execucoes/nao-e-um-id/cancelar", headers=op).status_code == 404
    assert rpa.stats()["cancel_requests"] == 0


def test_api_refuses_a_visualizador_and_anonymous(client, rpa, vivo, viewer):
    execucao = _running(vivo)
    assert client.post(f"/api/v1/execucoes/{execucao.id}/cancelar", headers=viewer).status_code == 403
    assert client.post(f"/api/v1/execucoes/{execucao.id}/cancelar").status_code == 401
    assert _fresh(execucao).status == StatusExecucao.EXECUTANDO and rpa.stats()["cancel_requests"] == 0


# -- the page -------------------------------------------------------------------------------------
def _cancel_url(execucao):
    return f"/processos/{execucao.processo_id}/execucoes/{execucao.id}/cancelar"


def test_page_cancel_redirects_to_the_run_log_with_a_message(operador_client, rpa, vivo):
    execucao = _running(vivo)
    response = operador_client.post(_cancel_url(execucao))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/processos/{execucao.processo_id}?logs={execucao.id}")
    html = operador_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Execução cancelada (Download)." in html
    assert "Execução cancelada por operador." in html
    assert 'data-historico="execucao_cancelada"' in html and "Execução cancelada</strong>" in html


def test_page_cancel_says_when_the_server_cannot(operador_client, rpa, vivo):
    execucao = _running(vivo)
    rpa.set_config(cancel_supported=False)
    response = operador_client.post(_cancel_url(execucao), follow_redirects=True)
    assert CANNOT_CANCEL in response.get_data(as_text=True)
    assert _fresh(execucao).status == StatusExecucao.EXECUTANDO


def test_page_cancel_needs_csrf_and_operador(client, users, login, rpa, vivo):
    execucao = _running(vivo)
    login(users[Role.OPERADOR])
    assert client.post(_cancel_url(execucao), no_csrf=True).status_code == 400
    client.post("/logout")
    login(users[Role.VISUALIZADOR])
    assert client.post(_cancel_url(execucao)).status_code == 403
    other = ProcessoFactory(cliente__operadora=vivo)
    client.post("/logout")
    login(users[Role.ADMIN])
    assert client.post(f"/processos/{other.id}/execucoes/{execucao.id}/cancelar").status_code == 404
    assert _fresh(execucao).status == StatusExecucao.EXECUTANDO and rpa.stats()["cancel_requests"] == 0


def test_live_panel_offers_pausar_and_cancelar_only_to_operadores(client, users, login, vivo, enqueued):
    execucao = _requested(vivo)
    login(users[Role.OPERADOR])
    html = client.get(f"/processos/{execucao.processo_id}").get_data(as_text=True)
    panel = html[html.index('<section id="live-panel"'):]
    panel = panel[:panel.index("</section>")]
    assert "Pausar acompanhamento" in panel and ">Parar<" not in panel
    assert 'data-live="cancel-form"' in panel and "Cancelar execução" in panel and 'name="csrf_token"' in panel
    assert f'data-live-url="/processos/{execucao.processo_id}/ao-vivo"' in panel
    client.post("/logout")
    login(users[Role.VISUALIZADOR])
    html = client.get(f"/processos/{execucao.processo_id}").get_data(as_text=True)
    assert "Pausar acompanhamento" in html and 'data-live="cancel-form"' not in html


def test_ao_vivo_fragment_has_every_live_part_with_the_history(client, users, login, vivo, enqueued):
    execucao = _requested(vivo)
    login(users[Role.VISUALIZADOR])
    response = client.get(f"/processos/{execucao.processo_id}/ao-vivo")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    for part in ("processo-status", "execucoes-table", "faturas-table", "processo-historico"):
        assert f'id="{part}"' in html
    assert "<html" not in html
    assert 'data-historico="execucao_iniciada"' in html and "Execução iniciada" in html
    assert 'data-label="Job"' in html
