"""A server whose status runs ahead of its logs: a viewer connected from the start receives every line
1..N, in order, and only then the end event; the stored log and log.txt end with the robot's final line."""
import threading

import pytest

from apps.processos import services
from tests.integration.conftest import wait_for
from tests.integration.helpers import finished, processo_of, stored_logs
from tests.test_sse_stream import SSEReader

pytestmark = pytest.mark.timeout(60)


def test_a_viewer_from_the_start_gets_every_line_then_the_end(cycle, sim, processo, users, login, client):
    sim.set_config(logs_lag=1.0, log_lines=8)
    login(users["VISUALIZADOR"])
    execucao = services.executar(processo_of(processo.id))
    response = client.get(f"/api/v2/logs-tempo-real/stream/{execucao.id}", buffered=False)
    reader = SSEReader(response)
    assert reader.next()["event"] == "connection"  # subscribed before the robot starts

    frames, reading = [], threading.Thread(target=lambda: frames.extend(
        reader.until(lambda f: f.get("event") in {"job_completed", "job_failed"})), daemon=True)
    reading.start()
    cycle.start_workers(1)
    reading.join(40)
    response.close()

    done = wait_for(lambda: finished(execucao.id), 10, message="execução terminar")
    stored = stored_logs(done.id)
    ids = [int(f["id"]) for f in frames if f.get("event") == "log"]
    assert ids == list(range(1, len(stored) + 1)) and len(stored) >= 9
    assert frames[-1]["event"] == "job_completed" and frames[-1]["data"]["status"] == "CONCLUIDO"
    last = [f for f in frames if f.get("event") == "log"][-1]["data"]
    assert last["level"] == "WARNING" and "concluído" in last["message"]
    assert "concluído" in stored[-1][2] and "não chegou" not in done.mensagem
    text = client.get(f"/execucoes/{done.id}/log.txt").get_data(as_text=True)
    assert "concluído" in text.rstrip().splitlines()[-1]
