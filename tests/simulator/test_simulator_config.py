"""Simulator knobs from env vars and CLI flags, and clean shutdown."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from simulator import serve_in_thread
from simulator.config import SimConfig, from_env, updated

REPO = Path(__file__).resolve().parents[2]


def test_env_vars_set_knobs():
    """SIM_* vars, BRM_TOKEN_PASSWORD and SIM_TOKEN map onto the config."""
    config = from_env({
        "SIM_JOB_DURATION": "0", "SIM_QUEUE_WAIT": "0.5", "SIM_FAILURE_RATE": "0.25",
        "SIM_LATENCY": "0.1", "SIM_LOG_LINES": "3", "SIM_OPERADORAS": "vivo,nova",
        "BRM_TOKEN_PASSWORD": "pw", "SIM_TOKEN": "fixo", "SIM_CONTROL": "1",
        "SIM_JWT_SECRET": "s" * 32, "SIM_CORRUPT_SHA256": "1",
    })
    assert (config.job_duration, config.queue_wait, config.failure_rate) == (0, 0.5, 0.25)
    assert (config.latency, config.log_lines, config.corrupt_sha256) == (0.1, 3, 1)
    assert config.operadoras == ("VIVO", "NOVA")
    assert (config.password, config.static_token, config.control) == ("pw", "fixo", True)
    assert config.jwt_secret == "s" * 32


@pytest.mark.parametrize("name,value", [
    ("failure_rate", 1.5), ("job_duration", -1), ("log_lines", "x"), ("nope", 1), ("operadoras", ""),
])
def test_bad_knob_values_are_rejected(name, value):
    """Out-of-range or unknown knobs raise ValueError."""
    with pytest.raises(ValueError):
        updated(SimConfig(), {name: value})


def test_static_fields_cannot_change_at_run_time():
    """jwt_secret/control/seed are start-up only."""
    with pytest.raises(ValueError):
        updated(SimConfig(), {"jwt_secret": "x"}, runtime=True)


def test_cli_prints_url_and_serves():
    """python -m simulator prints its URL and answers /health; flags are parsed."""
    command = [sys.executable, "-m", "simulator", "--port", "0", "--job-duration", "0",
               "--failure-rate", "0.5", "--control", "--quiet"]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        try:
            url = re.search(r"http://\S+", process.stdout.readline()).group(0)
            assert requests.get(url + "/health", timeout=5).json()["status"] == "ok"
            config = requests.get(url + "/_sim/config", timeout=5).json()
            assert (config["job_duration"], config["failure_rate"]) == (0, 0.5)
        finally:
            process.terminate()
            process.wait(timeout=5)
    assert process.returncode == 0


def test_shutdown_closes_streams_and_releases_hangs():
    """shutdown() is quick even with an open SSE stream and a hanging request."""
    server = serve_in_thread(hang_seconds=30)
    headers = {"Authorization": f"Bearer {server.issue_token()}"}
    stream = requests.get(server.url + "/events/logs", headers=headers, stream=True, timeout=5)
    lines = stream.iter_lines(chunk_size=1)
    assert next(lines).startswith(b"data: ")
    server.fault("hang", 1)
    answers = []
    caller = threading.Thread(target=lambda: answers.append(
        requests.get(server.url + "/jobs/x", headers=headers, timeout=10).status_code))
    caller.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.shutdown()
    caller.join(timeout=5)
    assert answers == [503]
    assert all(not line for line in lines)
    assert time.monotonic() - started < 2
