"""The channels by name: the only module the rest of the package asks for an adapter."""
from apps.notificacoes.channels.email import EmailChannel
from apps.notificacoes.channels.mock import MockChannel
from apps.notificacoes.channels.telegram import TelegramChannel
from apps.notificacoes.channels.webhook import WebhookChannel
from apps.notificacoes.channels.whatsapp import WhatsAppChannel

CHANNELS = {c.name: c for c in (EmailChannel(), TelegramChannel(), WhatsAppChannel(), WebhookChannel(), MockChannel())}


def get(name: str):
    return CHANNELS[name]


def enabled_names(config) -> list[str]:
    return [name for name, channel in CHANNELS.items() if channel.enabled(config)]
