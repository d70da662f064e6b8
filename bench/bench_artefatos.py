"""Bench artefato downloads through the app, on the local backend and on S3, against a plain file read.

Run: `.venv/bin/python bench/bench_artefatos.py [--mb 50] [--rounds 5]`. One artefato of `--mb` MB is
stored in each backend (a local directory; a real S3-speaking server on localhost, moto's
ThreadedMotoServer); two gunicorn processes (one sync worker each, like a deployment's web) serve it,
one per backend, and this process downloads it over HTTP `--rounds` times from each, streaming. In the
same run it reads the same bytes from the file itself and straight from the S3 server (boto3), so the
ratios compare like with like on this machine at this moment:
  - app (local) / plain file read: the cost of the app's HTTP path over reading the file;
  - app (S3) / direct S3 read: what the app adds on top of S3 itself;
and the web worker's peak memory growth against the file size (streaming: far below 1).
"""
import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from apps import create_app  # noqa: E402
from apps.artefatos import storage  # noqa: E402
from apps.artefatos.models import Artefato, Kind  # noqa: E402
from apps.auth.models import Role  # noqa: E402
from apps.auth.services import create_user  # noqa: E402
from apps.core.types import db, utcnow  # noqa: E402
from tests.support.s3 import client as s3_client  # noqa: E402
from tests.support.s3 import new_bucket, s3_server  # noqa: E402
from tests.support.servers import free_port, redis_server  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
PASSWORD = "Senha-de-Medida-9-longa"
CHUNK = 256 * 1024


def big_file(path: Path, size: int) -> str:
    digest, left = hashlib.sha256(), size
    with open(path, "wb") as out:
        block = os.urandom(1024 * 1024)
        while left > 0:
            piece = block[:min(left, len(block))]
            out.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Web:
    """gunicorn, one sync worker, on a free port with the given settings."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen([str(GUNICORN), "-w", "1", "-b", f"127.0.0.1:{self.port}", "apps:create_app()"],
                                     cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not start:\n" + log.read_text(errors="replace"))
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        self.worker_pid = int(children[0])

    def token(self, username):
        answer = requests.post(self.url + "/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                               timeout=10)
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access']}"}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)
        self._log.close()


def timed(fn, rounds: int, size: int) -> float:
    """Best throughput (MB/s) of `rounds` calls of fn, each checked to return `size` bytes."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        got = fn()
        elapsed = time.perf_counter() - started
        assert got == size, (got, size)
        best = max(best, size / 2**20 / elapsed)
    return best


def http_download(url, headers):
    def run():
        total = 0
        with requests.get(url, headers=headers, stream=True, timeout=120) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_content(CHUNK):
                total += len(chunk)
        return total
    return run


def file_read(path):
    def run():
        total = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                total += len(chunk)
        return total
    return run


def s3_read(url, bucket, key):
    client = s3_client(url)

    def run():
        total = 0
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(CHUNK):
            total += len(chunk)
        return total
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = args.mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="bench-artefatos-"))
    webs = []
    try:
        with redis_server() as (redis_url, _), s3_server() as s3_url:
            s3 = new_bucket(s3_url)
            database = f"sqlite:///{work}/b.db"
            base = {"SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis_url, "FATURAS_DIR": work / "faturas",
                    "INSTANCE_DIR": work / "instance"}
            app = create_app({**base, **s3})
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines
            with app.app_context():
                upgrade()
                create_user("bench", "bench@example.com", PASSWORD, role=Role.ADMIN)  # a processo-less file: admins
                source = work / "fonte.bin"
                digest = big_file(source, size)
                ids, tiny = {}, {}
                for name in ("local", "s3"):
                    key = storage.new_key("execucoes/bench", "txt")
                    storage.backend(name).put_bytes(key, b"aquecimento\n", content_type="text/plain; charset=utf-8")
                    warm = Artefato(kind=Kind.ARQUIVO, name="aquecimento.txt", content_type="text/plain; charset=utf-8",
                                    size=12, sha256=hashlib.sha256(b"aquecimento\n").hexdigest(), storage_key=key,
                                    created_at=utcnow(), expira_em=utcnow(), processo_id=None)
                    db.session.add(warm)
                    db.session.flush()
                    tiny[name] = warm.id
                    key = storage.new_key("execucoes/bench", "bin")
                    storage.backend(name).put_file(key, source, content_type="application/octet-stream", move=False)
                    artefato = Artefato(kind=Kind.ARQUIVO, name="bench.bin", content_type="application/octet-stream",
                                        size=size, sha256=digest, storage_key=key, created_at=utcnow(),
                                        expira_em=utcnow(), processo_id=None)
                    db.session.add(artefato)
                    db.session.flush()
                    ids[name] = (artefato.id, key)
                db.session.commit()
                local_path = storage.backend("local").path(ids["local"][1])
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_", "ARTEFATOS_"))}
            env.update({"APP_ENV": "testing", "DATABASE_URL": database, "REDIS_URL": redis_url,
                        "FATURAS_DIR": str(work / "faturas"), "INSTANCE_DIR": str(work / "instance"),
                        "RATELIMIT_ENABLED": "false", "JSON_LOGS": "false", "LOG_LEVEL": "WARNING"})
            local_web = Web({**env, "ARTEFATOS_STORAGE": "local"}, work / "web-local.log")
            webs.append(local_web)
            s3_web = Web({**env, **{k: str(v) for k, v in s3.items()}}, work / "web-s3.log")
            webs.append(s3_web)
            # A first small download per worker: imports and client setup (boto3 loads its S3 model) are not
            # what a download costs, so the memory growth is measured from after it.
            for name, web in (("local", local_web), ("s3", s3_web)):
                timed(http_download(f"{web.url}/api/v1/artefatos/{tiny[name]}/download", web.token("bench")), 1, 12)
            before = {w: vm_rss_mb(w.worker_pid) for w in webs}
            plain = timed(file_read(local_path), args.rounds, size)
            direct_s3 = timed(s3_read(s3_url, s3["ARTEFATOS_S3_BUCKET"], ids["s3"][1]), args.rounds, size)
            app_local = timed(http_download(f"{local_web.url}/api/v1/artefatos/{ids['local'][0]}/download",
                                            local_web.token("bench")), args.rounds, size)
            app_s3 = timed(http_download(f"{s3_web.url}/api/v1/artefatos/{ids['s3'][0]}/download",
                                         s3_web.token("bench")), args.rounds, size)
            print(f"artefato of {args.mb} MB, best of {args.rounds} rounds, streamed in {CHUNK // 1024} KB chunks")
            print(f"plain file read        {plain:8.0f} MB/s")
            print(f"direct S3 read (boto3) {direct_s3:8.0f} MB/s")
            print(f"app, local backend     {app_local:8.0f} MB/s   ratio to plain file read {app_local / plain:.3f}")
            print(f"app, S3 backend        {app_s3:8.0f} MB/s   ratio to plain file read {app_s3 / plain:.3f}; "
                  f"to direct S3 read {app_s3 / direct_s3:.3f}")
            for label, web in (("local", local_web), ("S3", s3_web)):
                growth = vm_hwm_mb(web.worker_pid) - before[web]
                print(f"web worker ({label}): peak RSS {vm_hwm_mb(web.worker_pid):.0f} MB, growth over the downloads "
                      f"(after a first small one) {growth:.0f} MB = {growth / args.mb:.3f} of the file size")
    finally:
        for web in webs:
            web.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
