"""JSON API v1 for processos and execucoes, and the seed's /api/v2/logs-tempo-real routes."""
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from apps.auth.models import Role
from apps.core.queues import QueueUnavailable, get_queue, get_redis
from apps.core.types import db, utcnow
from apps.processos.models import Execucao, Fatura, Processo, StatusExecucao
from apps.processos.models import StatusProcesso as S
from apps.processos.state import WRONG_STATUS
from apps.realtime.events import channel_for
from tests.factories import (
    ClienteFactory,
    ExecucaoFactory,
    ExecucaoLogFactory,
    FaturaFactory,
    OperadoraFactory,
    ProcessoFactory,
)

PROCESSO_KEYS = {"id", "cliente_id", "cliente_nome", "operadora_id", "competencia", "status", "protocolo_sat",
                 "created_at", "updated_at"}
EXECUCAO_KEYS = {"id", "processo_id", "tipo", "status", "job_id", "data_inicio", "data_fim", "mensagem",
                 "robo_id"}  # the robot that runs it (apps.robos), null without one
FATURA_KEYS = {"id", "numero", "valor", "emissao", "vencimento", "sha256", "tamanho", "rejeitada", "motivo_rejeicao"}


# --- authentication ---------------------------------------------------------------------------

def test_v1_needs_a_bearer_token_even_with_a_session(client, users, login):
    assert client.get("/api/v1/processos").status_code == 401
    login(users[Role.ADMIN])
    response = client.get("/api/v1/processos")
    assert response.status_code == 401 and "error" in response.get_json()


@pytest.mark.parametrize("method,path", [
    ("post", "/api/v1/processos/gerar"), ("post", "/api/v1/processos/{id}/executar"),
    ("post", "/api/v1/processos/{id}/aprovar"), ("post", "/api/v1/processos/{id}/rejeitar"),
])
def test_writes_need_operate(client, viewer, enqueued, method, path):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    response = getattr(client, method)(path.format(id=processo.id), json={"motivo": "x"}, headers=viewer)
    assert response.status_code == 403
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO and enqueued == []


# --- gerar, list, get -------------------------------------------------------------------------

def test_gerar(client, maint, op):
    """Opening a month is the schedule's (agenda.gerenciar: Mantenedor, Admin), as on the Agendamentos page."""
    ClienteFactory(), ClienteFactory(), ClienteFactory(ativo=False)
    db.session.commit()
    assert client.post("/api/v1/processos/gerar", json={"competencia": "2026-09"}, headers=op).status_code == 403
    first = client.post("/api/v1/processos/gerar", json={"competencia": "2026-09"}, headers=maint)
    assert first.status_code == 200
    assert (first.get_json()["criados"], first.get_json()["existentes"]) == (2, 0)
    again = client.post("/api/v1/processos/gerar", json={"competencia": "2026-09"}, headers=maint).get_json()
    assert (again["criados"], again["existentes"]) == (0, 2)


@pytest.mark.parametrize("body", [{"competencia": "2026-13"}, {"competencia": 202609}, {}])
def test_gerar_bad_competencia_is_422(client, maint, body):
    response = client.post("/api/v1/processos/gerar", json=body, headers=maint)
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"competencia": "AAAA-MM"}


def test_list_shape_filters_and_pagination(client, viewer):
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    a = ProcessoFactory(cliente__operadora=vivo, competencia="2026-05", cliente__nome="A Ltda")
    ProcessoFactory(cliente__operadora=oi, competencia="2026-05", status=S.AGUARDANDO_APROVACAO, cliente__nome="B Ltda")
    ProcessoFactory(cliente__operadora=vivo, competencia="2026-04", cliente__nome="C Ltda")
    body = client.get("/api/v1/processos", headers=viewer).get_json()
    assert set(body) == {"items", "total", "page", "pages"} and body["total"] == 3
    assert set(body["items"][0]) == PROCESSO_KEYS
    assert [i["cliente_nome"] for i in body["items"]] == ["A Ltda", "B Ltda", "C Ltda"]

    def total(query):
        return client.get("/api/v1/processos?" + query, headers=viewer).get_json()["total"]

    assert total("competencia=2026-05") == 2
    assert total("status=AGUARDANDO_APROVACAO") == 1
    assert total(f"operadora_id={vivo.id}") == 2
    assert total(f"cliente_id={a.cliente_id}") == 1
    paged = client.get("/api/v1/processos?per_page=2&page=2", headers=viewer).get_json()
    assert (paged["page"], paged["pages"], len(paged["items"])) == (2, 2, 1)


@pytest.mark.parametrize("query", ["status=FEITO", "operadora_id=abc", "competencia=maio"])
def test_list_bad_filters_are_400(client, viewer, query):
    response = client.get("/api/v1/processos?" + query, headers=viewer)
    assert response.status_code == 400 and response.get_json()["fields"]


def test_get_with_faturas_and_execucoes(client, viewer):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    fatura = FaturaFactory(processo=processo, numero="NF-9", valor="123.4")
    execucao = ExecucaoFactory(processo=processo, status=StatusExecucao.CONCLUIDO, job_id="job-1")
    body = client.get(f"/api/v1/processos/{processo.id}", headers=viewer).get_json()
    assert set(body) == PROCESSO_KEYS | {"faturas", "execucoes"}
    assert body["status"] == S.AGUARDANDO_APROVACAO and body["operadora_id"] == str(processo.cliente.operadora_id)
    [f] = body["faturas"]
    assert set(f) == FATURA_KEYS
    assert (f["id"], f["valor"], f["vencimento"], f["sha256"], f["rejeitada"]) == (
        str(fatura.id), "123.40", "2026-06-10", fatura.sha256, False)
    [e] = body["execucoes"]
    assert set(e) == EXECUCAO_KEYS and (e["id"], e["job_id"]) == (str(execucao.id), "job-1")


@pytest.mark.parametrize("path", ["/api/v1/processos/{bad}", "/api/v1/execucoes/{bad}",
                                  "/api/v1/execucoes/{bad}/logs"])
@pytest.mark.parametrize("bad", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_ids_are_404(client, viewer, path, bad):
    response = client.get(path.format(bad=bad), headers=viewer)
    assert response.status_code == 404 and "error" in response.get_json()


# --- executar, aprovar, rejeitar --------------------------------------------------------------

def test_executar_202_then_409_while_active(client, op, enqueued):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    first = client.post(f"/api/v1/processos/{processo.id}/executar", headers=op)
    assert first.status_code == 202
    execucao_id = first.get_json()["execucao_id"]
    assert enqueued == [db.session.get(Execucao, __import__("uuid").UUID(execucao_id)).id]
    second = client.post(f"/api/v1/processos/{processo.id}/executar", headers=op)
    assert second.status_code == 409 and "em andamento" in second.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(Execucao)) == 1


@pytest.mark.parametrize("status,possui_rpa", [(S.AGUARDANDO_APROVACAO, True), (S.UPLOAD_REALIZADO, True),
                                               (S.AGUARDANDO_DOWNLOAD, False)])
def test_executar_when_nothing_can_run_is_409(client, op, enqueued, status, possui_rpa):
    operadora = OperadoraFactory(codigo="X" + str(possui_rpa), possui_rpa=possui_rpa)
    processo = ProcessoFactory(status=status, cliente__operadora=operadora)
    response = client.post(f"/api/v1/processos/{processo.id}/executar", headers=op)
    assert response.status_code == 409 and response.get_json()["error"]
    assert enqueued == []


def test_executar_with_the_queue_down_is_503_and_changes_nothing(client, op, monkeypatch):
    def down():
        raise QueueUnavailable()

    monkeypatch.setattr("apps.processos.services.ensure_available", down)
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    response = client.post(f"/api/v1/processos/{processo.id}/executar", headers=op)
    assert response.status_code == 503
    assert response.get_json()["error"] == QueueUnavailable.MESSAGE
    assert db.session.scalar(select(func.count()).select_from(Execucao)) == 0


def test_aprovar(client, op):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo)
    response = client.post(f"/api/v1/processos/{processo.id}/aprovar", json={"comentario": "ok"}, headers=op)
    assert response.status_code == 200 and response.get_json()["status"] == S.AGUARDANDO_ENVIO_SAT
    without_body = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=without_body, data=b"%PDF-1.7 other")
    assert client.post(f"/api/v1/processos/{without_body.id}/aprovar", headers=op, no_csrf=True).status_code == 200


def test_illegal_move_is_409_with_the_state_machine_message(client, op):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    FaturaFactory(processo=processo)
    response = client.post(f"/api/v1/processos/{processo.id}/aprovar", headers=op, no_csrf=True)
    assert response.status_code == 409
    assert response.get_json()["error"] == f"{WRONG_STATUS['aprovar']} O processo está em AGUARDANDO_DOWNLOAD."
    response = client.post(f"/api/v1/processos/{processo.id}/rejeitar", json={"motivo": "x"}, headers=op)
    assert response.status_code == 409
    assert response.get_json()["error"] == f"{WRONG_STATUS['rejeitar']} O processo está em AGUARDANDO_DOWNLOAD."


def test_aprovar_with_a_non_object_body_is_400(client, op):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    response = client.post(f"/api/v1/processos/{processo.id}/aprovar", data="[1]",
                           content_type="application/json", headers=op)
    assert response.status_code == 400


@pytest.mark.parametrize("body", [{}, {"motivo": ""}, {"motivo": "   "}, {"motivo": 3}])
def test_rejeitar_without_motivo_is_422(client, op, body):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    response = client.post(f"/api/v1/processos/{processo.id}/rejeitar", json=body, headers=op)
    assert response.status_code == 422 and response.get_json()["fields"] == {"motivo": "obrigatório"}
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO


def test_rejeitar(client, op):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo)
    body = client.post(f"/api/v1/processos/{processo.id}/rejeitar", json={"motivo": "duplicada"}, headers=op).get_json()
    assert body["status"] == S.AGUARDANDO_DOWNLOAD
    assert [(f["rejeitada"], f["motivo_rejeicao"]) for f in body["faturas"]] == [(True, "duplicada")]


# --- execucoes and logs -----------------------------------------------------------------------

def test_execucao_and_its_logs(client, viewer):
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-7")
    for seq in (1, 2, 3):
        ExecucaoLogFactory(execucao=execucao, seq=seq, message=f"linha {seq}")
    body = client.get(f"/api/v1/execucoes/{execucao.id}", headers=viewer).get_json()
    assert set(body) == EXECUCAO_KEYS and body["status"] == "EXECUTANDO" and body["data_fim"] is None
    logs = client.get(f"/api/v1/execucoes/{execucao.id}/logs?after=1", headers=viewer).get_json()
    assert [line["seq"] for line in logs["items"]] == [2, 3] and logs["next"] == 3
    assert set(logs["items"][0]) == {"seq", "level", "message", "timestamp"}
    empty = client.get(f"/api/v1/execucoes/{execucao.id}/logs?after=3", headers=viewer).get_json()
    assert empty == {"items": [], "next": 3}
    assert client.get(f"/api/v1/execucoes/{execucao.id}/logs?after=-1", headers=viewer).status_code == 400


# --- /api/v2/logs-tempo-real ------------------------------------------------------------------

V2 = "/api/v2/logs-tempo-real"


def next_message(pubsub, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message:
            return json.loads(message["data"])
    return None


def test_v2_failed_fails_the_run_and_publishes(client, op):
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-v2")
    pubsub = get_redis().pubsub()
    pubsub.subscribe(channel_for(execucao.id))
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    response = client.post(f"{V2}/atualizar-status/job-v2", json={"status": "FAILED", "mensagem": "portal caiu"},
                           headers=op)
    assert response.status_code == 200 and response.get_json()["status"] == "FALHOU"
    db.session.expire_all()
    stored = db.session.get(Execucao, execucao.id)
    assert (stored.status, stored.mensagem) == ("FALHOU", "portal caiu") and stored.data_fim is not None
    event = next_message(pubsub)
    assert event["event"] == "status" and event["data"]["status"] == "FALHOU"
    pubsub.close()


def test_v2_completed_wakes_the_follower_and_makes_up_no_faturas(client, op):
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-v2")
    response = client.post(f"{V2}/atualizar-status/job-v2", json={"status": "COMPLETED"}, headers=op)
    assert response.status_code == 202
    db.session.expire_all()
    stored = db.session.get(Execucao, execucao.id)
    assert stored.status == "EXECUTANDO" and stored.data_fim is not None
    assert db.session.scalar(select(func.count()).select_from(Fatura)) == 0
    jobs = [get_queue().fetch_job(job_id) for job_id in get_queue().job_ids]
    assert [(j.func_name.rsplit(".", 1)[-1], j.args[0]) for j in jobs] == [("poll_execucao", str(execucao.id))]


def test_v2_completed_with_the_queue_down_is_503(client, op, monkeypatch):
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-v2")

    def down(*args, **kwargs):
        raise QueueUnavailable()

    monkeypatch.setattr("apps.rpa.follow.enqueue", down)
    response = client.post(f"{V2}/atualizar-status/job-v2", json={"status": "COMPLETED"}, headers=op)
    assert response.status_code == 503
    db.session.expire_all()
    assert db.session.get(Execucao, execucao.id).data_fim is None


@pytest.mark.parametrize("reported,current,expected", [
    ("FAILED", "FALHOU", 200), ("COMPLETED", "CONCLUIDO", 200), ("FAILED", "CONCLUIDO", 409),
])
def test_v2_on_a_finished_run(client, op, reported, current, expected):
    ExecucaoFactory(status=current, job_id="job-done")
    response = client.post(f"{V2}/atualizar-status/job-done", json={"status": reported}, headers=op)
    assert response.status_code == expected


def test_v2_errors(client, op, viewer):
    ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-v2")
    # first: in tests, requests share the test's app context, so `g.api_user` outlives a Bearer request
    assert client.get(f"{V2}/status-job/job-v2").status_code == 401
    assert client.post(f"{V2}/atualizar-status/nao-existe", json={"status": "FAILED"}, headers=op).status_code == 404
    bad = client.post(f"{V2}/atualizar-status/job-v2", json={"status": "DONE"}, headers=op)
    assert bad.status_code == 422 and bad.get_json()["fields"] == {"status": "COMPLETED ou FAILED"}
    assert client.post(f"{V2}/atualizar-status/job-v2", json={"status": "FAILED"}, headers=viewer).status_code == 403


def test_v2_accepts_the_session_cookie_with_csrf(client, users, login):
    execucao = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-v2")
    login(users[Role.OPERADOR])
    no_token = client.post(f"{V2}/atualizar-status/job-v2", json={"status": "FAILED"})
    assert no_token.status_code == 400
    response = client.post(f"{V2}/atualizar-status/job-v2", json={"status": "FAILED"},
                           headers={"X-CSRFToken": client.csrf_token()})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Execucao, execucao.id).status == "FALHOU"


def test_v2_status_job(client, users, login, api_headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")  # the RPA API is unreachable
    old = ExecucaoFactory(status=StatusExecucao.FALHOU, job_id="job-x")
    old.created_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    newest = ExecucaoFactory(status=StatusExecucao.EXECUTANDO, job_id="job-x")
    login(users[Role.VISUALIZADOR])  # the session cookie first (a Bearer identity would linger in tests)
    assert client.get(f"{V2}/status-job/job-x").status_code == 200
    assert client.get(f"{V2}/status-job/other").status_code == 404
    response = client.get(f"{V2}/status-job/job-x", headers=api_headers(Role.VISUALIZADOR))
    from tests.test_api_parity_processos import assert_documented

    body = assert_documented(response, "get", "/api/v2/logs-tempo-real/status-job/{job_id}")
    assert body["execucao_id"] == str(newest.id) and body["status"] == "EXECUTANDO"
    assert body["processo_status"] == S.AGUARDANDO_DOWNLOAD
    assert "job" in body or isinstance(body.get("job_erro"), str)


def test_v2_teste_conexao(client, viewer, monkeypatch, app):
    from tests.test_api_parity_processos import assert_documented

    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")  # nothing listens there
    response = client.get(f"{V2}/teste-conexao", headers=viewer)
    body = assert_documented(response, "get", "/api/v2/logs-tempo-real/teste-conexao")
    assert (body["ok"], body["redis"], body["database"]) == (False, True, True)
    assert body["api_externa"]["url"] == "http://127.0.0.1:9" and body["api_externa"]["alcancavel"] is False
    import redis

    monkeypatch.setattr("apps.api.logs_v2.get_redis", lambda: redis.Redis(port=1, socket_connect_timeout=0.2))
    assert client.get(f"{V2}/teste-conexao", headers=viewer).get_json()["redis"] is False
