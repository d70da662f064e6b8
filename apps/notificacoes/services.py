"""Messages a person sends (the API's POST), and the answers to the chat commands."""
from flask import current_app

from apps.aprovacoes import caixa
from apps.auth.models import User
from apps.auth.policy import has_permission
from apps.core import audit
from apps.core.clock import current_competencia
from apps.core.errors import ServiceError
from apps.core.types import db
from apps.home.services import month_summary
from apps.notificacoes import grouping
from apps.notificacoes.channels import registry
from apps.notificacoes.models import CANAIS, Mensagem

MAX_CONTEUDO = 2000
HELP = "Comandos: /pendentes (suas aprovações em aberto) e /status (o mês em números)."


class MensagemError(ServiceError):
    """A message we cannot send."""


def send_direct(user, canal: str, conteudo: str, by) -> Mensagem:
    """A PENDENTE message to `user` on `canal` (flushed; the caller commits, then queues its delivery)."""
    if canal not in CANAIS:
        raise MensagemError("Canal desconhecido.", fields={"canal": "um de " + ", ".join(CANAIS)})
    conteudo = (conteudo or "").strip()
    if not conteudo or len(conteudo) > MAX_CONTEUDO:
        raise MensagemError("Informe o conteúdo (até 2000 caracteres).", fields={"conteudo": "1 a 2000 caracteres"})
    channel = registry.get(canal)
    if not channel.enabled(current_app.config):
        raise MensagemError(f"Canal {channel.label} {channel.status_text(current_app.config)}.", fields={"canal": "desativado"})
    mensagem = grouping.build(user.id, canal, conteudo)
    if mensagem is None:
        raise MensagemError(f"O usuário não tem endereço no canal {channel.label} (ou está inativo).",
                            fields={"canal": "sem endereço"})
    db.session.flush()
    audit.record("mensagem_enviada", entity=user, user=by, detail=f"canal {canal}, mensagem {mensagem.id}")
    return mensagem


def pendentes_de(user, limit: int = 5) -> tuple[int, list]:
    """How many approvals are this user's (the inbox's "Minhas"), and the first `limit` by prazo, for a chat."""
    if not has_permission(user, "processo.aprovar"):
        return 0, []
    count = caixa.badge(user)["minhas"]
    first = list(db.session.scalars(caixa.fila(user, aba="minhas").limit(limit))) if count else []
    return count, first


def answer(user: User, text: str) -> str:
    """The reply to a chat message from a linked user; nothing is ever done from a chat, only told."""
    command = (text or "").strip().split(maxsplit=1)[0].split("@")[0].lower() if (text or "").strip() else ""
    base = current_app.config["BASE_URL"]
    if command == "/pendentes":
        count, first = pendentes_de(user)
        if not count:
            return "Nenhum processo aguarda sua aprovação."
        lines = [f"{count} processo(s) aguardam sua aprovação: {base}/aprovacoes"]
        lines += [f"- {t.processo.cliente_nome} ({t.operadora.codigo}), prazo {t.prazo:%d/%m}: "
                  f"{base}/aprovacoes/{t.processo_id}/revisar" for t in first]
        return "\n".join(lines)
    if command == "/status":
        summary = month_summary(current_competencia())
        lines = [f"Competência {summary['competencia']}: {summary['total']} processos"]
        lines += [f"{summary['labels'][s]}: {n}" for s, n in summary["counts"].items()]
        return "\n".join(lines) + f"\n{base}/"
    return HELP
