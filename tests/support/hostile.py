"""A hostile RPA server for tests: it speaks HTTP on localhost and answers whatever a test scripts.

Routes of the contract are answered by the `Script` the test sets: each handler method receives the
request handler and writes the raw answer, so a test can send HTML where JSON is due, a 30 MB line,
a body that trickles one byte at a time, a Retry-After of a billion seconds. Unscripted routes
answer like a well-behaved server (one job that completes with one valid invoice).
"""
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from simulator.pdf import build_pdf

PDF = build_pdf(["Fatura 123 - VIVO", "Valor: R$ 10,00"])
JOB_ID = "hostil-1"


def line(seq, message="trabalhando", level="INFO", **extra):
    return {"seq": seq, "type": "log", "level": level, "message": message, "job_id": JOB_ID,
            "timestamp": "2026-12-01T10:00:00Z", **extra}


def final_line(seq, ok=True):
    return line(seq, f"Job {JOB_ID} concluído" if ok else f"Job {JOB_ID} falhou", "WARNING" if ok else "ERROR")


def fatura_meta(**changes):
    return {"numero": "123", "valor": "10.00", "vencimento": "2026-12-20", "emissao": "2026-12-01",
            "arquivo": "f1.pdf", "sha256": hashlib.sha256(PDF).hexdigest(), "tamanho": len(PDF), **changes}


class Script:
    """What the server answers; override the methods a test needs (each gets the request handler)."""

    def start(self, h):
        h.json(202, {"job_id": JOB_ID, "status": "PENDING"})

    def job(self, h):
        h.json(200, {"job_id": JOB_ID, "tipo": "download", "status": "COMPLETED", "created_at": "2026-12-01T10:00:00Z",
                     "error": None, "result": {"faturas": [fatura_meta()]}})

    def logs(self, h, after):
        lines = [line(1), final_line(2)]
        h.json(200, {"logs": [x for x in lines if x["seq"] > after], "next": 2})

    def fatura(self, h, arquivo):
        h.raw(200, PDF, "application/pdf")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def json(self, status, body, headers=None):
        self.raw(status, json.dumps(body).encode(), "application/json", headers)

    def raw(self, status, body: bytes, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def trickle(self, body: bytes, every: float, headers_too=False):
        """Send `body` one byte every `every` seconds (optionally the status line and headers too)."""
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        try:
            if not headers_too:
                self.wfile.write(head)
                self.wfile.flush()
                head = b""
            for byte in head + body:
                if self.server.stopping.is_set():
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            return  # the client hung up (its deadline): what a trickling server gets
        self.close_connection = True

    def _route(self):
        server, path = self.server, self.path.split("?", 1)[0]
        server.requests.append((self.command, path))
        server.authorizations.append(self.headers.get("Authorization"))
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        script = server.script
        if self.command == "GET" and path == "/health":
            return self.json(200, {"status": "ok"})
        if self.command == "POST" and (path.startswith("/executar/") or path == "/sat/enviar"):
            return script.start(self)
        match = re.fullmatch(r"/jobs/([^/]+)(/logs|/faturas/([^/]+))?", path)
        if self.command == "GET" and match:
            if match.group(2) == "/logs":
                after = re.search(r"after=(\d+)", self.path)
                return script.logs(self, int(after.group(1)) if after else 0)
            if match.group(3):
                return script.fatura(self, match.group(3))
            return script.job(self)
        self.json(404, {"detail": "Not found"})

    do_GET = do_POST = _route


class HostileServer:
    """The server in a thread; `.url`, `.script` (set it), `.requests` (what it was asked)."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.script, self.httpd.requests, self.httpd.stopping = Script(), [], threading.Event()
        self.httpd.authorizations = []
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def script(self):
        return self.httpd.script

    @script.setter
    def script(self, value):
        self.httpd.script = value

    @property
    def requests(self):
        return self.httpd.requests

    @property
    def authorizations(self):
        return self.httpd.authorizations

    def close(self):
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
