"""Every simulator answer checked against shared/rpa-api/openapi.yaml."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

INVALID = "Token inválido ou expirado"


def test_health_needs_no_token(rpa, contract):
    """GET /health answers 200 {"status": "ok"} without a bearer."""
    body = contract.check(rpa.call("GET", "/health", token=None), "/health", "get", 200)
    assert body["status"] == "ok"


def test_refresh_issues_a_year_long_jwt(rpa, contract, sim):
    """The right password gets a bearer JWT with exp/iat/sub valid ~365 days."""
    response = rpa.call("POST", "/auth/refresh", token=None, json={"password": "segredo"})
    body = contract.check(response, "/auth/refresh", "post", 200)
    assert body["token_type"] == "bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub"} <= set(claims)
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(days=365)) < timedelta(minutes=1)
    assert claims["exp"] == int(expires.timestamp())
    assert rpa.call("GET", "/jobs/x", token=body["access_token"]).status_code == 404
    assert sim.stats()["refreshes"] == 1


def test_refresh_wrong_password_is_401(rpa, contract):
    """A wrong password is 401 with an Error body; a malformed body is 422."""
    response = rpa.call("POST", "/auth/refresh", token=None, json={"password": "errada"})
    contract.check(response, "/auth/refresh", "post", 401)
    contract.check_error(rpa.call("POST", "/auth/refresh", token=None, json=["x"]), 422)


@pytest.mark.parametrize("path,method", [
    ("/executar/VIVO", "POST"), ("/sat/enviar", "POST"), ("/jobs/abc", "GET"),
    ("/jobs/abc/logs", "GET"), ("/jobs/abc/faturas/a.pdf", "GET"), ("/events/logs", "GET"),
])
@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "foreign"])
def test_bad_tokens_are_401(rpa, contract, sim, path, method, kind):
    """Missing, invalid, expired or foreign-signed tokens get the contract's 401."""
    tokens = {"missing": None, "garbage": "not-a-jwt", "expired": sim.issue_token(-60),
              "foreign": jwt.encode({"sub": "x", "iat": 1, "exp": 2**33}, "k" * 32, "HS256")}
    response = rpa.call(method, path, token=tokens[kind], json=rpa.download_body())
    assert contract.check_error(response, 401) == INVALID


def test_static_token_is_accepted(rpa, sim):
    """SIM_TOKEN (static_token knob) works as a bearer."""
    assert rpa.call("GET", "/jobs/x", token="fixo").status_code == 401
    sim.set_config(static_token="fixo")
    assert rpa.call("GET", "/jobs/x", token="fixo").status_code == 404


def test_download_job_lifecycle_matches_contract(rpa, contract):
    """202 on start, Job schema while running and when COMPLETED, PDFs downloadable."""
    job_id = rpa.start("vivo")
    job = rpa.wait(job_id)
    assert job["status"] == "COMPLETED" and job["tipo"] == "download"
    assert job["operadora"] == "VIVO" and job["error"] is None
    assert 1 <= len(job["result"]["faturas"]) <= 3
    for fatura in job["result"]["faturas"]:
        response = rpa.call("GET", f"/jobs/{job_id}/faturas/{fatura['arquivo']}")
        pdf = contract.check(response, "/jobs/{job_id}/faturas/{arquivo}", "get", 200)
        assert pdf.startswith(b"%PDF-1.4") and len(pdf) == fatura["tamanho"]


def test_operator_codes_are_case_insensitive_and_configurable(rpa, contract, sim):
    """Known codes in any case get 202; unknown ones 404; the list is a knob."""
    for code in ("VIVO", "embratel", "Oi", "digitalnet", "claro", "TIM"):
        rpa.start(code)
    response = rpa.call("POST", "/executar/NOVA", json=rpa.download_body())
    contract.check(response, "/executar/{operadora}", "post", 404)
    sim.set_config(operadoras="vivo, nova")
    rpa.start("nova")
    contract.check(rpa.call("POST", "/executar/TIM", json=rpa.download_body()),
                   "/executar/{operadora}", "post", 404)


def test_unknown_job_and_file_are_404(rpa, contract):
    """Unknown job ids and file names answer 404 with an Error body."""
    contract.check(rpa.call("GET", "/jobs/nope"), "/jobs/{job_id}", "get", 404)
    contract.check(rpa.call("GET", "/jobs/nope/logs"), "/jobs/{job_id}/logs", "get", 404)
    path = "/jobs/{job_id}/faturas/{arquivo}"
    contract.check(rpa.call("GET", "/jobs/nope/faturas/a.pdf"), path, "get", 404)
    job_id = rpa.start()
    rpa.wait(job_id)
    contract.check(rpa.call("GET", f"/jobs/{job_id}/faturas/outra.pdf"), path, "get", 404)


def _bad_download_bodies(rpa):
    """(name, body) pairs that break the /executar request schema."""
    good = rpa.download_body()
    cli = good["cliente"]
    return [
        ("competencia mês 13", {**good, "competencia": "2026-13"}),
        ("competencia sem hífen", {**good, "competencia": "202603"}),
        ("cnpj com pontuação", {**good, "cliente": {**cli, "cnpj": "12.345.678/0001-95"}}),
        ("cnpj minúsculo", {**good, "cliente": {**cli, "cnpj": "12abc34501de35"}}),
        ("cnpj 13 caracteres", {**good, "cliente": {**cli, "cnpj": "1234567800019"}}),
        ("cnpj com letra no fim", {**good, "cliente": {**cli, "cnpj": "123456780001AB"}}),
        ("sem cliente", {k: v for k, v in good.items() if k != "cliente"}),
        ("sem processo_id", {k: v for k, v in good.items() if k != "processo_id"}),
        ("nome numérico", {**good, "cliente": {**cli, "nome": 5}}),
        ("codigo numérico", {**good, "cliente": {**cli, "codigo": 5}}),
        ("cliente lista", {**good, "cliente": []}),
        ("corpo lista", [good]),
    ]


def _bad_sat_bodies(rpa):
    """(name, body) pairs that break the /sat/enviar request schema."""
    good = rpa.sat_body()
    fat = good["faturas"][0]
    return [
        ("faturas vazia", {**good, "faturas": []}),
        ("sem faturas", {k: v for k, v in good.items() if k != "faturas"}),
        ("valor com vírgula", {**good, "faturas": [{**fat, "valor": "12,50"}]}),
        ("valor sem centavos", {**good, "faturas": [{**fat, "valor": "12"}]}),
        ("sem vencimento", {**good, "faturas": [{k: v for k, v in fat.items() if k != "vencimento"}]}),
        ("sha256 maiúsculo", {**good, "faturas": [{**fat, "sha256": "A" * 64}]}),
        ("tamanho texto", {**good, "faturas": [{**fat, "tamanho": "800"}]}),
        ("cnpj inválido", {**good, "cliente": {**good["cliente"], "cnpj": "123"}}),
    ]


def test_malformed_bodies_are_422(rpa, contract):
    """Bodies the schema rejects get 422; the valid ones get 202."""
    cases = [("/executar/{operadora}", "/executar/VIVO", b) for b in _bad_download_bodies(rpa)]
    cases += [("/sat/enviar", "/sat/enviar", b) for b in _bad_sat_bodies(rpa)]
    for template, url, (name, body) in cases:
        schema = contract.validator(contract.request_schema(template, "post"))
        assert not schema.is_valid(body), f"{name}: the contract accepts it"
        contract.check(rpa.call("POST", url, json=body), template, "post", 422)
    for template, url, body in [("/executar/{operadora}", "/executar/VIVO", rpa.download_body()),
                                ("/sat/enviar", "/sat/enviar", rpa.sat_body())]:
        assert contract.validator(contract.request_schema(template, "post")).is_valid(body)
        contract.check(rpa.call("POST", url, json=body), template, "post", 202)


def test_pattern_anchors_follow_ecma_semantics(rpa, contract):
    """'$' does not match before a trailing newline (ECMA 262), unlike Python's re."""
    body = rpa.download_body(cliente={**rpa.download_body()["cliente"], "cnpj": "12345678000195\n"})
    response = rpa.call("POST", "/executar/VIVO", json=body)
    contract.check(response, "/executar/{operadora}", "post", 422)


def test_non_json_body_and_long_key_are_422(rpa, contract):
    """A non-JSON body, an over-long Idempotency-Key and a bad ?after are 422."""
    response = rpa.call("POST", "/executar/VIVO", data="x", headers={"Content-Type": "text/plain"})
    contract.check(response, "/executar/{operadora}", "post", 422)
    response = rpa.call("POST", "/sat/enviar", json=rpa.sat_body(),
                        headers={"Idempotency-Key": "k" * 201})
    contract.check(response, "/sat/enviar", "post", 422)
    contract.check_error(rpa.call("GET", "/jobs/x/logs", params={"after": "-1"}), 422)


def test_sat_job_completes_with_protocol(rpa, contract):
    """A completed SAT job carries result.protocolo."""
    response = rpa.call("POST", "/sat/enviar", json=rpa.sat_body())
    job_id = contract.check(response, "/sat/enviar", "post", 202)["job_id"]
    job = rpa.wait(job_id)
    assert job["tipo"] == "sat" and job["status"] == "COMPLETED"
    assert re.fullmatch(r"SAT-\d{4}-\d{6}", job["result"]["protocolo"])


def test_saturation_is_429_with_retry_after(rpa, contract, sim):
    """With max_active reached, new jobs get 429 + Retry-After; finished jobs free slots."""
    sim.set_config(max_active=1, job_duration=0.4, retry_after=3)
    first = rpa.start()
    response = rpa.call("POST", "/executar/OI", json=rpa.download_body())
    contract.check(response, "/executar/{operadora}", "post", 429)
    assert response.headers["Retry-After"] == "3"
    response = rpa.call("POST", "/sat/enviar", json=rpa.sat_body())
    contract.check(response, "/sat/enviar", "post", 429)
    rpa.wait(first)
    rpa.start("OI")


def test_log_lines_match_contract(rpa, contract):
    """seq 1..n, LogLine schema, cliente name verbatim, last line WARNING 'concluído'."""
    job_id = rpa.start(body=rpa.download_body())
    rpa.wait(job_id)
    page = rpa.logs(job_id)
    lines = page["logs"]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert page["next"] == len(lines) and page["job_id"] == job_id
    assert any("<script>alert(1)</script>" in line["message"] for line in lines)
    assert {line["level"] for line in lines} <= {"DEBUG", "INFO", "WARNING"}
    assert lines[-1]["level"] == "WARNING" and "concluído" in lines[-1]["message"]
    assert all(line["timestamp"].endswith(("Z", "+00:00")) for line in lines)
    assert all(line["job_id"] == job_id and line["type"] == "log" for line in lines)
    tail = rpa.logs(job_id, after=3)
    assert [line["seq"] for line in tail["logs"]] == list(range(4, len(lines) + 1))
    empty = rpa.logs(job_id, after=len(lines) + 10)
    assert empty["logs"] == [] and empty["next"] == len(lines) + 10


def test_job_goes_pending_running_completed(rpa, sim):
    """With a queue wait and a duration the job is seen in each state, in order."""
    sim.set_config(queue_wait=0.25, job_duration=0.35)
    started = time.monotonic()
    job_id = rpa.start()
    seen = []
    while not seen or seen[-1] not in {"COMPLETED", "FAILED"}:
        status = rpa.job(job_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.02)
    assert seen == ["PENDING", "RUNNING", "COMPLETED"]
    assert time.monotonic() - started >= 0.6
    job = rpa.job(job_id)
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
