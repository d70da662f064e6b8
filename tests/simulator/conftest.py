"""Fixtures for the RPA API simulator tests: a live simulator and contract checks."""
from __future__ import annotations

import re
import time
from datetime import date, datetime
from pathlib import Path

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator, FormatChecker

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "rpa-api" / "openapi.yaml"
TERMINAL = {"COMPLETED", "FAILED"}


def inline_refs(node, root):
    """Return `node` with every local $ref replaced by its target (the spec has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return inline_refs(target, root)
        return {key: inline_refs(value, root) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(item, root) for item in node]
    return node


def format_checker() -> FormatChecker:
    """Checker for the formats the contract uses (date, date-time), no extra deps."""
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value) -> bool:
        """RFC 3339 date-time with an explicit offset or Z."""
        if not isinstance(value, str):
            return True
        return "T" in value and datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("date", raises=ValueError)
    def _date(value) -> bool:
        """Full calendar date YYYY-MM-DD."""
        if not isinstance(value, str):
            return True
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(date.fromisoformat(value))

    return checker


class Contract:
    """The OpenAPI document with $refs inlined, and validators built from it."""

    def __init__(self, path: Path) -> None:
        """Load and resolve the YAML."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.spec = inline_refs(raw, raw)
        self.checker = format_checker()

    def validator(self, schema: dict) -> Draft202012Validator:
        """Draft 2020-12 validator with format checking."""
        return Draft202012Validator(schema, format_checker=self.checker)

    def request_schema(self, path: str, method: str) -> dict:
        """JSON schema of an operation's request body."""
        body = self.spec["paths"][path][method]["requestBody"]
        return body["content"]["application/json"]["schema"]

    def check(self, response: requests.Response, path: str, method: str, status: int):
        """Assert the status is `status`, documented for the operation, and the body matches."""
        assert response.status_code == status, (response.status_code, response.text)
        declared = self.spec["paths"][path][method]["responses"]
        assert str(status) in declared, f"{status} not in the contract for {method} {path}"
        spec = declared[str(status)]
        for header, meta in spec.get("headers", {}).items():
            assert header in response.headers, f"missing {header}"
            if meta["schema"].get("type") == "integer":
                assert response.headers[header].isdigit()
        content = spec.get("content", {})
        if "application/json" in content:
            assert response.headers["Content-Type"].startswith("application/json")
            body = response.json()
            self.validator(content["application/json"]["schema"]).validate(body)
            return body
        media = next(iter(content), None)
        if media:
            assert response.headers["Content-Type"].startswith(media)
        return response.content

    def check_error(self, response: requests.Response, status: int) -> str:
        """Assert an error status whose body is the contract's Error schema."""
        assert response.status_code == status, (response.status_code, response.text)
        self.validator(self.spec["components"]["schemas"]["Error"]).validate(response.json())
        return response.json()["detail"]


def cliente(nome: str = "<script>alert(1)</script>", cnpj: str = "12ABC34501DE35") -> dict:
    """A valid Cliente body."""
    return {"id": "cli-1", "nome": nome, "cnpj": cnpj, "codigo": None}


def download_body(**overrides) -> dict:
    """A valid POST /executar body."""
    return {"processo_id": "proc-1", "competencia": "2026-03", "cliente": cliente(), **overrides}


def sat_body(**overrides) -> dict:
    """A valid POST /sat/enviar body."""
    fatura = {"numero": "123", "valor": "123.45", "emissao": "2026-03-01",
              "vencimento": "2026-03-20", "arquivo": "vivo_1.pdf", "sha256": None, "tamanho": 800}
    return {**download_body(), "faturas": [fatura], **overrides}


class Rpa:
    """Tiny HTTP client for the simulator with a valid bearer token by default."""

    download_body = staticmethod(download_body)
    sat_body = staticmethod(sat_body)

    def __init__(self, server, contract: Contract) -> None:
        """Bind to a running simulator."""
        self.server, self.contract = server, contract
        self.token = server.issue_token()
        self.http = requests.Session()

    def call(self, method: str, path: str, token: str | None = "default", **kwargs) -> requests.Response:
        """Send a request; token=None sends no Authorization header."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        kwargs.setdefault("timeout", 5)
        return self.http.request(method, self.server.url + path, headers=headers, **kwargs)

    def start(self, operadora: str = "VIVO", body: dict | None = None, **kwargs) -> str:
        """POST /executar/{operadora}, check the 202, return the job id."""
        response = self.call("POST", f"/executar/{operadora}", json=body or download_body(), **kwargs)
        return self.contract.check(response, "/executar/{operadora}", "post", 202)["job_id"]

    def job(self, job_id: str) -> dict:
        """GET /jobs/{id}, checked against the contract."""
        return self.contract.check(self.call("GET", f"/jobs/{job_id}"), "/jobs/{job_id}", "get", 200)

    def logs(self, job_id: str, after: int = 0) -> dict:
        """GET /jobs/{id}/logs?after=N, checked against the contract."""
        response = self.call("GET", f"/jobs/{job_id}/logs", params={"after": after})
        return self.contract.check(response, "/jobs/{job_id}/logs", "get", 200)

    def wait(self, job_id: str, timeout: float = 5.0) -> dict:
        """Poll until the job is COMPLETED or FAILED."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            time.sleep(0.01)
        raise AssertionError(f"job {job_id} did not finish in {timeout}s")


FAST = {"job_duration": 0, "queue_wait": 0, "log_lines": 6, "sse_ping": 0.3, "hang_seconds": 2}


@pytest.fixture(autouse=True)
def _clean_state():
    """Override the dashboard's DB/Redis cleanup: the simulator needs neither."""
    yield


@pytest.fixture(scope="session")
def contract() -> Contract:
    """The contract loaded from shared/rpa-api/openapi.yaml."""
    assert SPEC_PATH.exists(), f"contract not found at {SPEC_PATH}"
    return Contract(SPEC_PATH)


@pytest.fixture(scope="module")
def sim_knobs():
    """Each module's simulator (tests/support/sim.py): control API on, fast knobs; `sim` resets it per test."""
    return {"control": True, "seed": 7, "password": "segredo", **FAST}


@pytest.fixture
def rpa(sim, contract) -> Rpa:
    """Client bound to the reset simulator."""
    client = Rpa(sim, contract)
    yield client
    client.http.close()
