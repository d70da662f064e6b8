"""Real HTTP servers on localhost that speak the providers' APIs, for the notification tests.

- `FakeTelegram`: the Bot API's `POST /bot<token>/sendMessage`; a script of answers lets a test make
  it say 429 with `parameters.retry_after` (as Telegram does under load) or 500.
- `FakeTwilio`: `POST /2010-04-01/Accounts/<Sid>/Messages.json` with HTTP Basic (Sid, token),
  form-encoded To/From/Body; 429 with Retry-After or 5xx on demand.
- `WebhookReceiver`: accepts a POST only when its Standard Webhooks signature verifies (the
  `standardwebhooks` package), else answers 401.
- `smtp_server()`: aiosmtpd in a thread, keeping every message it receives.
Each records what it received, with the monotonic time it arrived.
"""
import base64
import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.servers import free_port


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 whose handler calls `self.handle(method, path, headers, body)`."""

    def __init__(self):
        self.received, self.script, self.lock = [], [], threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = owner.handle(self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer_next(self, *answers):
        """The next requests get these (status, headers, body) answers, in order, then the normal one."""
        with self.lock:
            self.script.extend(answers)

    def _scripted(self):
        with self.lock:
            return self.script.pop(0) if self.script else None

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeTelegram(_Server):
    def __init__(self, token="123456:TESTTOKEN"):
        self.token, self.next_id = token, 1000
        super().__init__()

    def handle(self, path, headers, body):
        if path != f"/bot{self.token}/sendMessage":
            return 404, {}, {"ok": False, "error_code": 404, "description": "Not Found"}
        data = json.loads(body or b"{}")
        with self.lock:
            self.received.append({"at": time.monotonic(), **data})
        scripted = self._scripted()
        if scripted:
            return scripted
        with self.lock:
            self.next_id += 1
            return 200, {}, {"ok": True, "result": {"message_id": self.next_id, "chat": {"id": data.get("chat_id")},
                                                    "text": data.get("text")}}

    @staticmethod
    def too_many(retry_after=1):
        return 429, {}, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                         "parameters": {"retry_after": retry_after}}


class FakeTwilio(_Server):
    def __init__(self, sid="AC" + "0" * 32, token="twilio-auth-token"):  # noqa: S107 (test credentials)
        self.sid, self.token, self.n = sid, token, 0
        super().__init__()

    def handle(self, path, headers, body):
        expected = "Basic " + base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {}, {"code": 20003, "message": "Authenticate", "status": 401}
        if path != f"/2010-04-01/Accounts/{self.sid}/Messages.json":
            return 404, {}, {"code": 20404, "message": "Not found", "status": 404}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        with self.lock:
            self.received.append({"at": time.monotonic(), **form})
        scripted = self._scripted()
        if scripted:
            return scripted
        with self.lock:
            self.n += 1
            return 201, {}, {"sid": f"SM{self.n:032d}", "status": "queued", "to": form.get("To"),
                             "body": form.get("Body")}

    @staticmethod
    def too_many(retry_after=1):
        return 429, {"Retry-After": str(retry_after)}, {"code": 20429, "message": "Too Many Requests", "status": 429}


class WebhookReceiver(_Server):
    """Keeps the payloads whose signature verifies; refuses the rest (401)."""

    def __init__(self, secret=None):
        self.secret, self.refused = secret, 0
        super().__init__()

    def handle(self, path, headers, body):
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = Webhook(self.secret).verify(body, lowered)
        except (WebhookVerificationError, TypeError, ValueError):
            with self.lock:
                self.refused += 1
            return 401, {}, {"error": "bad signature"}
        with self.lock:
            self.received.append({"at": time.monotonic(), "id": lowered["webhook-id"], **payload})
        return 204, {}, b""


class _Keeper:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


@contextmanager
def smtp_server():
    """(host, port, keeper): a real SMTP server (no TLS, no auth) in a thread."""
    keeper = _Keeper()
    port = free_port()
    controller = Controller(keeper, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, keeper
    finally:
        controller.stop()
