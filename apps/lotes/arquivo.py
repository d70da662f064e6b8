"""A lote's CSV (`CNPJ;Competencia;Acao`): stored upload, reading, and a reason for every bad row.

Nothing here writes to the database. The file is read the way the clientes import reads one
(apps.clientes.importer.open_csv: UTF-8 with or without BOM or Windows-1252, `;` or `,`, bounded
lines) and checked in batches of BATCH rows, each batch with three queries (its clientes, their
processos, the active runs among them), so memory stays bounded whatever the number of rows: only the
set of (CNPJ, competência) pairs seen grows, to find repeated rows.
"""
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import ARRAY, String, Uuid, any_, bindparam, exists, select

from apps.clientes import cnpj as cnpj_rules
from apps.clientes import importer
from apps.clientes.models import Cliente
from apps.core import clock
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.models import Execucao, Processo, StatusExecucao, StatusProcesso, TipoExecucao
from apps.processos.services import tipo_para
from apps.processos.state import ProcessoError

COLUMNS = ("cnpj", "competencia", "acao")
BATCH = 1000
KIND = "de lote"
HEADER_HELP = ("O cabeçalho deve ter as colunas CNPJ, Competencia e Acao (nesta ou em outra ordem), "
               "ex.: CNPJ;Competencia;Acao.")
ACOES = TipoExecucao.ALL
ATIVA = "Já existe uma execução em andamento para este processo."


def _needs() -> dict:
    """The status each action needs, read from the one rule (services.tipo_para) instead of restated."""
    needs = {}
    for status in StatusProcesso.ALL:
        probe = SimpleNamespace(status=status, cliente=SimpleNamespace(
            operadora=SimpleNamespace(possui_rpa=True, codigo="")))
        try:
            needs[tipo_para(probe)] = status
        except ProcessoError:
            pass
    return needs


NEEDS = _needs()  # {DOWNLOAD: AGUARDANDO_DOWNLOAD, ENVIO_SAT: AGUARDANDO_ENVIO_SAT}


# --- the stored upload: instance/lotes/<token>.csv from the preview until the lote's run ends ---

def check_file(path: Path) -> None:
    """ImportFileError unless the whole file reads as a lote's CSV (its rows are checked later)."""
    with open_csv(path) as csvfile:
        for _ in csvfile.rows:
            pass


UPLOADS = importer.StoredUploads("lotes", check_file)
lotes_dir, valid_token, path_for = UPLOADS.dir, UPLOADS.valid_token, UPLOADS.path_for
save_upload, delete_upload = UPLOADS.save, UPLOADS.delete


# --- reading ---------------------------------------------------------------------------------

def parse_header(header: list[str]) -> dict[str, int]:
    return importer.columns_of(header, COLUMNS, header_help=HEADER_HELP)


def open_csv(path: Path):
    return importer.open_csv(path, parse=parse_header, kind=KIND, header_help=HEADER_HELP)


def parse_competencia(value: str) -> str | None:
    """'2026-05' or '05/2026' (as Excel may show it) as 'AAAA-MM'; None for anything else."""
    text = value.strip()
    if "/" in text:
        month, _, year = text.partition("/")
        text = f"{year.strip()}-{month.strip().zfill(2)}"
    return text if clock.is_competencia(text) else None


# --- checking --------------------------------------------------------------------------------

def in_values(column, values, type_):
    """`column IN values`; PostgreSQL gets one array parameter instead of 1,000."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(type_)))
    return column.in_(values)


def _cnpj_reason(raw: str) -> str:
    bare = cnpj_rules.clean(raw)
    hint = importer.CNPJ_13 if len(bare) == 13 and bare.isdigit() else \
        "Confira os 14 caracteres e os dígitos verificadores."
    return f"CNPJ inválido {importer._show(raw)}. {hint}"


def status_reason(acao: str, competencia: str, processo, operadora) -> str | None:
    """Why `acao` cannot run on this processo (None: it can); a missing processo is one to be created for a
    DOWNLOAD (and a refusal for ENVIO_SAT). The rule and its words are services.tipo_para's."""
    if processo is None:
        if acao != TipoExecucao.DOWNLOAD:
            return (f"Não há processo de {competencia} para este cliente: a ação {acao} precisa de um processo "
                    f"em {NEEDS[acao]}.")
        status = StatusProcesso.AGUARDANDO_DOWNLOAD  # created by the lote
    else:
        status = processo.status
    probe = SimpleNamespace(status=status, cliente=SimpleNamespace(operadora=operadora))
    try:
        tipo = tipo_para(probe)
    except ProcessoError as exc:
        if status == NEEDS[acao]:
            return exc.message  # the right status, refused for another reason (an operadora without robot)
        tipo = None
    if tipo != acao:
        return f"A ação {acao} precisa do processo em {NEEDS[acao]}; o processo de {competencia} está em {status}."
    if processo is not None and processo.ativa:
        return ATIVA
    return None


@dataclass
class Checker:
    """Checks rows against the file read so far (repeated rows) and the database."""

    columns: dict
    width: int
    today: str = field(default_factory=clock.current_competencia)
    seen: dict = field(default_factory=dict)  # "CNPJ|competência" -> first line

    def _cells(self, cells):
        if len(cells) > self.width and not any(c.strip() for c in cells[self.width:]):
            cells = cells[:self.width]  # trailing empty cells, as spreadsheets often write
        if len(cells) != self.width:
            return None
        return {name: cells[index].strip() for name, index in self.columns.items()}

    def parse(self, line: int, cells: list[str]) -> tuple[dict | None, list[str]]:
        """The row's values and the reasons it is bad that the file alone shows."""
        raw = self._cells(cells)
        if raw is None:
            return None, [f"Número de colunas errado: {len(cells)} em vez de {self.width}."]
        missing = [name for name in COLUMNS if not raw[name]]
        if missing:
            return None, [f"Campo obrigatório vazio: {', '.join(missing)}."]
        reasons = []
        cnpj = cnpj_rules.clean(raw["cnpj"]) if cnpj_rules.is_valid(raw["cnpj"]) else None
        if cnpj is None:
            reasons.append(_cnpj_reason(raw["cnpj"]))
        competencia = parse_competencia(raw["competencia"])
        if competencia is None:
            reasons.append(f"Competência inválida {importer._show(raw['competencia'])}: use o formato AAAA-MM "
                           "(ex.: 2026-11).")
        elif competencia > self.today:
            reasons.append(f"Competência futura {competencia}: só competências até {self.today} podem ser executadas.")
            competencia = None
        acao = raw["acao"].upper().replace(" ", "_")
        if acao not in ACOES:
            reasons.append(f"Ação inválida {importer._show(raw['acao'])}: use {' ou '.join(ACOES)}.")
        if cnpj and competencia:
            first = self.seen.setdefault(f"{cnpj}|{competencia}", line)
            if first != line:
                reasons.append(f"Linha repetida: o CNPJ {cnpj_rules.format_cnpj(cnpj)} na competência {competencia} "
                               f"já aparece na linha {first}.")
        return {"linha": line, "cnpj": cnpj, "competencia": competencia, "acao": acao}, reasons

    def check(self, batch: list) -> tuple[list, list]:
        """A batch of (line, cells) -> ([values] good, [(line, reason)] bad), in line order."""
        parsed = [self.parse(line, cells) + (line,) for line, cells in batch]
        cnpjs = {v["cnpj"] for v, reasons, _ in parsed if v and not reasons}
        clientes = _clientes(cnpjs)
        processos = _processos({c.id for c in clientes.values()},
                               {v["competencia"] for v, reasons, _ in parsed if v and not reasons})
        good, bad = [], []
        for values, reasons, line in parsed:
            if not reasons:
                reasons = _database_reasons(values, clientes, processos)
            if reasons:
                bad.append((line, " ".join(reasons)))
            else:
                good.append(values)
        return good, bad


def _database_reasons(values, clientes, processos) -> list[str]:
    cliente = clientes.get(values["cnpj"])
    if cliente is None:
        return [f"CNPJ {cnpj_rules.format_cnpj(values['cnpj'])} não cadastrado."]
    if not cliente.ativo:
        return [f"Cliente {cliente.nome} ({cnpj_rules.format_cnpj(cliente.cnpj)}) está inativo."]
    if not cliente.operadora_ativa:
        return [f"Operadora {cliente.operadora_codigo} está inativa."]
    processo = processos.get((cliente.id, values["competencia"]))
    operadora = SimpleNamespace(possui_rpa=cliente.possui_rpa, codigo=cliente.operadora_codigo)
    reason = status_reason(values["acao"], values["competencia"], processo, operadora)
    if reason:
        return [reason]
    values["cliente_id"] = cliente.id
    values["processo_id"] = processo.id if processo is not None else None
    return []


def _clientes(cnpjs) -> dict:
    if not cnpjs:
        return {}
    rows = db.session.execute(
        select(Cliente.id, Cliente.cnpj, Cliente.nome, Cliente.ativo, Operadora.codigo.label("operadora_codigo"),
               Operadora.ativo.label("operadora_ativa"), Operadora.possui_rpa)
        .join(Operadora, Operadora.id == Cliente.operadora_id).where(in_values(Cliente.cnpj, cnpjs, String)))
    return {row.cnpj: row for row in rows}


def _processos(cliente_ids, competencias) -> dict:
    """(cliente_id, competência) -> (id, status, ativa: whether a run of it is active)."""
    if not cliente_ids or not competencias:
        return {}
    active = exists().where(Execucao.processo_id == Processo.id, Execucao.status.in_(StatusExecucao.ACTIVE))
    rows = db.session.execute(
        select(Processo.id, Processo.cliente_id, Processo.competencia, Processo.status, active.label("ativa"))
        .where(in_values(Processo.cliente_id, cliente_ids, Uuid), in_values(Processo.competencia, competencias, String)))
    return {(row.cliente_id, row.competencia): row for row in rows}


def check_batches(path: Path):
    """Yield (good, bad) per batch of rows; writes nothing."""
    with open_csv(path) as csvfile:
        checker = Checker(csvfile.columns, csvfile.width)
        while batch := list(islice(csvfile.rows, BATCH)):
            yield checker.check(batch)
