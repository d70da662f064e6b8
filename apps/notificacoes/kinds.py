"""The events people can be told about (re-exported by apps.notificacoes.events, the door domain code uses)."""
APROVACAO_ATRIBUIDA = "aprovacao_atribuida"
PRAZO_HOJE = "prazo_hoje"
PRAZO_VENCIDO = "prazo_vencido"
EXECUCAO_FALHOU = "execucao_falhou"
MES_ABERTO = "mes_aberto"
TOKEN_EXPIRANDO = "token_expirando"  # noqa: S105 (an event name)
ROBO_DESCONECTADO = "robo_desconectado"
ALL = (APROVACAO_ATRIBUIDA, PRAZO_HOJE, PRAZO_VENCIDO, EXECUCAO_FALHOU, MES_ABERTO, TOKEN_EXPIRANDO,
       ROBO_DESCONECTADO)

# One message for many items: what it says when `n` items were grouped, and where its link goes.
SUMMARY = {
    APROVACAO_ATRIBUIDA: "{n} processos aguardam sua aprovação",
    PRAZO_HOJE: "{n} aprovações vencem hoje",
    PRAZO_VENCIDO: "{n} aprovações estão com o prazo vencido",
    EXECUCAO_FALHOU: "{n} execuções falharam",
    MES_ABERTO: "{n} avisos de abertura do mês",
    TOKEN_EXPIRANDO: "{n} avisos sobre o token da API RPA",
    ROBO_DESCONECTADO: "{n} robôs se desconectaram",
}
LIST_LINK = {APROVACAO_ATRIBUIDA: "/aprovacoes", PRAZO_HOJE: "/aprovacoes", PRAZO_VENCIDO: "/aprovacoes",
             EXECUCAO_FALHOU: "/processos", MES_ABERTO: "/processos"}
