"""Simulator behaviour: idempotency, faults, auth refresh, SSE, PDFs, knobs, control API."""
from __future__ import annotations

import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from simulator import serve_in_thread


def test_idempotency_key_returns_same_job(rpa, sim):
    """Same key -> same job_id and no new job; another key -> a new job."""
    headers = {"Idempotency-Key": "proc-1:VIVO:2026-03"}
    first = rpa.start(headers=headers)
    assert sim.stats()["jobs_created"]["download"] == 1
    assert rpa.start(headers=headers) == first
    assert rpa.start("vivo", headers=headers) == first
    stats = sim.stats()
    assert stats["jobs_created"]["download"] == 1 and stats["idempotent_replays"] == 2
    assert rpa.start(headers={"Idempotency-Key": "outra"}) != first
    assert sim.stats()["jobs_created"]["download"] == 2


def test_concurrent_same_key_creates_one_job(rpa, sim):
    """Twenty parallel posts with one key create exactly one job."""
    headers = {"Idempotency-Key": "corrida"}
    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = set(pool.map(lambda _: rpa.start(headers=headers), range(20)))
    assert len(ids) == 1
    assert sim.stats()["jobs_created"]["download"] == 1


def test_fault_queue_503_then_429_then_success(rpa, contract, sim):
    """Queued faults answer in order, then the call succeeds; /health is spared."""
    sim.fault("503", 1)
    sim.fault("429", 1, retry_after=2)
    assert rpa.call("GET", "/health", token=None).status_code == 200
    path, body = "/executar/{operadora}", rpa.download_body()
    contract.check(rpa.call("POST", "/executar/VIVO", json=body), path, "post", 503)
    response = rpa.call("POST", "/executar/VIVO", json=body)
    contract.check(response, path, "post", 429)
    assert response.headers["Retry-After"] == "2"
    contract.check(rpa.call("POST", "/executar/VIVO", json=body), path, "post", 202)
    stats = sim.stats()
    assert stats["faults_served"] == {"503": 1, "429": 1}
    assert stats["requests"]["POST /executar/{operadora}"] == 3
    assert stats["jobs_created"]["download"] == 1


def test_fault_with_path_filter_and_count(rpa, sim):
    """A path-filtered fault hits only that route, `count` times."""
    sim.fault("500", 2, path="/jobs")
    assert rpa.call("POST", "/executar/VIVO", json=rpa.download_body()).status_code == 202
    assert [rpa.call("GET", "/jobs/x").status_code for _ in range(3)] == [500, 500, 404]
    sim.fault("503", 1, path="/health")
    assert rpa.call("GET", "/health", token=None).status_code == 503


def test_hang_fault_outlasts_client_timeout(rpa, sim):
    """A hanging call times the client out; reset releases it."""
    sim.fault("hang", 1)
    with pytest.raises(requests.Timeout):
        rpa.call("GET", "/jobs/x", timeout=0.3)
    sim.reset()
    assert rpa.call("GET", "/jobs/x").status_code == 404


def test_401_then_refresh_then_success(rpa, contract, sim):
    """An expired token gets 401; /auth/refresh gives a token that works."""
    rpa.token = sim.issue_token(-1)
    response = rpa.call("POST", "/executar/VIVO", json=rpa.download_body())
    contract.check(response, "/executar/{operadora}", "post", 401)
    sim.fault("401", 1)
    rpa.token = sim.issue_token()
    contract.check(rpa.call("GET", "/jobs/x"), "/jobs/{job_id}", "get", 401)
    refreshed = rpa.call("POST", "/auth/refresh", token=None, json={"password": "segredo"})
    rpa.token = contract.check(refreshed, "/auth/refresh", "post", 200)["access_token"]
    rpa.start()
    assert sim.stats()["auth_failures"] == 1


def _sse_events(response):
    """Yield ('data', obj) and ('comment', text) items of an SSE response."""
    for raw in response.iter_lines(chunk_size=1, decode_unicode=True):
        if raw.startswith("data: "):
            yield "data", json.loads(raw[6:])
        elif raw.startswith(":"):
            yield "comment", raw


def test_sse_stream_and_filter(rpa, contract, sim):
    """Connection event first; ?job_id filters; lines follow the LogLine schema; pings flow."""
    sim.set_config(queue_wait=0.3, job_duration=0.2)
    line_schema = contract.validator(contract.spec["components"]["schemas"]["LogLine"])
    everything = rpa.call("GET", "/events/logs", stream=True)
    all_events = _sse_events(everything)
    kind, hello = next(all_events)
    assert (kind, hello["type"]) == ("data", "connection")
    wanted = rpa.start()
    other = rpa.start("OI")
    only = rpa.call("GET", "/events/logs", params={"job_id": wanted}, stream=True)
    only_events = _sse_events(only)
    seen = []
    for kind, item in only_events:
        if kind == "data" and item.get("type") != "connection":
            line_schema.validate(item)
            seen.append(item)
            if "concluído" in item["message"]:
                break
    assert {line["job_id"] for line in seen} == {wanted}
    assert [line["seq"] for line in seen] == list(range(seen[0]["seq"], seen[-1]["seq"] + 1))
    assert any("<script>alert(1)</script>" in line["message"] for line in seen)
    assert next(only_events)[0] == "comment"
    ids = set()
    for kind, item in all_events:
        if kind == "data":
            ids.add(item["job_id"])
            if item["job_id"] == other and "concluído" in item["message"]:
                break
    assert ids == {wanted, other}
    everything.close()
    only.close()


def test_pdf_is_valid_and_sha256_matches(rpa):
    """Each invoice is a well-formed PDF 1.4 whose sha256 and size match the job."""
    job = rpa.wait(rpa.start())
    for fatura in job["result"]["faturas"]:
        pdf = rpa.call("GET", f"/jobs/{job['job_id']}/faturas/{fatura['arquivo']}").content
        assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
        assert hashlib.sha256(pdf).hexdigest() == fatura["sha256"]
        assert len(pdf) == fatura["tamanho"]
        assert fatura["numero"].encode() in pdf and fatura["valor"].encode() in pdf
        xref_at = int(re.search(rb"startxref\s+(\d+)", pdf).group(1))
        assert pdf[xref_at:].startswith(b"xref")
        offsets = re.findall(rb"(\d{10}) 00000 n", pdf[xref_at:])
        for number, offset in enumerate(offsets, start=1):
            assert pdf[int(offset):].startswith(f"{number} 0 obj".encode())


def test_corrupt_sha256_is_one_shot(rpa, sim):
    """corrupt_sha256 falsifies the first invoice of the next download job only."""
    sim.set_config(corrupt_sha256=True)
    bad = rpa.wait(rpa.start())
    good = rpa.wait(rpa.start())
    for job, expect_first_ok in ((bad, False), (good, True)):
        for index, fatura in enumerate(job["result"]["faturas"]):
            pdf = rpa.call("GET", f"/jobs/{job['job_id']}/faturas/{fatura['arquivo']}").content
            matches = hashlib.sha256(pdf).hexdigest() == fatura["sha256"]
            assert matches == (expect_first_ok or index > 0)


@pytest.mark.parametrize("kind", ["download", "sat"])
def test_failure_rate_one_fails_every_job(rpa, contract, sim, kind):
    """failure_rate=1: FAILED with error, no result, last line ERROR with 'falhou'."""
    sim.set_config(failure_rate=1)
    if kind == "download":
        job_id = rpa.start()
    else:
        response = rpa.call("POST", "/sat/enviar", json=rpa.sat_body())
        job_id = contract.check(response, "/sat/enviar", "post", 202)["job_id"]
    job = rpa.wait(job_id)
    assert job["status"] == "FAILED" and job["error"] and job["result"] is None
    last = rpa.logs(job_id)["logs"][-1]
    assert last["level"] == "ERROR" and "falhou" in last["message"]


def test_latency_knob_delays_requests(rpa, sim):
    """latency adds a delay to every contract request."""
    sim.set_config(latency=0.25)
    started = time.monotonic()
    rpa.call("GET", "/health", token=None)
    assert time.monotonic() - started >= 0.25


def test_reset_forgets_jobs_and_knobs(rpa, sim):
    """reset drops jobs, stats and runtime knob changes."""
    job_id = rpa.start()
    sim.set_config(failure_rate=1)
    sim.reset()
    assert rpa.call("GET", f"/jobs/{job_id}").status_code == 404
    assert sim.state.config.failure_rate == 0
    assert sim.stats()["jobs_created"] == {"download": 0, "sat": 0}


def test_control_api_over_http(rpa, sim):
    """POST /_sim/config, /_sim/fault, GET /_sim/stats, POST /_sim/reset."""
    post = lambda path, body: requests.post(sim.url + path, json=body, timeout=5)  # noqa: E731
    assert post("/_sim/config", {"failure_rate": 1, "job_duration": 0}).json()["failure_rate"] == 1
    assert post("/_sim/config", {"failure_rate": 2}).status_code == 422
    assert post("/_sim/config", {"nao_existe": 1}).status_code == 422
    assert post("/_sim/fault", {"mode": "429", "count": 1, "retry_after": 4}).status_code == 200
    assert post("/_sim/fault", {"mode": "teapot"}).status_code == 422
    response = rpa.call("GET", "/jobs/x")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "4")
    stats = requests.get(sim.url + "/_sim/stats", timeout=5).json()
    assert stats["requests"]["GET /jobs/{job_id}"] == 1 and "GET /_sim/stats" not in stats["requests"]
    expired = post("/_sim/token", {"ttl_seconds": -5}).json()["access_token"]
    assert rpa.call("GET", "/jobs/x", token=expired).status_code == 401
    assert post("/_sim/reset", {}).json() == {"status": "ok"}
    assert requests.get(sim.url + "/_sim/config", timeout=5).json()["failure_rate"] == 0


def test_control_api_disabled_by_default():
    """Without control=True the /_sim routes do not exist."""
    with serve_in_thread(job_duration=0, queue_wait=0) as server:
        response = requests.get(server.url + "/_sim/stats", timeout=5)
        assert response.status_code == 404 and "detail" in response.json()
        assert requests.get(server.url + "/health", timeout=5).status_code == 200
