"""What people (and the API, CLI and cron) do to processos: create the month, run, approve, reject."""
import uuid

from sqlalchemy import func, insert, literal, select
from sqlalchemy.exc import IntegrityError

from apps.aprovacoes import regras
from apps.auth.policy import has_permission
from apps.clientes.models import Cliente
from apps.core import audit, clock
from apps.core.queues import QueueUnavailable, ensure_available
from apps.core.types import db, utcnow
from apps.operadoras.models import Operadora
from apps.processos import state
from apps.processos.models import Execucao, Processo, StatusExecucao, StatusProcesso, TipoExecucao
from apps.processos.state import ProcessoError
from apps.rpa.throttle import dispatch, dispatch_all


def parse_competencia(value: str) -> str:
    """'2026-11' as given, or ProcessoError(422) for anything else."""
    if not clock.is_competencia(value):
        raise ProcessoError("Competência inválida: use o formato AAAA-MM (ex.: 2026-11).", 422)
    return value


def _uuid_sql(dialect: str):
    if dialect == "postgresql":
        return func.gen_random_uuid()
    return func.lower(func.hex(func.randomblob(16)))  # SQLAlchemy's Uuid on SQLite: 32 hex chars


def _inserted(stmt) -> int:
    """Rows an INSERT … SELECT added: the driver's rowcount (no 100,000 ids sent back to Python)."""
    count = db.session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount
    if count is None or count < 0:
        raise RuntimeError("the database driver did not report how many rows were inserted")
    return count


def gerar_processos(competencia: str, by=None) -> dict:
    """One processo per active cliente, in one INSERT … SELECT; safe to run twice or concurrently."""
    competencia = parse_competencia(competencia)
    dialect = db.engine.dialect.name
    now = utcnow()
    source = select(
        _uuid_sql(dialect), Cliente.id, literal(competencia), literal(StatusProcesso.AGUARDANDO_DOWNLOAD),
        literal(getattr(by, "id", None), type_=Processo.criado_por_id.type),
        literal(now, type_=Processo.created_at.type), literal(now, type_=Processo.updated_at.type), Cliente.nome,
        Cliente.nome_busca,
    ).where(Cliente.ativo.is_(True))
    # The cliente's nome and its search key are copied: the list sorts and searches the processos by them.
    columns = ["id", "cliente_id", "competencia", "status", "criado_por_id", "created_at", "updated_at", "cliente_nome",
               "cliente_nome_busca"]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    # The Table, not the ORM entity: the ORM's bulk path does not pass the rowcount through.
    stmt = dialect_insert(Processo.__table__).from_select(columns, source).on_conflict_do_nothing(
        index_elements=["cliente_id", "competencia"]
    )
    criados = _inserted(stmt)
    total = db.session.scalar(
        select(func.count()).select_from(Processo).join(Cliente).where(
            Processo.competencia == competencia, Cliente.ativo.is_(True))
    )
    audit.record("processos_gerados", entity_type="processos", entity_id=competencia, user=by,
                 detail=f"competência {competencia}: {criados} criado(s), {total - criados} existente(s)")
    db.session.commit()
    return {"competencia": competencia, "criados": criados, "existentes": total - criados}


def enfileirar_downloads(competencia: str, by=None) -> dict:
    """A waiting DOWNLOAD run for every processo of the competência still to download (operadora
    with a robot), in one INSERT … SELECT; then admit what each operadora's limit allows."""
    competencia = parse_competencia(competencia)
    ensure_available()
    now = utcnow()
    active = select(Execucao.id).where(Execucao.processo_id == Processo.id,
                                       Execucao.status.in_(StatusExecucao.ACTIVE))
    source = (
        select(_uuid_sql(db.engine.dialect.name), Processo.id, literal(TipoExecucao.DOWNLOAD),
               literal(StatusExecucao.PENDENTE), literal(0), literal(getattr(by, "id", None), type_=Execucao.criado_por_id.type),
               literal(now, type_=Execucao.created_at.type), literal(now, type_=Execucao.updated_at.type))
        .join(Cliente, Cliente.id == Processo.cliente_id).join(Operadora, Operadora.id == Cliente.operadora_id)
        .where(Processo.competencia == competencia, Processo.status == StatusProcesso.AGUARDANDO_DOWNLOAD,
               Operadora.possui_rpa.is_(True), Operadora.ativo.is_(True), Cliente.ativo.is_(True), ~active.exists())
    )
    columns = ["id", "processo_id", "tipo", "status", "ultimo_seq", "criado_por_id", "created_at", "updated_at"]
    try:
        criadas = _inserted(insert(Execucao.__table__).from_select(columns, source))
        db.session.commit()
    except IntegrityError as exc:  # someone started one of them meanwhile: the rules say try again
        db.session.rollback()
        raise ProcessoError("Outra execução começou ao mesmo tempo; tente novamente.") from exc
    audit.record("downloads_enfileirados", entity_type="processos", entity_id=competencia, user=by,
                 detail=f"competência {competencia}: {criadas} download(s) na fila")
    db.session.commit()
    return {"competencia": competencia, "enfileiradas": criadas, "iniciadas": dispatch_all()}


def tipo_para(processo: Processo) -> str:
    """Which robot run the processo's status calls for (or ProcessoError)."""
    if processo.status == StatusProcesso.AGUARDANDO_DOWNLOAD:
        if not processo.cliente.operadora.possui_rpa:
            raise ProcessoError(
                f"A operadora {processo.cliente.operadora.codigo} não tem robô: envie as faturas manualmente.")
        return TipoExecucao.DOWNLOAD
    if processo.status == StatusProcesso.AGUARDANDO_ENVIO_SAT:
        return TipoExecucao.ENVIO_SAT
    raise ProcessoError(f"Nada a executar: o processo está em {processo.status}.")


RUN_PERMISSION = {TipoExecucao.DOWNLOAD: "processo.executar", TipoExecucao.ENVIO_SAT: "processo.enviar_sat"}
# The bulk actions (page and API): what the caller needs for each; every processo is then checked as it runs.
BULK_PERMISSIONS = {"aprovar": ("processo.aprovar",), "executar": tuple(RUN_PERMISSION.values())}


def executar(processo: Processo, by=None) -> Execucao:
    """Create an execucao (PENDENTE) and enqueue its job; one active execucao per processo.

    A person (`by`) needs the permission of the run the status calls for; the scheduler acts as nobody."""
    tipo = tipo_para(processo)
    if by is not None and not has_permission(by, RUN_PERMISSION[tipo]):
        raise ProcessoError("Você não tem permissão para esta ação.", 403)
    ensure_available()
    execucao = Execucao(id=uuid.uuid4(), processo_id=processo.id, tipo=tipo,
                        status=StatusExecucao.PENDENTE, criado_por_id=getattr(by, "id", None))
    db.session.add(execucao)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ProcessoError("Já existe uma execução em andamento para este processo.") from exc
    db.session.commit()
    try:
        dispatch(processo.cliente.operadora_id)  # starts it now, or it waits for a free slot
    except QueueUnavailable:
        _undo_execucao(execucao.id)
        raise
    audit.record("execucao_iniciada", entity=processo, user=by, detail=f"{tipo} execucao={execucao.id}")
    db.session.commit()
    return execucao


def _undo_execucao(execucao_id) -> None:
    """The queue refused the job: remove the execucao so nothing changed."""
    db.session.rollback()
    execucao = db.session.get(Execucao, execucao_id)
    if execucao is not None:
        db.session.delete(execucao)
        db.session.commit()


def aprovar(processo: Processo, by, comentario: str | None = None) -> Processo:
    """AGUARDANDO_APROVACAO → AGUARDANDO_ENVIO_SAT (four eyes: apps.aprovacoes.regras; a first of two
    approvals is recorded and the processo stays AGUARDANDO_APROVACAO)."""
    if not processo.faturas_ativas:
        raise ProcessoError("Não há faturas para aprovar neste processo.")
    if regras.antes_de_aprovar(processo, by) == regras.PRIMEIRA:
        db.session.commit()
        return processo
    state.move(processo, "aprovar", by=by, comentario=comentario)
    regras.fechar(processo, regras.Resultado.APROVADO)
    db.session.commit()
    return processo


def depois_de_aprovar(processo: Processo) -> tuple[str, str]:
    """What the approver is told after aprovar(): (message, flash category); a first of two approvals says so."""
    if processo.status == StatusProcesso.AGUARDANDO_APROVACAO:
        return (f"{processo.cliente_nome}: primeira aprovação registrada; o valor exige a de um segundo aprovador.",
                "info")
    return f"{processo.cliente_nome} aprovado: as faturas seguem para o envio ao SAT.", "success"


def depois_de_rejeitar(processo: Processo) -> tuple[str, str]:
    return f"{processo.cliente_nome}: faturas rejeitadas; o processo voltou para Aguardando download.", "success"


def rejeitar(processo: Processo, by, motivo: str) -> Processo:
    """AGUARDANDO_APROVACAO → AGUARDANDO_DOWNLOAD; the faturas stay, marked rejected."""
    state.move(processo, "rejeitar", by=by, comentario=motivo)
    regras.fechar(processo, regras.Resultado.REJEITADO)
    for fatura in processo.faturas_ativas:
        fatura.rejeitada = True
        fatura.motivo_rejeicao = motivo.strip()
    db.session.commit()
    return processo


def aprovar_varios(ids, by, comentario=None) -> dict:
    """Approve many processos; each one succeeds or is reported with its reason (unknown ids apart)."""
    ids, aprovados, erros = list(ids), [], []
    found = set()
    for processo in db.session.scalars(select(Processo).where(Processo.id.in_(ids))):
        found.add(processo.id)
        try:
            aprovar(processo, by, comentario)
            if processo.status == StatusProcesso.AGUARDANDO_APROVACAO:
                erros.append((processo, regras.PRIMEIRA_REGISTRADA))
                continue
            aprovados.append(processo.id)
        except ProcessoError as exc:
            db.session.rollback()
            erros.append((processo, exc.message))
    return {"aprovados": aprovados, "erros": erros, "nao_encontrados": [i for i in ids if i not in found]}


def executar_varios(ids, by) -> dict:
    """Start the robot run each processo calls for; report those refused and why, and unknown ids.
    `execucoes` maps each started processo's id to its new execucao's id."""
    ids, iniciados, erros, execucoes = list(ids), [], [], {}
    found = set()
    for processo in db.session.scalars(select(Processo).where(Processo.id.in_(ids))):
        found.add(processo.id)
        try:
            execucao = executar(processo, by)
            iniciados.append(execucao.id)
            execucoes[processo.id] = execucao.id
        except ProcessoError as exc:
            erros.append((processo, exc.message))
    return {"iniciados": iniciados, "erros": erros, "execucoes": execucoes,
            "nao_encontrados": [i for i in ids if i not in found]}
