"""Contract 1.1 in the simulator: /health details, job cancellation, generic tasks (/tarefas)."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator

from simulator.__main__ import build_config, parse_args
from simulator.config import SimConfig, from_env, updated
from simulator.validation import BodyError, check_schema

REPO = Path(__file__).resolve().parents[2]
CNPJ = "12ABC34501DE35"
TASK_PARAMS = {
    "segunda_via_fatura": {"operadora": "vivo", "cnpj": CNPJ, "competencia": "2026-03"},
    "consulta_debitos": {"operadora": "OI", "cnpj": CNPJ},
    "reenvio_protocolo_sat": {"protocolo": "SAT-2026-000001"},
}
NEW_ENV = ("SIM_HEALTH_DETAILS", "SIM_VERSION", "SIM_ROBOT", "SIM_CAPACITY", "SIM_CANCEL_SUPPORTED",
           "SIM_CANCEL_DELAY", "SIM_TASKS_SUPPORTED")


# -- helpers ----------------------------------------------------------------------------------
def health(rpa, contract) -> dict:
    """GET /health without a token, checked against the contract."""
    return contract.check(rpa.call("GET", "/health", token=None), "/health", "get", 200)


def cancel(rpa, contract, job_id: str, status: int = 202, **kwargs):
    """POST /jobs/{id}/cancel, checked against the contract."""
    response = rpa.call("POST", f"/jobs/{job_id}/cancel", **kwargs)
    return contract.check(response, "/jobs/{job_id}/cancel", "post", status)


def start_task(rpa, contract, tarefa: str, parametros: dict | None = None, status: int = 202, **kwargs):
    """POST /tarefas/{tarefa}, checked against the contract; the body (202) or the answer."""
    body = {"parametros": TASK_PARAMS[tarefa] if parametros is None else parametros}
    body.update(kwargs.pop("extra", {}))
    response = rpa.call("POST", f"/tarefas/{tarefa}", json=body, **kwargs)
    return contract.check(response, "/tarefas/{tarefa}", "post", status)


def wait_status(rpa, job_id: str, status: str, timeout: float = 5.0) -> dict:
    """Poll GET /jobs/{id} until it reports `status`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = rpa.job(job_id)
        if job["status"] == status:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached {status}")


def task_schemas(rpa, contract) -> dict:
    """{nome: parametros schema} from GET /tarefas."""
    listing = contract.check(rpa.call("GET", "/tarefas"), "/tarefas", "get", 200)
    return {task["nome"]: task["parametros"] for task in listing["tarefas"]}


# -- /health ----------------------------------------------------------------------------------
def test_health_reports_version_running_capacity_robot(rpa, contract, sim):
    """Defaults: version and robot, running counts PENDING+RUNNING jobs, capacity only when set."""
    body = health(rpa, contract)
    assert body == {"status": "ok", "version": "1.1.0-sim", "running": 0, "robot": "simulador"}
    sim.set_config(capacity=3, robot="maquina-02", version="2.4.1", queue_wait=5)
    first, second = rpa.start(), rpa.start("OI")
    body = health(rpa, contract)
    assert body == {"status": "ok", "version": "2.4.1", "running": 2, "capacity": 3, "robot": "maquina-02"}
    cancel(rpa, contract, first)
    assert health(rpa, contract)["running"] == 1
    cancel(rpa, contract, second)
    assert health(rpa, contract)["running"] == 0


def test_health_fields_can_be_left_out(rpa, contract, sim):
    """capacity 0/None, empty version/robot are not reported; health_details=False is a 1.0 server."""
    sim.set_config(capacity=None, version="", robot="")
    assert health(rpa, contract) == {"status": "ok", "running": 0}
    sim.set_config(capacity=2, health_details=False)
    assert health(rpa, contract) == {"status": "ok"}
    sim.set_config(capacity=0, health_details=True)
    assert "capacity" not in health(rpa, contract)


# -- POST /jobs/{id}/cancel -------------------------------------------------------------------
def test_cancel_running_job_ends_failed_and_nothing_runs_after(rpa, contract, sim):
    """202 with the job; FAILED with a 'cancelado' error; last line ERROR 'falhou'; no later steps."""
    sim.set_config(queue_wait=0, job_duration=0.6, log_lines=20)
    job_id = rpa.start()
    wait_status(rpa, job_id, "RUNNING")
    job = cancel(rpa, contract, job_id)
    assert job["job_id"] == job_id and job["status"] == "FAILED"
    assert "cancelado" in job["error"] and job["result"] is None and job["finished_at"]
    lines = rpa.logs(job_id)["logs"]
    assert lines[-1]["level"] == "ERROR" and "falhou" in lines[-1]["message"]
    assert lines[-1]["message"] == f"Job {job_id} falhou: cancelado a pedido do dashboard"
    assert not any("concluído" in line["message"] for line in lines)
    time.sleep(0.9)  # past the job's planned end: its remaining steps must not run
    assert rpa.logs(job_id)["logs"] == lines
    assert rpa.job(job_id) == job
    assert sim.stats()["cancel_requests"] == 1 and sim.stats()["jobs_cancelled"] == 1


def test_cancel_pending_job(rpa, contract, sim):
    """A PENDING job ends FAILED without ever starting, and never starts afterwards."""
    sim.set_config(queue_wait=0.3)
    job_id = rpa.start()
    job = cancel(rpa, contract, job_id)
    assert job["status"] == "FAILED" and job["started_at"] is None and "cancelado" in job["error"]
    time.sleep(0.5)
    assert rpa.job(job_id)["status"] == "FAILED" and rpa.job(job_id)["started_at"] is None


def test_cancel_twice_logs_once(rpa, contract, sim):
    """A second cancel answers 202 with the (already FAILED) job and adds no line."""
    sim.set_config(queue_wait=5)
    job_id = rpa.start()
    cancel(rpa, contract, job_id)
    lines = rpa.logs(job_id)["logs"]
    assert cancel(rpa, contract, job_id)["status"] == "FAILED"
    assert rpa.logs(job_id)["logs"] == lines


@pytest.mark.parametrize("failure_rate,status", [(0, "COMPLETED"), (1, "FAILED")])
def test_cancel_finished_job_keeps_its_status(rpa, contract, sim, failure_rate, status):
    """A finished job: 202 with the job unchanged (status, result, error, logs)."""
    sim.set_config(failure_rate=failure_rate)
    job_id = rpa.start()
    before = rpa.wait(job_id)
    lines = rpa.logs(job_id)["logs"]
    after = cancel(rpa, contract, job_id)
    assert after == before and after["status"] == status
    assert rpa.logs(job_id)["logs"] == lines
    assert sim.stats()["jobs_cancelled"] == 0


def test_cancel_delay_reports_the_job_then_fails_it(rpa, contract, sim):
    """cancel_delay: 202 still RUNNING; it ends FAILED after the delay even if it was about to finish."""
    sim.set_config(queue_wait=0, job_duration=0.4, cancel_delay=0.6)
    job_id = rpa.start()
    wait_status(rpa, job_id, "RUNNING")
    job = cancel(rpa, contract, job_id)
    assert job["status"] == "RUNNING" and job["error"] is None
    assert any("Cancelamento" in line["message"] for line in rpa.logs(job_id)["logs"])
    job = rpa.wait(job_id, timeout=3)
    assert job["status"] == "FAILED" and "cancelado" in job["error"]
    assert rpa.logs(job_id)["logs"][-1]["level"] == "ERROR"


def test_cancel_unknown_job_and_missing_token(rpa, contract):
    """Unknown job: 404; no or an expired token: 401."""
    cancel(rpa, contract, "nao-existe", status=404)
    cancel(rpa, contract, "nao-existe", status=401, token=None)
    cancel(rpa, contract, "nao-existe", status=401, token=rpa.server.issue_token(-5))


def test_cancel_not_supported_is_405(rpa, contract, sim):
    """cancel_supported=False: 405 (a server that cannot cancel); the job is untouched."""
    sim.set_config(cancel_supported=False, queue_wait=0.2)
    job_id = rpa.start()
    detail = contract.check_error(rpa.call("POST", f"/jobs/{job_id}/cancel"), 405)
    assert "suportado" in detail
    cancel(rpa, contract, job_id, status=405)
    assert rpa.wait(job_id)["status"] == "COMPLETED"


def test_cancel_final_line_reaches_the_sse_stream(rpa, sim):
    """The cancellation's ERROR line is pushed on /events/logs like any final line."""
    sim.set_config(queue_wait=5)
    job_id = rpa.start()
    stream = rpa.call("GET", "/events/logs", params={"job_id": job_id}, stream=True)
    lines = stream.iter_lines(chunk_size=1, decode_unicode=True)
    assert json.loads(next(line for line in lines if line.startswith("data: "))[6:])["type"] == "connection"
    rpa.call("POST", f"/jobs/{job_id}/cancel")
    for raw in lines:
        if raw.startswith("data: "):
            item = json.loads(raw[6:])
            if item["level"] == "ERROR":
                assert "falhou" in item["message"] and item["job_id"] == job_id
                break
    stream.close()


# -- /tarefas ---------------------------------------------------------------------------------
def test_tarefas_lists_tasks_with_valid_json_schemas(rpa, contract):
    """Name, description and a Draft 2020-12 schema of the parametros for each task."""
    listing = contract.check(rpa.call("GET", "/tarefas"), "/tarefas", "get", 200)
    names = [task["nome"] for task in listing["tarefas"]]
    assert set(TASK_PARAMS) <= set(names) and len(names) == len(set(names))
    for task in listing["tarefas"]:
        assert task["descricao"]
        Draft202012Validator.check_schema(task["parametros"])
        if task["nome"] in TASK_PARAMS:
            assert Draft202012Validator(task["parametros"]).is_valid(TASK_PARAMS[task["nome"]])
    contract.check(rpa.call("GET", "/tarefas", token=None), "/tarefas", "get", 401)


@pytest.mark.parametrize("tarefa", sorted(TASK_PARAMS))
def test_task_completes_with_arquivos_and_dados(rpa, contract, tarefa):
    """tipo tarefa, its name, result.arquivos downloadable with matching sha256/size, result.dados."""
    job_id = start_task(rpa, contract, tarefa)["job_id"]
    job = rpa.wait(job_id)
    assert job["status"] == "COMPLETED" and job["tipo"] == "tarefa" and job["tarefa"] == tarefa
    assert isinstance(job["result"]["dados"], dict) and job["result"]["dados"]
    assert "faturas" not in job["result"] and "protocolo" not in job["result"]
    for arquivo in job["result"]["arquivos"]:
        response = rpa.call("GET", f"/jobs/{job_id}/arquivos/{arquivo['arquivo']}")
        data = contract.check(response, "/jobs/{job_id}/arquivos/{arquivo}", "get", 200)
        assert hashlib.sha256(data).hexdigest() == arquivo["sha256"] and len(data) == arquivo["tamanho"]
        if arquivo["content_type"] == "application/pdf":
            assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
        else:
            assert arquivo["content_type"].startswith("text/csv")
            assert data.decode("utf-8").startswith("numero;competencia;vencimento;valor;situacao\r\n")
    lines = rpa.logs(job_id)["logs"]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["level"] == "WARNING" and "concluído" in lines[-1]["message"]
    assert all(line["logger"] == f"tarefas.{tarefa}" for line in lines)


def test_task_outputs_are_realistic(rpa, contract):
    """segunda via: one PDF + numero/valor/vencimento; débitos: a CSV whose rows sum to dados.total."""
    job = rpa.wait(start_task(rpa, contract, "segunda_via_fatura")["job_id"])
    assert job["operadora"] == "VIVO"
    (pdf,) = job["result"]["arquivos"]
    assert pdf["content_type"] == "application/pdf" and pdf["arquivo"].endswith(".pdf")
    dados = job["result"]["dados"]
    assert re.fullmatch(r"\d+\.\d{2}", dados["valor"]) and dados["competencia"] == "2026-03"
    job_id = start_task(rpa, contract, "consulta_debitos")["job_id"]
    job = rpa.wait(job_id)
    (csv,) = job["result"]["arquivos"]
    rows = rpa.call("GET", f"/jobs/{job_id}/arquivos/{csv['arquivo']}").text.splitlines()[1:]
    dados = job["result"]["dados"]
    assert dados["quantidade"] == len(rows)
    total = sum(int(row.split(";")[3].replace(".", "")) for row in rows)
    assert f"{total // 100}.{total % 100:02d}" == dados["total"]
    job = rpa.wait(start_task(rpa, contract, "reenvio_protocolo_sat")["job_id"])
    assert job["result"]["arquivos"] == [] and job["result"]["dados"]["protocolo"] == "SAT-2026-000001"
    assert job["operadora"] is None


def test_task_runtime_env_names_logged_never_values(rpa, contract):
    """runtime_arguments and runtime_env reach the logs; env values (secrets) never do."""
    extra = {"runtime_arguments": ["--headless", "--tentativas=2"], "runtime_env": {"SENHA_PORTAL": "s3gr3d0"},
             "operadora": None}
    job_id = start_task(rpa, contract, "consulta_debitos", extra=extra)["job_id"]
    rpa.wait(job_id)
    messages = [line["message"] for line in rpa.logs(job_id)["logs"]]
    assert any("--headless --tentativas=2" in message for message in messages)
    assert any("SENHA_PORTAL" in message for message in messages)
    assert not any("s3gr3d0" in message for message in messages)


def _bad_task_bodies() -> list[tuple[str, str, object]]:
    """(name, tarefa, body) triples the contract or the task's schema rejects."""
    via = TASK_PARAMS["segunda_via_fatura"]
    return [
        ("sem parametros", "segunda_via_fatura", {"operadora": "VIVO"}),
        ("parametros lista", "segunda_via_fatura", {"parametros": [via]}),
        ("corpo lista", "segunda_via_fatura", [{"parametros": via}]),
        ("sem cnpj", "segunda_via_fatura", {"parametros": {"operadora": "vivo", "competencia": "2026-03"}}),
        ("cnpj pontuado", "segunda_via_fatura", {"parametros": {**via, "cnpj": "12.345.678/0001-95"}}),
        ("competencia mês 13", "segunda_via_fatura", {"parametros": {**via, "competencia": "2026-13"}}),
        ("parâmetro não previsto", "segunda_via_fatura", {"parametros": {**via, "extra": 1}}),
        ("operadora numérica", "segunda_via_fatura", {"parametros": via, "operadora": 5}),
        ("runtime_arguments texto", "segunda_via_fatura", {"parametros": via, "runtime_arguments": "--x"}),
        ("runtime_arguments com número", "segunda_via_fatura", {"parametros": via, "runtime_arguments": [1]}),
        ("runtime_env com número", "segunda_via_fatura", {"parametros": via, "runtime_env": {"A": 1}}),
        ("somente_vencidos texto", "consulta_debitos",
         {"parametros": {**TASK_PARAMS["consulta_debitos"], "somente_vencidos": "sim"}}),
        ("protocolo inválido", "reenvio_protocolo_sat", {"parametros": {"protocolo": "SAT-26-1"}}),
        ("motivo longo", "reenvio_protocolo_sat",
         {"parametros": {"protocolo": "SAT-2026-000001", "motivo": "x" * 201}}),
    ]


def test_malformed_task_bodies_are_422(rpa, contract):
    """What the contract's body schema or the task's own schema rejects is 422; valid bodies 202."""
    schemas = task_schemas(rpa, contract)
    body_schema = contract.validator(contract.request_schema("/tarefas/{tarefa}", "post"))
    for name, tarefa, body in _bad_task_bodies():
        params_ok = isinstance(body, dict) and contract.validator(schemas[tarefa]).is_valid(body.get("parametros"))
        assert not (body_schema.is_valid(body) and params_ok), f"{name}: the schemas accept it"
        response = rpa.call("POST", f"/tarefas/{tarefa}", json=body)
        detail = contract.check_error(response, 422)
        assert detail.startswith("Corpo inválido"), (name, detail)
    response = rpa.call("POST", "/tarefas/consulta_debitos", data="x", headers={"Content-Type": "text/plain"})
    contract.check(response, "/tarefas/{tarefa}", "post", 422)
    response = rpa.call("POST", "/tarefas/consulta_debitos", json={"parametros": TASK_PARAMS["consulta_debitos"]},
                        headers={"Idempotency-Key": "k" * 201})
    contract.check(response, "/tarefas/{tarefa}", "post", 422)
    for tarefa, params in TASK_PARAMS.items():
        assert contract.validator(schemas[tarefa]).is_valid(params)
        start_task(rpa, contract, tarefa, params, extra={"runtime_arguments": [], "runtime_env": {}})


def test_simulator_validation_agrees_with_jsonschema(rpa, contract):
    """check_schema (no dependency) accepts and rejects parametros exactly like jsonschema."""
    schemas = task_schemas(rpa, contract)
    via = TASK_PARAMS["segunda_via_fatura"]
    candidates = [via, {**via, "operadora": ""}, {**via, "competencia": 202603}, {}, None, [],
                  {"operadora": "vivo", "cnpj": CNPJ, "somente_vencidos": True},
                  {"operadora": "vivo", "cnpj": CNPJ, "somente_vencidos": 1},
                  {"protocolo": "SAT-2026-000001", "motivo": None}, {"protocolo": "SAT-2026-0000012"}]
    for schema in schemas.values():
        reference = contract.validator(schema)
        for value in candidates:
            try:
                check_schema(value, schema, "parametros")
                ours = True
            except BodyError:
                ours = False
            assert ours == reference.is_valid(value), (schema.get("required"), value)


def test_task_patterns_follow_ecma_semantics(rpa, contract):
    """As for /executar: '$' never matches before a trailing newline and \\d is ASCII only (ECMA 262),
    which Python's re (and so the jsonschema package) does not follow."""
    for cnpj in (CNPJ + "\n", "12ABC34501DE\u0661\u0662"):
        params = {**TASK_PARAMS["segunda_via_fatura"], "cnpj": cnpj}
        start_task(rpa, contract, "segunda_via_fatura", params, status=422)
    start_task(rpa, contract, "reenvio_protocolo_sat", {"protocolo": "SAT-2026-000001\n"}, status=422)


def test_unknown_task_and_operator_are_404(rpa, contract):
    """An unknown task or an operator code the robots do not know: 404."""
    response = rpa.call("POST", "/tarefas/nao_existe", json={"parametros": {}})
    assert "Tarefa desconhecida" in contract.check(response, "/tarefas/{tarefa}", "post", 404)["detail"]
    params = {**TASK_PARAMS["segunda_via_fatura"], "operadora": "NOVA"}
    start_task(rpa, contract, "segunda_via_fatura", params, status=404)
    start_task(rpa, contract, "reenvio_protocolo_sat", status=404, extra={"operadora": "NOVA"})
    job_id = start_task(rpa, contract, "reenvio_protocolo_sat", extra={"operadora": "embratel"})["job_id"]
    assert rpa.wait(job_id)["operadora"] == "EMBRATEL"
    start_task(rpa, contract, "reenvio_protocolo_sat", status=401, token=None)


def test_task_idempotency_key_shared_with_executar(rpa, contract, sim):
    """Same key -> same task job; the key space is global (a download's key replays the download)."""
    headers = {"Idempotency-Key": "tarefa-1"}
    first = start_task(rpa, contract, "consulta_debitos", headers=headers)["job_id"]
    assert start_task(rpa, contract, "consulta_debitos", headers=headers)["job_id"] == first
    assert start_task(rpa, contract, "segunda_via_fatura", headers=headers)["job_id"] == first
    download = rpa.start(headers={"Idempotency-Key": "download-1"})
    assert start_task(rpa, contract, "consulta_debitos", headers={"Idempotency-Key": "download-1"})["job_id"] == download
    stats = sim.stats()
    assert stats["jobs_created"] == {"download": 1, "sat": 0, "tarefa": 1} and stats["idempotent_replays"] == 3


def test_task_saturation_is_429(rpa, contract, sim):
    """max_active counts task jobs too, with Retry-After."""
    sim.set_config(max_active=1, queue_wait=5, retry_after=2)
    job_id = start_task(rpa, contract, "consulta_debitos")["job_id"]
    response = rpa.call("POST", "/tarefas/consulta_debitos", json={"parametros": TASK_PARAMS["consulta_debitos"]})
    contract.check(response, "/tarefas/{tarefa}", "post", 429)
    assert response.headers["Retry-After"] == "2"
    contract.check(rpa.call("POST", "/executar/VIVO", json=rpa.download_body()), "/executar/{operadora}", "post", 429)
    cancel(rpa, contract, job_id)
    start_task(rpa, contract, "consulta_debitos")


def test_task_failure_and_cancel(rpa, contract, sim):
    """failure_rate=1: FAILED, no files; a task job can be cancelled like any job."""
    sim.set_config(failure_rate=1)
    job_id = start_task(rpa, contract, "segunda_via_fatura")["job_id"]
    job = rpa.wait(job_id)
    assert job["status"] == "FAILED" and job["error"] and job["result"] is None and job["tarefa"]
    last = rpa.logs(job_id)["logs"][-1]
    assert last["level"] == "ERROR" and "falhou" in last["message"]
    sim.set_config(failure_rate=0, queue_wait=5)
    job_id = start_task(rpa, contract, "reenvio_protocolo_sat")["job_id"]
    job = cancel(rpa, contract, job_id)
    assert job["status"] == "FAILED" and job["tipo"] == "tarefa" and "cancelado" in job["error"]


def test_arquivos_404s(rpa, contract, sim):
    """Unknown job or file, a running task, a download's invoice: 404; task files not under /faturas."""
    path = "/jobs/{job_id}/arquivos/{arquivo}"
    contract.check(rpa.call("GET", "/jobs/nope/arquivos/a.pdf"), path, "get", 404)
    contract.check(rpa.call("GET", "/jobs/nope/arquivos/a.pdf", token=None), path, "get", 401)
    job_id = start_task(rpa, contract, "segunda_via_fatura")["job_id"]
    name = rpa.wait(job_id)["result"]["arquivos"][0]["arquivo"]
    contract.check(rpa.call("GET", f"/jobs/{job_id}/arquivos/outro.pdf"), path, "get", 404)
    contract.check(rpa.call("GET", f"/jobs/{job_id}/faturas/{name}"), "/jobs/{job_id}/faturas/{arquivo}", "get", 404)
    download = rpa.wait(rpa.start())
    fatura = download["result"]["faturas"][0]["arquivo"]
    contract.check(rpa.call("GET", f"/jobs/{download['job_id']}/arquivos/{fatura}"), path, "get", 404)
    sim.set_config(queue_wait=5)
    pending = start_task(rpa, contract, "segunda_via_fatura")["job_id"]
    contract.check(rpa.call("GET", f"/jobs/{pending}/arquivos/{name}"), path, "get", 404)


def test_tasks_not_supported_is_404(rpa, contract, sim):
    """tasks_supported=False: every task route answers 404 (a server without tasks), even without a token."""
    job_id = start_task(rpa, contract, "segunda_via_fatura")["job_id"]
    name = rpa.wait(job_id)["result"]["arquivos"][0]["arquivo"]
    sim.set_config(tasks_supported=False)
    contract.check(rpa.call("GET", "/tarefas"), "/tarefas", "get", 404)
    contract.check(rpa.call("GET", "/tarefas", token=None), "/tarefas", "get", 404)
    start_task(rpa, contract, "segunda_via_fatura", status=404)
    contract.check(rpa.call("GET", f"/jobs/{job_id}/arquivos/{name}"), "/jobs/{job_id}/arquivos/{arquivo}", "get", 404)
    assert rpa.job(job_id)["status"] == "COMPLETED"  # the job itself is still there
    sim.reset()
    contract.check(rpa.call("GET", "/tarefas"), "/tarefas", "get", 200)


# -- the new knobs: env, CLI, control API -------------------------------------------------------
def test_new_knobs_from_env():
    """SIM_* variables set the 1.1 knobs."""
    config = from_env({"SIM_HEALTH_DETAILS": "0", "SIM_VERSION": "3.0", "SIM_ROBOT": "maq-7", "SIM_CAPACITY": "4",
                       "SIM_CANCEL_SUPPORTED": "false", "SIM_CANCEL_DELAY": "1.5", "SIM_TASKS_SUPPORTED": "nao"})
    assert (config.health_details, config.version, config.robot, config.capacity) == (False, "3.0", "maq-7", 4)
    assert (config.cancel_supported, config.cancel_delay, config.tasks_supported) == (False, 1.5, False)
    defaults = SimConfig()
    assert (defaults.health_details, defaults.version, defaults.robot, defaults.capacity) == (True, "1.1.0-sim", "simulador", 0)
    assert (defaults.cancel_supported, defaults.cancel_delay, defaults.tasks_supported) == (True, 0, True)
    assert from_env({"SIM_VERSION": "", "SIM_CAPACITY": ""}).version is None


@pytest.mark.parametrize("name,value", [("capacity", -1), ("capacity", 1.5), ("cancel_delay", -1),
                                        ("cancel_supported", "talvez"), ("tasks_supported", "x"),
                                        ("health_details", "2")])
def test_bad_new_knob_values_are_rejected(name, value):
    """Out-of-range values of the 1.1 knobs raise ValueError."""
    with pytest.raises(ValueError):
        updated(SimConfig(), {name: value})


def test_new_knobs_from_cli_flags(monkeypatch):
    """--robot-version, --robot-name, --capacity, --health-details, --cancel-*, --tasks-supported."""
    for name in NEW_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIM_CAPACITY", "9")
    config = build_config(parse_args([
        "--robot-version", "1.1.7", "--robot-name", "maq-3", "--capacity", "2", "--health-details", "true",
        "--cancel-supported", "false", "--cancel-delay", "0.5", "--tasks-supported", "0"]))
    assert (config.version, config.robot, config.capacity, config.health_details) == ("1.1.7", "maq-3", 2, True)
    assert (config.cancel_supported, config.cancel_delay, config.tasks_supported) == (False, 0.5, False)
    assert build_config(parse_args([])).capacity == 9


def test_cli_serves_a_1_0_server():
    """python -m simulator with the 1.1 features off answers like a 1.0 server."""
    command = [sys.executable, "-m", "simulator", "--port", "0", "--quiet", "--token", "fixo",
               "--health-details", "false", "--cancel-supported", "false", "--tasks-supported", "false"]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        try:
            url = re.search(r"http://\S+", process.stdout.readline()).group(0)
            headers = {"Authorization": "Bearer fixo"}
            assert requests.get(url + "/health", timeout=5).json() == {"status": "ok"}
            assert requests.get(url + "/tarefas", headers=headers, timeout=5).status_code == 404
            assert requests.post(url + "/jobs/x/cancel", headers=headers, timeout=5).status_code == 405
        finally:
            process.terminate()
            process.wait(timeout=5)
    assert process.returncode == 0


def test_new_knobs_over_the_control_api(rpa, contract, sim):
    """POST /_sim/config changes the 1.1 knobs at run time; bad values 422; reset restores them."""
    post = lambda body: requests.post(sim.url + "/_sim/config", json=body, timeout=5)  # noqa: E731
    config = post({"capacity": 5, "robot": "maq-5", "version": "9.9", "cancel_supported": False,
                   "tasks_supported": "false", "cancel_delay": 0.2, "health_details": True}).json()
    assert (config["capacity"], config["robot"], config["version"]) == (5, "maq-5", "9.9")
    assert (config["cancel_supported"], config["tasks_supported"], config["cancel_delay"]) == (False, False, 0.2)
    assert health(rpa, contract) == {"status": "ok", "version": "9.9", "running": 0, "capacity": 5, "robot": "maq-5"}
    assert rpa.call("GET", "/tarefas").status_code == 404
    assert rpa.call("POST", "/jobs/x/cancel").status_code == 405
    assert post({"capacity": -2}).status_code == 422
    assert post({"cancel_supported": "talvez"}).status_code == 422
    assert post({"health_details": False}).status_code == 200
    assert health(rpa, contract) == {"status": "ok"}
    requests.post(sim.url + "/_sim/reset", json={}, timeout=5)
    assert requests.get(sim.url + "/_sim/config", timeout=5).json()["tasks_supported"] is True
    assert health(rpa, contract)["version"] == "1.1.0-sim"
