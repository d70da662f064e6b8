"""WhatsApp through Twilio's Messages API: one form POST with HTTP Basic (plain requests, so our delivery
job sees Retry-After and decides the retries; the twilio package's RequestValidator checks the inbound
webhooks, see apps/notificacoes/inbound.py)."""
import requests

from apps.notificacoes.channels.base import Channel, ChannelError, Outgoing, http_failure, network_failure, timeouts

PROVIDER = "Twilio"


class WhatsAppChannel(Channel):
    name, label = "whatsapp", "WhatsApp"
    required = ("WHATSAPP_ACCOUNT_SID", "WHATSAPP_AUTH_TOKEN", "WHATSAPP_FROM_NUMBER")

    def send(self, out: Outgoing, config) -> str:
        sid = config["WHATSAPP_ACCOUNT_SID"]
        url = f"{config['WHATSAPP_API_URL']}/2010-04-01/Accounts/{sid}/Messages.json"
        form = {"To": f"whatsapp:{out.destino}", "From": f"whatsapp:{config['WHATSAPP_FROM_NUMBER']}",
                "Body": out.body}
        try:
            response = requests.post(url, data=form, auth=(sid, config["WHATSAPP_AUTH_TOKEN"]),
                                     timeout=timeouts(config), allow_redirects=False)
        except requests.RequestException as exc:
            raise network_failure(exc, PROVIDER) from None
        if response.status_code not in (200, 201):
            raise http_failure(response, PROVIDER)
        try:
            return str(response.json()["sid"])
        except (ValueError, KeyError, TypeError):
            raise ChannelError("Twilio respondeu sem o sid da mensagem.") from None
