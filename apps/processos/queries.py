"""Read-only queries shared by the processos pages and the JSON API (one SQL query per page)."""
from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import aliased, contains_eager, lazyload, raiseload, selectinload

from apps.auth.policy import has_permission
from apps.clientes.cnpj import clean as clean_cnpj
from apps.clientes.models import Cliente
from apps.core.audit import AuditLog
from apps.core.pagination import count
from apps.core.records import contains, where_equal
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos import ancoras, totais
from apps.processos.models import Execucao, ExecucaoLog, Processo, StatusExecucao, StatusProcesso, TipoExecucao

LOG_PAGE = 500


def cliente_matches(q: str):
    """The cliente's nome contains q whatever its case and accents (compared on the processo's copy of the
    search key, a column of the list's index), or its CNPJ contains q typed with or without punctuation."""
    condition = contains(q, keys=(Processo.cliente_nome_busca,))
    bare = clean_cnpj(q)
    if bare.isalnum():
        condition = or_(condition, Cliente.cnpj.contains(bare, autoescape=True))
    return condition


def _newer_run(run):
    """A run of the same processo after `run` (created later; the id breaks a tie): `run` is not its last."""
    newer = aliased(Execucao)
    # created_at >= … first, so the lookup is a range of ix_execucoes_processo_created.
    return select(newer.id).where(
        newer.processo_id == run.processo_id, newer.created_at >= run.created_at,
        or_(newer.created_at > run.created_at, and_(newer.created_at == run.created_at, newer.id > run.id)),
    ).exists()


def ultima_falhou_ids():
    """Ids of the processos whose last run failed: driven by the failed runs (ix_execucoes_status_created),
    each checked for a newer one (ix_execucoes_processo_created), so it grows with failures, not with months."""
    run = aliased(Execucao)
    return select(run.processo_id).where(run.status == StatusExecucao.FALHOU, ~_newer_run(run))


def ultimas_execucoes(processo_ids) -> dict:
    """{processo id: its last run} for a page's processos, in one SELECT (a processo never run is absent)."""
    ids = list(processo_ids)
    if not ids:
        return {}
    query = (select(Execucao).where(Execucao.processo_id.in_(ids), ~_newer_run(Execucao))
             .options(raiseload("*")))
    return {run.processo_id: run for run in db.session.scalars(query)}


# The list's order; ix_processos_lista / ix_processos_lista_status hold exactly it: a page is read from the
# index, not sorted out of the month (with or without a competência, with or without a status).
LIST_ORDER = (Processo.competencia.desc(), Processo.cliente_nome_busca, Processo.cliente_nome, Processo.id)
LIST_ORDER_REVERSED = (Processo.competencia.asc(), Processo.cliente_nome_busca.desc(), Processo.cliente_nome.desc(),
                       Processo.id.desc())


def _with_relations(query):
    return (query.join(Processo.cliente).join(Cliente.operadora)
            .options(contains_eager(Processo.cliente).contains_eager(Cliente.operadora),
                     raiseload(Processo.execucoes), raiseload(Processo.faturas), raiseload(Processo.criado_por))
            .order_by(*LIST_ORDER))


def processos_query(competencia=None, status=None, operadora_id=None, cliente_id=None, q=None, ultima_falhou=False):
    """Processos with their cliente and operadora in the same SELECT, newest competência first, then the
    cliente's nome in Portuguese order."""
    return _filtered(_with_relations(select(Processo)), competencia, status, operadora_id, cliente_id, q, ultima_falhou)


def _keys(competencia, status, operadora_id, cliente_id, q, ultima_falhou):
    """The filter's processo ids, clientes joined only when a filter reads them: with a competência (and a
    status) it is a range of the list's covering index, no table row read."""
    query = select(Processo.id)
    if q or operadora_id:
        query = query.join(Cliente, Cliente.id == Processo.cliente_id)
    return _filtered(query, competencia, status, operadora_id, cliente_id, q, ultima_falhou)


def _beside(ref_id, after: bool, competencia):
    """The rows sorting after (or before) the processo `ref_id` in LIST_ORDER, as a seek on the index."""
    ref = aliased(Processo)
    rest = tuple_(Processo.cliente_nome_busca, Processo.cliente_nome, Processo.id)
    ref_rest = select(ref.cliente_nome_busca, ref.cliente_nome, ref.id).where(ref.id == ref_id).scalar_subquery()
    within = rest > ref_rest if after else rest < ref_rest
    if competencia:  # the filter fixes the competência: the seek is a range of the rest of the key
        return within
    ref_competencia = select(ref.competencia).where(ref.id == ref_id).scalar_subquery()
    # competência sorts newest first
    other = Processo.competencia < ref_competencia if after else Processo.competencia > ref_competencia
    return or_(other, and_(Processo.competencia == ref_competencia, within))


def processos_page(competencia=None, status=None, operadora_id=None, cliente_id=None, q=None, ultima_falhou=False,
                   total=0):
    """`fetch(start, per_page, ref)` for apps.core.pagination.paginate_seek: the page starting at row `start`
    of processos_query, in one SELECT whatever the page.

    The page's ids are found first over the covering index, the shortest way: a seek from the row the link
    carried (`ref` = (id, its position): the rows after or before it, skipping those between), or an
    OFFSET from whichever end of the list is nearer, or (a month's whole list) a seek from the anchor
    before the page, skipping fewer than PROCESSOS_ANCORA_PASSO rows (apps.processos.ancoras);
    then only those rows are read with their cliente and operadora. Page 5,000 of a month of 1,000,000 thus
    reads 25 rows, not 125,000 joined ones, and typed skips 975 index entries, not 125,000."""
    filters = (competencia, status, operadora_id, cliente_id, q, ultima_falhou)
    # Only a month's whole list is anchored: a filter by status changes its rows with every move, the others
    # are small or counted anyway, and across months the seek after an anchor is an OR the index cannot range.
    anchorable = bool(competencia) and not (status or operadora_id or cliente_id or q or ultima_falhou)

    def rows(keys) -> list:
        return list(db.session.scalars(_with_relations(select(Processo)).where(Processo.id.in_(keys))).unique())

    def anchored(start: int, per_page: int, anchors) -> list:
        """The page from the anchor before it, in a statement that finds nothing unless the list's version
        is still the one the anchors were read at."""
        anchor_id, skip = anchors.before(start)
        return rows(_keys(*filters).where(_beside(anchor_id, True, competencia),
                                          ancoras.version(competencia) == anchors.versao)
                    .order_by(*LIST_ORDER).offset(skip).limit(per_page))

    def from_anchor(start: int, per_page: int) -> list:
        """The page from the anchors kept; if they are stale or do not reach it, from anchors read now
        (extending those kept while the list's version holds); [] without Redis or when the list is changing."""
        try:
            anchors = ancoras.cached(competencia)
        except ancoras.Unavailable:
            return []
        items = anchored(start, per_page, anchors) if anchors and anchors.covers(start) else []
        if not items and (anchors := _anchors_to(competencia, start, anchors)):
            items = anchored(start, per_page, anchors)
        return items

    def fetch(start: int, per_page: int, ref) -> list:
        ways = [(start, "start", None)]
        from_end = total - start - per_page
        if from_end >= -per_page + 1 and total:
            ways.append((max(from_end, 0), "end", None))
        if ref is not None:
            ref_id, position = ref
            if start > position:
                ways.append((start - position - 1, "after", ref_id))
            elif start + per_page <= position:
                ways.append((position - start - per_page, "before", ref_id))
        skip, way, ref_id = min(ways, key=lambda w: w[0])
        if anchorable and start < total and start % ancoras.step() < skip and (items := from_anchor(start, per_page)):
            return items
        keys = _keys(*filters)
        if way == "start":
            keys = keys.order_by(*LIST_ORDER).offset(skip).limit(per_page)
        elif way == "end":
            keys = keys.order_by(*LIST_ORDER_REVERSED).limit(per_page if from_end >= 0 else per_page + from_end)
            keys = keys.offset(skip)
        else:
            keys = (keys.where(_beside(ref_id, way == "after", competencia))
                    .order_by(*(LIST_ORDER if way == "after" else LIST_ORDER_REVERSED)).offset(skip).limit(per_page))
        items = rows(keys)
        if not items and way in ("after", "before"):  # the link's row is gone: count from the start
            return fetch(start, per_page, None)
        return items

    return fetch


def _anchors_to(competencia, start: int, kept):
    """The list's anchors as far as row `start`, read now at the list's current version (those `kept` are
    extended if the version still holds, read again if not), and kept; None when the list changed while
    they were read, or has no version (no processo was ever in it)."""
    def current():
        return db.session.scalar(select(ancoras.version(competencia)))

    versao, step = current(), ancoras.step()
    if versao is None:
        return None
    ids = list(kept.ids) if kept and kept.versao == versao else []
    keys = _keys(competencia, None, None, None, None, False)
    # Each anchor is STEP - 1 rows past the one before it, a seek on the list's covering index.
    while len(ids) <= start // step - 1:
        after = keys.where(_beside(ids[-1], True, competencia)) if ids else keys
        found = db.session.scalar(after.order_by(*LIST_ORDER).offset(step - 1).limit(1))
        if found is None:
            break
        ids.append(found)
    if current() != versao:
        return None
    anchors = ancoras.Anchors(int(versao), ids)
    if kept is None or kept.ids != ids or kept.versao != anchors.versao:
        ancoras.keep(competencia, anchors)
    return anchors if anchors.covers(start) else None


def _filtered(query, competencia, status, operadora_id, cliente_id, q, ultima_falhou=False):
    """The list's filters; `query` must already join clientes when operadora_id or q is given."""
    query = where_equal(query, (Processo.competencia, competencia), (Processo.status, status),
                        (Cliente.operadora_id, operadora_id), (Processo.cliente_id, cliente_id))
    if q:
        query = query.where(cliente_matches(q))
    if ultima_falhou:
        query = query.where(Processo.id.in_(ultima_falhou_ids()))
    return query


def competencias() -> list[str]:
    """Every competência that has processos, newest first (for the filter)."""
    return totais.competencias()


def operadoras() -> list:
    return list(db.session.scalars(select(Operadora).order_by(Operadora.codigo)))


ALL_SERVICO_RUNS = "todas"


def servico_runs_seen_by(user):
    """Which portal runs (no processo) `user` may see beside the processos' runs: every one for who runs the
    robots or keeps the serviços (ALL_SERVICO_RUNS), else their own (their id)."""
    if has_permission(user, "processo.executar") or has_permission(user, "servico.gerenciar"):
        return ALL_SERVICO_RUNS
    return user.id


def execucoes_ativas(servicos_de=None):
    """Every PENDENTE or EXECUTANDO execucao with its processo, cliente and operadora, in one SELECT (and
    one more for the serviços of portal runs). `servicos_de` adds the portal's runs, which have no processo:
    ALL_SERVICO_RUNS, or a user's id for theirs (servico_runs_seen_by); None leaves them out."""
    query = (
        select(Execucao)
        .outerjoin(Execucao.processo).outerjoin(Processo.cliente).outerjoin(Cliente.operadora)
        .where(Execucao.status.in_(StatusExecucao.ACTIVE))
        .options(contains_eager(Execucao.processo).contains_eager(Processo.cliente).contains_eager(Cliente.operadora),
                 contains_eager(Execucao.processo).lazyload(Processo.execucoes),
                 contains_eager(Execucao.processo).lazyload(Processo.faturas),
                 lazyload(Execucao.criado_por), selectinload(Execucao.servico), selectinload(Execucao.operadora))
        .order_by(Execucao.created_at)
    )
    if servicos_de is None:
        query = query.where(Execucao.processo_id.is_not(None))
    elif servicos_de != ALL_SERVICO_RUNS:
        query = query.where(or_(Execucao.processo_id.is_not(None), Execucao.criado_por_id == servicos_de))
    return list(db.session.scalars(query).unique())


def historico(processo) -> list:
    """The processo's audit trail, newest first."""
    return list(db.session.scalars(
        select(AuditLog).where(AuditLog.entity_type == "processos", AuditLog.entity_id == str(processo.id))
        .order_by(AuditLog.created_at.desc())
    ))


def execucoes_query(processo_id=None, status=None, tipo=None, operadora_id=None):
    """Execucoes, newest first, filtered by processo, status, tipo and the cliente's operadora."""
    query = where_equal(select(Execucao).order_by(Execucao.created_at.desc(), Execucao.id),
                        (Execucao.processo_id, processo_id), (Execucao.status, status), (Execucao.tipo, tipo))
    if operadora_id:
        query = (query.join(Processo, Processo.id == Execucao.processo_id)
                 .join(Cliente, Cliente.id == Processo.cliente_id).where(Cliente.operadora_id == operadora_id))
    return query


def execucao_por_job(job_id: str):
    """The newest execucao that followed this RPA job id, or None."""
    return db.session.scalar(
        select(Execucao).where(Execucao.job_id == job_id).order_by(Execucao.created_at.desc()).limit(1)
    )


def logs_after(execucao, after: int, limit: int = LOG_PAGE) -> list:
    """Stored log lines of an execucao with seq > after, oldest first."""
    return list(db.session.scalars(
        select(ExecucaoLog).where(ExecucaoLog.execucao_id == execucao.id, ExecucaoLog.seq > after)
        .order_by(ExecucaoLog.seq).limit(limit)
    ))


def processos_total(competencia=None, status=None, operadora_id=None, cliente_id=None, q=None,
                    ultima_falhou=False) -> int:
    """How many processos processos_query finds: read from processo_totais for the filters it keeps
    (competência, status, operadora), counted for a cliente, a search or the last run failed."""
    if not (q or cliente_id or ultima_falhou):
        return totais.total(competencia, status, operadora_id)
    query = select(Processo.id)
    if q or operadora_id:
        query = query.join(Cliente, Cliente.id == Processo.cliente_id)
    return count(_filtered(query, competencia, status, operadora_id, cliente_id, q, ultima_falhou))


def falhas_query(competencia=None, status=None, operadora_id=None, q=None, ultima_falhou=False):
    """Ids of the filter's processos whose robot run for their current step failed and none is active.

    Driven by the failed runs (few, found through ix_execucoes_status_created), not by every
    processo of the filter, so its cost grows with failures rather than with the month's size.
    """
    step = or_((Processo.status == StatusProcesso.AGUARDANDO_DOWNLOAD) & (Execucao.tipo == TipoExecucao.DOWNLOAD),
               (Processo.status == StatusProcesso.AGUARDANDO_ENVIO_SAT) & (Execucao.tipo == TipoExecucao.ENVIO_SAT))
    active = aliased(Execucao)
    query = (
        select(Processo.id).distinct()
        .select_from(Execucao).join(Processo, Processo.id == Execucao.processo_id)
        .join(Cliente, Cliente.id == Processo.cliente_id)
        .where(Execucao.status == StatusExecucao.FALHOU, step,
               ~select(active.id).where(active.processo_id == Processo.id,
                                        active.status.in_(StatusExecucao.ACTIVE)).exists())
    )
    return _filtered(query, competencia, status, operadora_id, None, q, ultima_falhou)
