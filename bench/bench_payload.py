"""Bench the worker's peak memory for one run with the largest payload a run may bring.

Run: `.venv/bin/python bench/bench_payload.py [--faturas N] [--mb M]` (defaults: EXECUCAO_MAX_FATURAS
invoices of MAX_UPLOAD_MB each, the limits a run accepts). A local RPA server serves the invoices from
disk; this process runs the worker's own jobs (start, then polls until the run ends) against it and
prints its peak resident memory beside the payload's size: the ratio is what the run costs in memory
per byte it downloads (the invoices are streamed to disk while hashed, so it stays far below 1).
"""
import argparse
import hashlib
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from apps import create_app  # noqa: E402
from apps.core.types import db  # noqa: E402
from apps.processos import services  # noqa: E402
from apps.processos.models import Execucao, StatusExecucao  # noqa: E402
from apps.rpa import follow, jobs  # noqa: E402
from simulator.pdf import build_pdf  # noqa: E402
from tests.integration.conftest import make_processo  # noqa: E402
from tests.support.hostile import HostileServer, Script, fatura_meta  # noqa: E402
from tests.support.servers import redis_server  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def invoice_file(folder: Path, size: int) -> Path:
    """A PDF of `size` bytes: a real one padded with a comment before its %%EOF."""
    pdf = build_pdf(["Fatura de bench"])
    body = pdf[:-6] + b"%" + b"0" * max(0, size - len(pdf) - 8) + b"\n%%EOF\n"
    path = folder / "fatura.pdf"
    path.write_bytes(body)
    return path


class Payload(Script):
    def __init__(self, path: Path, count: int):
        self.path, self.count = path, count
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.size = path.stat().st_size

    def job(self, h):
        metas = [fatura_meta(numero=str(n), arquivo=f"f{n}.pdf", sha256=self.digest, tamanho=self.size)
                 for n in range(self.count)]
        h.json(200, {"job_id": "hostil-1", "status": "COMPLETED", "result": {"faturas": metas}})

    def fatura(self, h, arquivo):
        h.send_response(200)
        h.send_header("Content-Type", "application/pdf")
        h.send_header("Content-Length", str(self.size))
        h.end_headers()
        with open(self.path, "rb") as source:
            shutil.copyfileobj(source, h.wfile, 256 * 1024)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--faturas", type=int, default=None)
    parser.add_argument("--mb", type=int, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-payload-"))
    server = HostileServer()
    with redis_server() as (redis_url, _):
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{work}/b.db", "REDIS_URL": redis_url,
                          "FATURAS_DIR": work / "faturas", "INSTANCE_DIR": work / "instance",
                          "API_EXTERNA_URL": server.url, "RPA_CALL_DEADLINE": 120})
        with app.app_context():
            upgrade()
            count = args.faturas or app.config["EXECUCAO_MAX_FATURAS"]
            size = (args.mb * 1024 * 1024) if args.mb else app.config["MAX_CONTENT_LENGTH"]
            server.script = Payload(invoice_file(work, size), count)
            processo = make_processo()
            execucao = services.executar(processo)
            before = rss_mb()
            started = time.perf_counter()
            jobs.start_execucao(str(execucao.id))
            while True:
                redis.Redis.from_url(redis_url).delete(follow.lease_key(execucao.id))
                jobs.poll_execucao(str(execucao.id))
                row = db.session.get(Execucao, execucao.id, populate_existing=True)
                if row.status not in StatusExecucao.ACTIVE:
                    break
            elapsed = time.perf_counter() - started
            payload_mb = count * size / 2**20
            print(f"run {row.status}: {row.mensagem}")
            print(f"payload {count} invoice(s) x {size / 2**20:.0f} MB = {payload_mb:.0f} MB in {elapsed:.1f} s "
                  f"({payload_mb / elapsed:.0f} MB/s)")
            print(f"peak RSS {rss_mb():.0f} MB (before the run {before:.0f} MB): "
                  f"growth / payload ratio {(rss_mb() - before) / payload_mb:.3f}")
    server.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
