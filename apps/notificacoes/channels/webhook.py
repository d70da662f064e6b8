"""Webhook: a JSON POST signed per Standard Webhooks (the `standardwebhooks` package signs it), to the URL
of the user's subscription, checked by the SSRF guard before every send; redirects are not followed."""
import json
from datetime import UTC, datetime

import requests
from standardwebhooks.webhooks import Webhook

from apps.notificacoes.channels.base import Channel, ChannelError, Outgoing, http_failure, network_failure, timeouts
from apps.operadoras.url_validation import validate_rpa_url

PROVIDER = "Webhook"


def check_url(url: str, config) -> str:
    """The normalised URL, or ChannelError/ValueError when it points inside our network."""
    return validate_rpa_url(url, allow_private=bool(config.get("NOTIFICACOES_WEBHOOK_ALLOW_PRIVATE")))


class WebhookChannel(Channel):
    name, label = "webhook", "Webhook"
    required = ()  # the URL and secret are each subscription's own

    def send(self, out: Outgoing, config) -> str:
        if not out.secret:
            raise ChannelError("Assinatura de webhook sem segredo.")
        try:
            url = check_url(out.destino, config)
        except ValueError as exc:
            raise ChannelError(str(exc)) from None
        msg_id = f"msg_{out.id}"
        now = datetime.now(UTC)
        payload = json.dumps({"type": f"notificacao.{out.evento or 'mensagem'}", "timestamp": now.isoformat(),
                              "data": {"id": out.id, "evento": out.evento, "texto": out.texto, "link": out.link}},
                             ensure_ascii=False)
        signature = Webhook(out.secret).sign(msg_id, now, payload)
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
        try:
            response = requests.post(url, data=payload.encode(), headers=headers, timeout=timeouts(config),
                                     allow_redirects=False)
        except requests.RequestException as exc:
            raise network_failure(exc, PROVIDER) from None
        if not 200 <= response.status_code < 300:
            raise http_failure(response, PROVIDER)
        return msg_id
