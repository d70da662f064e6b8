"""The robot registry without robots running: eligibility and least-load order, admission within capacity
(two dispatchers at once), the service's rules, the API and the page."""
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from apps.auth.models import Role
from apps.core.types import db, utcnow
from apps.operadoras import url_validation
from apps.processos import services as processos
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao
from apps.robos import dispatch, services
from apps.robos.models import Robo, RoboVersao, StatusRobo, VersaoAtiva
from apps.rpa import answers, throttle
from tests.conftest import actions
from tests.factories import ExecucaoFactory, OperadoraFactory, ProcessoFactory, RoboFactory

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    """roboN.exemplo.com.br are public; interno.exemplo.com.br private; numeric hosts resolve for real."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "interno.exemplo.com.br":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", port))]
        if host.endswith(".exemplo.com.br"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("200.160.2.3", port))]
        if host.replace(".", "").isdigit():
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(url_validation.socket, "getaddrinfo", getaddrinfo)


def _waiting(codigo="VIVO", n=1, tipo=TipoExecucao.DOWNLOAD):
    """n waiting runs (PENDENTE, not admitted) of operadora `codigo`."""
    runs = []
    for _ in range(n):
        processo = ProcessoFactory(cliente__operadora__codigo=codigo)
        runs.append(ExecucaoFactory(processo=processo, tipo=tipo, status=StatusExecucao.PENDENTE, data_inicio=None))
    return runs


def _held(robo):
    return dispatch.loads([robo.id]).get(robo.id, 0)


# --- eligibility and order ---------------------------------------------------------------------------------
def test_only_active_connected_undrained_robots_serving_the_tag_on_the_pinned_version_are_eligible():
    ok = RoboFactory(tags="VIVO,OI", versao="2.0")
    RoboFactory(tags="*", ativo=False)
    RoboFactory(tags="*", drenando=True)
    RoboFactory(tags="*", status=StatusRobo.SEM_RESPOSTA)
    RoboFactory(tags="*", status=StatusRobo.DESCONECTADO)
    RoboFactory(tags="EMBRATEL")
    todas = RoboFactory(tags="*", versao="1.0")
    sat = RoboFactory(tags="SAT")
    assert {r.nome for r in dispatch.eligible("VIVO")} == {ok.nome, todas.nome}
    assert {r.nome for r in dispatch.eligible("SAT")} == {todas.nome, sat.nome}
    db.session.add(VersaoAtiva(tag="VIVO", versao="2.0"))
    db.session.commit()
    assert [r.nome for r in dispatch.eligible("VIVO")] == [ok.nome]
    assert {r.nome for r in dispatch.eligible("OI")} == {ok.nome, todas.nome}  # a pin is per tag


def test_least_loaded_first_ties_to_the_most_recent_contact_and_full_robots_left_out():
    now = utcnow()
    a = RoboFactory(nome="a", capacidade=4, ultimo_contato=now - timedelta(seconds=30))
    b = RoboFactory(nome="b", capacidade=2, ultimo_contato=now - timedelta(seconds=5))
    c = RoboFactory(nome="c", capacidade=6, ultimo_contato=now)
    full = RoboFactory(nome="full", capacidade=1)
    held = {a.id: 2, b.id: 1, c.id: 1, full.id: 1}  # loads 0.5, 0.5, 0.17, 1.0
    assert [r.nome for r in dispatch.ranked([a, b, c, full], held)] == ["c", "b", "a"]


def test_runs_wait_saying_why_when_no_robot_is_free_and_start_when_one_is(enqueued):
    robo = RoboFactory(capacidade=1)
    first, second = _waiting(n=2)
    throttle.dispatch(first.processo.cliente.operadora_id)
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.robo_id == robo.id and first.data_inicio is not None and enqueued == [first.id]
    assert second.data_inicio is None and second.mensagem == dispatch.WAITING_MESSAGE

    from apps.rpa.runs import end_run

    end_run(first, error="falhou de teste")  # its place frees: the waiting run is admitted on it
    db.session.refresh(second)
    assert second.robo_id == robo.id and second.mensagem is None and enqueued == [first.id, second.id]


def test_without_robots_runs_are_admitted_as_before(enqueued):
    OperadoraFactory(codigo="VIVO", limite_concorrencia=2, clientes=3)
    processos.gerar_processos("2026-11")
    for processo in db.session.scalars(select(Processo)).all():
        processos.executar(processo)
    assert len(enqueued) == 2
    assert all(e.robo_id is None for e in db.session.scalars(select(Execucao)))


def test_outsourced_operadoras_keep_their_endpoint_even_with_robots(enqueued):
    RoboFactory(capacidade=5)
    processo = ProcessoFactory(cliente__operadora=OperadoraFactory(codigo="TERC", terceirizada=True))
    execucao = processos.executar(processo)
    assert enqueued == [execucao.id] and execucao.robo_id is None


def test_sat_runs_go_to_robots_tagged_sat(enqueued):
    RoboFactory(tags="VIVO", capacidade=5)
    sat = RoboFactory(tags="SAT", capacidade=5)
    (run,) = _waiting(tipo=TipoExecucao.ENVIO_SAT)
    throttle.dispatch(run.processo.cliente.operadora_id)
    db.session.refresh(run)
    assert run.robo_id == sat.id


def test_two_operadoras_dispatching_at_once_never_fill_a_robot_past_its_capacity(app, enqueued):
    robo = RoboFactory(capacidade=3)
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=10)
    oi = OperadoraFactory(codigo="OI", limite_concorrencia=10)
    _waiting("VIVO", 6)
    _waiting("OI", 6)
    barrier = threading.Barrier(6)

    def run(operadora_id):
        with app.app_context():
            barrier.wait(10)
            throttle.dispatch(operadora_id)
            db.session.remove()

    threads = [threading.Thread(target=run, args=(op_id,)) for op_id in (vivo.id, oi.id) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert _held(robo) == 3 and len(enqueued) == 3


# --- service rules ----------------------------------------------------------------------------------------
def test_create_normalises_tags_and_refuses_bad_input_naming_each_field(admin_user):
    robo = services.create_robo({"nome": "r1", "url": "https://robo1.exemplo.com.br/", "tags": "vivo, sat oi",
                                 "capacidade": 3}, by=admin_user)
    assert robo.tags == "OI,SAT,VIVO" and robo.status == StatusRobo.SEM_RESPOSTA  # no runs before it answers
    with pytest.raises(services.RecordError) as exc:
        services.create_robo({"nome": "", "url": "http://interno.exemplo.com.br", "tags": "VI VO!",
                              "capacidade": 0}, by=admin_user)
    assert set(exc.value.fields) == {"nome", "url", "tags", "capacidade"}
    assert "interno" in exc.value.fields["url"]
    with pytest.raises(services.RecordError) as exc:
        services.create_robo({"nome": "r1", "url": "https://robo9.exemplo.com.br"}, by=admin_user)
    assert exc.value.status == 409


def test_a_robot_holding_runs_cannot_be_deleted_but_can_be_drained(admin_user, enqueued):
    robo = RoboFactory(capacidade=2)
    (run,) = _waiting()
    throttle.dispatch(run.processo.cliente.operadora_id)
    with pytest.raises(services.RecordError) as exc:
        services.delete_robo(robo, by=admin_user)
    assert exc.value.status == 409 and "drene" in exc.value.message
    assert services.drain(robo, by=admin_user) is True
    db.session.commit()
    (other,) = _waiting()
    throttle.dispatch(other.processo.cliente.operadora_id)
    db.session.refresh(other)
    assert other.data_inicio is None  # drained: no new runs, the current one goes on
    assert actions("robo_drenando")


def test_pinning_needs_a_reported_version_and_unpinning_is_null(admin_user):
    robo = RoboFactory(versao="2.0")
    db.session.add(RoboVersao(robo_id=robo.id, versao="2.0"))
    db.session.commit()
    with pytest.raises(services.RecordError) as exc:
        services.set_pinned_version("VIVO", "9.9", by=admin_user)
    assert exc.value.fields == {"versao": "Versão desconhecida."}
    with pytest.raises(services.RecordError):
        services.set_pinned_version("*", "2.0", by=admin_user)
    assert services.set_pinned_version("vivo", "2.0", by=admin_user).tag == "VIVO"
    assert services.set_pinned_version("VIVO", None, by=admin_user) is None
    assert db.session.get(VersaoAtiva, "VIVO") is None
    assert actions("robo_versao_fixada") and actions("robo_versao_liberada")


def test_shown_status_is_occupied_at_capacity_and_deactivated_when_switched_off():
    robo = RoboFactory(capacidade=2)
    assert services.shown_status(robo, 1) == StatusRobo.DISPONIVEL
    assert services.shown_status(robo, 2) == StatusRobo.OCUPADO
    robo.ativo = False
    assert services.shown_status(robo, 0) == StatusRobo.DESATIVADO


def test_health_answers_are_checked():
    assert answers.health({"status": "ok"}) == {"status": "ok", "running": None, "capacity": None,
                                                "version": None, "robot": None}
    assert answers.health({"status": "ok", "version": "1.2", "running": 1, "capacity": 4})["capacity"] == 4
    for bad in ([], {"status": 1}, {"status": "ok", "capacity": "4"}, {"status": "ok", "running": True},
                {"status": "ok", "version": 12}, {"status": "ok", "capacity": 10**9}):
        with pytest.raises(answers.BadAnswer):
            answers.health(bad)


@pytest.fixture
def admin_user(users):
    return users[Role.ADMIN]


# --- API ------------------------------------------------------------------------------------------------
def test_api_crud_drain_and_version_pin(client, admin, viewer):
    response = client.post("/api/v1/robos", headers=admin, json={"nome": "r1", "url": "https://robo1.exemplo.com.br",
                                                                 "tags": ["vivo", "SAT"], "capacidade": 4})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["tags"] == ["SAT", "VIVO"] and body["carga"] == 0 and body["execucoes_ativas"] == 0
    assert body["status"] == StatusRobo.SEM_RESPOSTA and response.headers["Location"].endswith(body["id"])
    url = f"/api/v1/robos/{body['id']}"
    assert client.get("/api/v1/robos", headers=viewer).get_json()["total"] == 1
    assert client.patch(url, headers=viewer, json={"capacidade": 1}).status_code == 403
    patched = client.patch(url, headers=admin, json={"capacidade": 2, "ativo": False}).get_json()
    assert patched["capacidade"] == 2 and patched["status"] == StatusRobo.DESATIVADO
    bad = client.patch(url, headers=admin, json={"tags": "VIVO"})
    assert bad.status_code == 400 and "tags" in bad.get_json()["fields"]
    bad = client.post("/api/v1/robos", headers=admin, json={"nome": "r2", "url": "http://interno.exemplo.com.br",
                                                            "status": "DISPONIVEL"})
    assert bad.status_code == 422 and "status" in bad.get_json()["fields"]
    assert client.post(f"{url}/drenar", headers=admin).get_json()["drenando"] is True
    pin = client.put("/api/v1/robos/versao-ativa", headers=admin, json={"tag": "VIVO", "versao": "3.0"})
    assert pin.status_code == 422 and pin.get_json()["fields"] == {"versao": "Versão desconhecida."}
    assert client.put("/api/v1/robos/versao-ativa", headers=admin,
                      json={"tag": "vivo", "versao": None}).get_json() == {"tag": "VIVO", "versao": None}
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    assert actions("robo_criado") and actions("robo_excluido")


def test_execucao_json_names_its_robot(client, viewer, enqueued):
    robo = RoboFactory()
    (run,) = _waiting()
    throttle.dispatch(run.processo.cliente.operadora_id)
    body = client.get(f"/api/v1/execucoes?processo_id={run.processo_id}", headers=viewer).get_json()
    assert body["items"][0]["robo_id"] == str(robo.id)


# --- pages ------------------------------------------------------------------------------------------------
def test_admin_manages_robots_on_the_page_and_viewers_only_see_them(admin_client, users, login, client):
    page = admin_client.get("/robos").get_data(as_text=True)
    assert "Nenhum robô cadastrado" in page and "js/robos.js" in page
    response = admin_client.post("/robos/novo", data={"nome": "r1", "url": "http://interno.exemplo.com.br",
                                                      "tags": "VIVO", "capacidade": "2", "ativo": "y"})
    assert response.status_code == 422 and "endereço interno" in response.get_data(as_text=True)
    response = admin_client.post("/robos/novo", data={"nome": "r1", "url": "https://robo1.exemplo.com.br",
                                                      "tags": "VIVO, SAT", "capacidade": "2", "ativo": "y"})
    assert response.status_code == 302
    robo = db.session.scalar(select(Robo))
    assert robo.tags == "SAT,VIVO"
    assert admin_client.post(f"/robos/{robo.id}/drenar").status_code == 302
    db.session.refresh(robo)
    assert robo.drenando
    fragment = admin_client.get("/robos/fragmento").get_data(as_text=True)
    assert 'id="robos-tabela"' in fragment and "Drenando" in fragment and "<html" not in fragment
    assert admin_client.post(f"/robos/{robo.id}/excluir").status_code == 302
    assert db.session.scalar(select(Robo)) is None


def test_viewer_sees_the_table_without_actions_and_the_home_counts_available_robots(client, users, login):
    RoboFactory(nome="r-ok")
    RoboFactory(nome="r-off", status=StatusRobo.DESCONECTADO)
    login(users[Role.VISUALIZADOR])
    page = client.get("/robos").get_data(as_text=True)
    assert 'data-robo="r-ok" data-status="DISPONIVEL"' in page and 'data-status="DESCONECTADO"' in page
    assert "/drenar" not in page and "Novo robô" not in page
    assert "Robôs disponíveis 1 / 2" in client.get("/").get_data(as_text=True)
    assert client.post("/robos/novo", data={"nome": "x"}).status_code == 403


def test_flask_robos_registrar_is_an_upsert_by_url_and_probes_at_once(runner, app, sim, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", True)
    sim.set_config(capacity=5, version="3.1")
    for _ in range(2):
        result = runner.invoke(args=["robos", "registrar", "--url", sim.url + "/", "--nome", "sim-1"])
        assert result.exit_code == 0, result.output
    assert "atualizado" in result.output and "DISPONIVEL" in result.output
    (robo,) = db.session.scalars(select(Robo)).all()
    assert (robo.url, robo.capacidade, robo.versao, robo.status) == (sim.url, 5, "3.1", StatusRobo.DISPONIVEL)
    bad = runner.invoke(args=["robos", "registrar", "--url", "ftp://x", "--nome", "x"])
    assert bad.exit_code != 0 and "http://" in bad.output


def test_flask_robos_registrar_moves_a_robot_of_the_same_name_to_its_new_url(runner, app, sim, monkeypatch):
    """`make run` again with port 8000 taken: its simulator answers elsewhere, and the robot follows it."""
    monkeypatch.setitem(app.config, "RPA_ALLOW_PRIVATE_TARGETS", True)
    old_url = "http://127.0.0.1:9/"
    assert runner.invoke(args=["robos", "registrar", "--url", old_url, "--nome", "simulador-1"]).exit_code == 0
    result = runner.invoke(args=["robos", "registrar", "--url", sim.url, "--nome", "simulador-1"])
    assert result.exit_code == 0, result.output
    (robo,) = db.session.scalars(select(Robo)).all()
    assert (robo.nome, robo.url, robo.status) == ("simulador-1", sim.url, StatusRobo.DISPONIVEL)


def test_simulator_version_and_capacity_flags_and_env_reach_its_health(monkeypatch):
    import requests

    from simulator import serve_in_thread
    from simulator.__main__ import build_config, parse_args

    monkeypatch.setenv("SIM_CAPACITY", "7")
    assert build_config(parse_args([])).capacity == 7
    config = build_config(parse_args(["--version", "2.5", "--capacity", "3"]))
    with serve_in_thread(config=config) as server:
        health = requests.get(server.url + "/health", timeout=5).json()
    assert (health["version"], health["capacity"], health["running"]) == ("2.5", 3, 0)


def test_a_throttle_pass_stops_asking_for_a_robot_once_none_has_room_for_the_tag(enqueued):
    from tests.conftest import count_queries

    RoboFactory(capacidade=1)
    runs = _waiting(n=20)
    operadora = runs[0].processo.cliente.operadora
    operadora.limite_concorrencia = 20
    db.session.commit()
    operadora_id = operadora.id
    throttle.dispatch(operadora_id)
    db.session.expire_all()
    waiting = [r for r in runs if r.data_inicio is None]
    assert len(enqueued) == 1 and len(waiting) == 19
    assert {r.mensagem for r in waiting} == {dispatch.WAITING_MESSAGE}
    with count_queries() as statements:
        assert throttle.dispatch(operadora_id) == []
    assert len(statements) < 19, statements  # not a robot query per waiting run


def test_a_robot_url_cannot_move_while_it_holds_runs_and_reactivation_waits_for_an_answer(admin_user, enqueued):
    robo = RoboFactory(capacidade=2)
    (run,) = _waiting()
    throttle.dispatch(run.processo.cliente.operadora_id)
    with pytest.raises(services.RecordError) as exc:
        services.update_robo(robo, {"url": "https://robo77.exemplo.com.br"}, by=admin_user)
    assert exc.value.status == 409 and "url" in exc.value.fields
    services.set_active(robo, False, by=admin_user)
    services.set_active(robo, True, by=admin_user)
    assert robo.status == StatusRobo.SEM_RESPOSTA  # no runs until its next /health answer


def test_a_robot_place_freed_admits_only_runs_that_robot_can_serve_not_every_operadora(enqueued, monkeypatch):
    vivo_robo = RoboFactory(nome="vivo", tags="VIVO", capacidade=1)
    RoboFactory(nome="oi", tags="OI", capacidade=1)
    sat_robo = RoboFactory(nome="sat", tags="SAT", capacidade=1)
    running = _waiting("VIVO")[0]
    throttle.dispatch(running.processo.cliente.operadora_id)
    db.session.refresh(running)
    assert running.robo_id == vivo_robo.id
    vivo_waiting = _waiting("VIVO")[0]
    (oi_waiting,) = _waiting("OI")
    (sat_waiting,) = _waiting("TIM", tipo=TipoExecucao.ENVIO_SAT)
    db.session.commit()
    dispatched = []
    real = throttle.dispatch
    monkeypatch.setattr(throttle, "dispatch", lambda operadora_id: dispatched.append(operadora_id) or real(operadora_id))

    from apps.rpa.runs import end_run

    end_run(running, error="falhou de teste")  # the VIVO robot's place and VIVO's slot free: only VIVO is asked
    assert dispatched == [running.processo.cliente.operadora_id]
    db.session.refresh(vivo_waiting)
    assert vivo_waiting.robo_id == vivo_robo.id
    # A SAT robot frees a place: the operadora of the waiting upload is asked too, the OI download is not.
    assert throttle.operadoras_with_waiting(["SAT"]) == [sat_waiting.processo.cliente.operadora_id]
    assert throttle.operadoras_with_waiting(["VIVO"]) == []
    assert set(throttle.operadoras_with_waiting(["OI", "SAT"])) == {oi_waiting.processo.cliente.operadora_id,
                                                                    sat_waiting.processo.cliente.operadora_id}
    dispatched.clear()
    throttle.dispatch_freed(None, sat_robo)
    assert dispatched == [sat_waiting.processo.cliente.operadora_id]
    db.session.refresh(sat_waiting)
    db.session.refresh(oi_waiting)
    assert sat_waiting.robo_id == sat_robo.id and oi_waiting.data_inicio is None  # not this robot's to take
