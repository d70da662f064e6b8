"""Telegram Bot API `sendMessage` with plain requests (one POST: a bot framework would add an event loop
and nothing we use). The token is part of the URL, so no error here ever quotes the URL."""
import requests

from apps.notificacoes.channels.base import Channel, ChannelError, Outgoing, http_failure, network_failure, timeouts

PROVIDER = "Telegram"


class TelegramChannel(Channel):
    name, label = "telegram", "Telegram"
    required = ("TELEGRAM_BOT_TOKEN",)

    def send(self, out: Outgoing, config) -> str:
        url = f"{config['TELEGRAM_API_URL']}/bot{config['TELEGRAM_BOT_TOKEN']}/sendMessage"
        try:
            response = requests.post(url, json={"chat_id": out.destino, "text": out.body,
                                                "disable_web_page_preview": True},
                                     timeout=timeouts(config), allow_redirects=False)
        except requests.RequestException as exc:
            raise network_failure(exc, PROVIDER) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200 or not isinstance(data, dict) or not data.get("ok"):
            parameters = data.get("parameters") if isinstance(data, dict) else None
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            if response.status_code == 200:
                raise ChannelError("Telegram respondeu sem ok=true.", retryable=True)
            raise http_failure(response, PROVIDER, retry_after=retry_after)
        result = data.get("result") or {}
        return str(result.get("message_id", "")) or "telegram"
