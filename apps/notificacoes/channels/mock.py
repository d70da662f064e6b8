"""Mock: stores the message and sends nothing (the default in development: see it in /mensagens)."""
from apps.notificacoes.channels.base import Channel, Outgoing


class MockChannel(Channel):
    name, label = "mock", "Mock"
    required = ("NOTIFICACOES_MOCK",)

    def send(self, out: Outgoing, config) -> str:
        return f"mock-{out.id}"
