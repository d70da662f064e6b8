"""The events people can be told about, and the one door domain code uses to tell them.

Domain code (aprovações, runs, the monthly job, robots) calls `notify(event, users, ...)` and
never imports a channel: which channels each user hears an event on, grouping and delivery
belong to this package.
"""
APROVACAO_ATRIBUIDA = "aprovacao_atribuida"
PRAZO_HOJE = "prazo_hoje"
PRAZO_VENCIDO = "prazo_vencido"
EXECUCAO_FALHOU = "execucao_falhou"
MES_ABERTO = "mes_aberto"
TOKEN_EXPIRANDO = "token_expirando"  # noqa: S105 - an event name, not a secret
ROBO_DESCONECTADO = "robo_desconectado"
ALL = (APROVACAO_ATRIBUIDA, PRAZO_HOJE, PRAZO_VENCIDO, EXECUCAO_FALHOU, MES_ABERTO, TOKEN_EXPIRANDO,
       ROBO_DESCONECTADO)


def notify(event: str, users, *, text: str, link: str | None = None) -> None:
    """Tell `users` that `event` happened: `text` is one item in Portuguese ("Processo de ACME
    aguarda sua aprovação"), `link` a path behind login ("/aprovacoes"). Flushes, never commits.

    Interface placeholder: the notificacoes work fills it in (subscriptions, grouping, delivery).
    """
    if event not in ALL:
        raise ValueError(f"unknown event {event!r}")
