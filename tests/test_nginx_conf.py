"""deploy/nginx.conf under Debian's nginx, rendered as the cluster lane renders it: the access log holds no URL secret."""
import shutil
import subprocess
import time

import pytest
import requests

from tests.cluster.harness import render_nginx
from tests.support.servers import free_port

SECRET = "segredo-do-webhook-do-telegram-0123456789"


@pytest.fixture
def nginx(tmp_path):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which(binary):
        pytest.fail("nginx não encontrado: rode `make setup` (pacote Debian nginx).")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / kind).mkdir()
    port = free_port()
    conf = render_nginx(tmp_path, port, [f"127.0.0.1:{free_port()}"])  # nothing listens there: 502, still logged
    log = (tmp_path / "stdout.log").open("wb")
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp_path)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(url + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "error.log").read_text()
            time.sleep(0.05)
    yield url, tmp_path / "stdout.log"
    proc.terminate()
    proc.wait(10)
    log.close()


def test_url_secrets_never_reach_nginx_access_log(nginx):
    url, log = nginx
    requests.post(f"{url}/webhooks/telegram/{SECRET}", json={}, timeout=10)
    requests.get(f"{url}/login/oidc/callback?code=codigo-unico-987&state=estado-654", timeout=10)
    requests.get(f"{url}/processos", timeout=10)
    time.sleep(0.2)
    logged = log.read_text()
    assert '"POST /webhooks/telegram/*** HTTP/1.1" 502' in logged, logged
    assert '"GET /login/oidc/callback?*** HTTP/1.1"' in logged and '"GET /processos HTTP/1.1"' in logged
    assert SECRET not in logged and "codigo-unico-987" not in logged and "estado-654" not in logged
