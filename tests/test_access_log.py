"""gunicorn's access log (gunicorn-cfg.py) under a real gunicorn: the secrets some URLs carry never reach it."""
import requests

from tests.test_metrics_multiprocess import Gunicorn, server_env  # noqa: F401  (the fixture, by name)

SECRET = "segredo-do-webhook-do-telegram-0123456789"


def test_url_secrets_are_masked_in_gunicorn_access_log(server_env, tmp_path):  # noqa: F811
    server_env.update({"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_SECRET": SECRET, "WEB_CONCURRENCY": "1"})
    server = Gunicorn(server_env, tmp_path / "gunicorn.log")
    try:
        answer = requests.post(f"{server.url}/webhooks/telegram/{SECRET}", json={"update_id": 1},
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
        assert answer.status_code == 200
        requests.get(f"{server.url}/login?code=codigo-unico-987&state=estado-654&next=/processos", timeout=10,
                     headers={"Referer": f"{server.url}/entrar?token=ficha-321"})
    finally:
        server.stop()
    log = server.output()
    assert "POST /webhooks/telegram/*** HTTP/1.1\" 200" in log, log[-2000:]
    assert "GET /login?code=***&state=***&next=/processos" in log and "token=***" in log
    for secret in (SECRET, "codigo-unico-987", "estado-654", "ficha-321"):
        assert secret not in log
