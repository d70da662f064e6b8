"""The audit trail: who did what to which record, when, with a detail; the words people read for each action
and each record."""
import uuid
from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from apps.core.clock import is_competencia
from apps.core.records import search_key_column
from apps.core.types import UTCDateTime, UUIDPk, db, parse_uuid, utcnow

# Every action the code records, as people read it (the code itself stays in the CSV export and the API).
ACTION_LABELS = {
    "login": "Login", "login_falhou": "Login falhou", "login_bloqueado": "Login bloqueado", "logout": "Logout",
    "tokens_revogados": "Tokens de API revogados",
    "login_externo_recusado": "Login externo recusado", "identidade_vinculada": "Identidade externa vinculada",
    "usuario_criado_provedor": "Usuário criado no login externo",
    "perfil_alterado_provedor": "Perfil alterado pelo provedor",
    "usuario_criado": "Usuário criado", "usuario_alterado": "Usuário alterado", "senha_redefinida": "Senha redefinida",
    "operadora_criada": "Operadora criada", "operadora_alterada": "Operadora alterada",
    "operadora_desativada": "Operadora desativada", "operadora_reativada": "Operadora reativada",
    "operadora_credencial_definida": "Credencial da operadora definida",
    "operadora_credencial_removida": "Credencial da operadora removida",
    "cliente_criado": "Cliente criado", "cliente_alterado": "Cliente alterado",
    "cliente_desativado": "Cliente desativado", "cliente_reativado": "Cliente reativado",
    "clientes_importados": "Clientes importados",
    "artefatos_retencao": "Limpeza de artefatos (retenção)",
    "lote_criado": "Lote criado", "lote_importado": "Lote enfileirado", "lote_falhou": "Lote falhou",
    "processos_gerados": "Processos gerados", "downloads_enfileirados": "Downloads enfileirados",
    "processo_download_concluido": "Download concluído",
    "processo_faturas_enviadas": "Faturas enviadas manualmente",
    "processo_aprovar": "Processo aprovado", "processo_rejeitar": "Processo rejeitado",
    "processo_envio_sat_concluido": "Envio ao SAT concluído",
    "execucao_iniciada": "Execução iniciada", "execucao_falhou": "Execução falhou",
    "execucao_cancelada": "Execução cancelada",
    "token_global_alterado": "Token global alterado", "token_global_renovado": "Token global renovado",
    "token_global_testado": "Conexão testada",
    "fila_job_reenfileirado": "Tarefa reenfileirada", "fila_jobs_reenfileirados": "Tarefas com falha reenfileiradas",
    "fila_job_excluido": "Tarefa excluída",
    "notificacoes_preferencias": "Preferências de notificação salvas", "notificacoes_contatos": "Contatos alterados",
    "notificacoes_telegram_ligado": "Telegram ligado", "mensagem_enviada": "Mensagem enviada",
    "notificacao_remetente_desconhecido": "Mensagem de remetente desconhecido",
    "aprovacao_atribuida": "Aprovação atribuída", "aprovacao_reatribuida": "Aprovação reatribuída",
    "aprovacao_assumida": "Aprovação assumida", "aprovacao_primeira": "Primeira de duas aprovações",
    "comentario_adicionado": "Comentário adicionado", "operadora_aprovadores_alterados": "Aprovadores alterados",
    "usuario_ausencia": "Ausência do usuário",
    "robo_criado": "Robô cadastrado", "robo_alterado": "Robô alterado", "robo_excluido": "Robô excluído",
    "robo_ativado": "Robô ativado", "robo_desativado": "Robô desativado", "robo_drenando": "Robô drenando",
    "robo_status_alterado": "Status do robô alterado", "robo_versao_fixada": "Versão do robô fixada",
    "robo_versao_liberada": "Versão do robô liberada",
    "dominio_criado": "Domínio criado", "dominio_alterado": "Domínio alterado",
    "servico_criado": "Serviço criado", "servico_alterado": "Serviço alterado",
    "servico_solicitado": "Serviço solicitado",
    "papel_criado": "Papel criado", "papel_alterado": "Papel alterado", "papel_excluido": "Papel excluído",
}

# What kind of record an entry is about, for an entry whose record has no readable name.
ENTITY_LABELS = {"processos": "Processo", "clientes": "Cliente", "operadoras": "Operadora", "users": "Usuário",
                 "importacoes": "Importação", "execucoes": "Execução", "rq_job": "Tarefa",
                 "robos": "Robô", "dominios": "Domínio", "servicos": "Serviço", "lotes": "Lote", "papeis": "Papel"}

REGISTRO_LENGTH = 300
# The readable name of a record, stored on its entries when they are recorded (so the trail lists and searches
# them without a join, and keeps the name a record had then).
DESCRIBE = {
    "processos": lambda p: f"{p.cliente.nome if p.cliente else p.cliente_nome} · {p.competencia}",
    "clientes": lambda c: c.nome,
    "operadoras": lambda o: o.codigo,
    "users": lambda u: u.username,
    "papeis": lambda p: f"{p.nome} ({p.codigo})",
    "importacoes": lambda i: f"Importação {i.arquivo_nome or 'sem nome'}",
    "robos": lambda r: r.nome,
    "dominios": lambda d: d.nome,
    "servicos": lambda s: s.nome,
    "lotes": lambda lote: f"Lote {lote.arquivo_nome or 'sem nome'}",
}


class AuditLog(UUIDPk, db.Model):
    """One recorded action."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    entity_type: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    # The record as people name it ('Alfa Ltda · 2026-05', a cliente's nome, an operadora's código, a username)
    # and its search key (apps.core.text.search_key): what the trail's Registro column shows and searches.
    registro: Mapped[str | None] = mapped_column(String(REGISTRO_LENGTH))
    registro_busca: Mapped[str] = search_key_column("registro", length=REGISTRO_LENGTH)

    user = relationship("User", lazy="joined")


def model_for(table: str):
    """The mapped class of a table name ('processos' -> Processo), or None."""
    return next((m.class_ for m in db.Model.registry.mappers if getattr(m.local_table, "name", None) == table), None)


def describe(entity=None, entity_type=None, entity_id=None) -> str | None:
    """The readable name of an entry's record: from the entity, else loaded by type and id; None when unknown."""
    if entity is None and entity_type in DESCRIBE and parse_uuid(entity_id) is not None:
        model = model_for(entity_type)
        with db.session.no_autoflush:
            entity = db.session.get(model, parse_uuid(entity_id)) if model is not None else None
    if entity is not None:
        describer = DESCRIBE.get(getattr(entity, "__tablename__", None))
        return describer(entity)[:REGISTRO_LENGTH] if describer else None
    if entity_type == "processos" and is_competencia(entity_id):
        return f"Processos de {entity_id}"  # the month's batch actions: one entry for the competência
    return None


def record(action: str, entity=None, detail: str | None = None, user=None, entity_type=None, entity_id=None):
    """Add an audit entry to the current session (committed with the change it describes)."""
    if user is None and has_request_context() and current_user and current_user.is_authenticated:
        user = current_user._get_current_object()
    registro = describe(entity, entity_type, entity_id)
    if entity is not None:
        entity_type = entity_type or entity.__tablename__
        entity_id = entity_id or str(entity.id)
    entry = AuditLog(
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        detail=detail,
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", None),
        ip=request.remote_addr if has_request_context() else None,
        registro=registro,
    )
    db.session.add(entry)
    return entry
