"""Reading and checking a CSV of clientes: encoding, separator, header, a reason per bad row.

Nothing here writes: the preview and both passes of an import use it. The file is
streamed (csv.reader over a text wrapper of the stored upload) and checked in batches, so
memory stays bounded whatever the number of rows (only a dict of the CNPJs seen grows).
"""
import codecs
import csv
import io
import time
import unicodedata
import uuid
from collections import namedtuple
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from flask import current_app
from sqlalchemy import ARRAY, String, any_, bindparam, select

from apps.clientes import cnpj as cnpj_rules
from apps.clientes.models import Cliente
from apps.core.errors import ServiceError
from apps.core.types import db
from apps.operadoras.models import Operadora

REQUIRED = ("nome", "cnpj", "operadora")
OPTIONAL = ("codigo", "ativo")
BATCH = 1000
CHUNK = 1 << 16
ENCODINGS = ("utf-8-sig", "cp1252")  # tried strictly in order; a file that is neither is refused
ENCODING_LABELS = {"utf-8-sig": "UTF-8", "cp1252": "Latin-1 (Windows-1252)"}
TRUE_VALUES = {"", "sim", "s", "true", "1", "verdadeiro"}
FALSE_VALUES = {"não", "nao", "n", "false", "0", "falso"}
MAX_NOME, MAX_CODIGO, MAX_SHOWN = 200, 60, 40
MAX_ORIGINAL = 1000  # characters of a bad row kept in the report (a real row is far shorter)
CNPJ_13 = "CNPJ com 13 dígitos: o Excel pode ter removido o zero à esquerda; formate a coluna como texto."
# A real header is under 100 characters and a real row under 1,000: anything far longer is a broken or
# hostile file, refused before it is read into memory or handed to the csv module (whose own field
# limit, 131,072 characters, would otherwise raise an error in English).
MAX_HEADER_CHARS, MAX_LINE_CHARS = 4096, 16384
HEADER_HELP = "O cabeçalho deve ter as colunas nome, cnpj e operadora, e opcionalmente codigo e ativo."
SAVE_AS_CSV = "No Excel, use Salvar como › CSV UTF-8 (separado por vírgulas ou ponto e vírgula)."
BINARY = f"O arquivo não é um CSV de texto (parece uma planilha ou outro arquivo binário). {SAVE_AS_CSV}"
SEPARATORS = ";,"
OTHER_SEPARATORS = "\t|"

OperadoraRef = namedtuple("OperadoraRef", "id codigo ativo")


class ImportFileError(ServiceError, ValueError):
    """A file that cannot be read as a CSV of clientes: 400 (not a CSV) or 422 (bad header)."""


# --- reading ----------------------------------------------------------------------------

def _thousands(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes strictly, else Windows-1252; a binary
    file (NUL bytes) or one with bytes that are text in neither is refused (422)."""
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        offset = 0
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    if b"\x00" in chunk:
                        raise ImportFileError(BINARY, 422, {"arquivo": "CSV esperado"})
                    decoder.decode(chunk)
                    offset += len(chunk)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError as exc:
            position = max(0, offset + exc.start)
    raise ImportFileError(f"O arquivo tem bytes que não são texto em UTF-8 nem em Latin-1 (Windows-1252), perto "
                          f"do byte {_thousands(position + 1)}. {SAVE_AS_CSV}", 422, {"arquivo": "codificação inválida"})


def _csv_problem(exc: csv.Error) -> str:
    """The csv module's error (in English) said in Portuguese."""
    text = str(exc)
    if "field larger than field limit" in text:
        return f"um campo tem mais de {_thousands(csv.field_size_limit())} caracteres"
    if "new-line character" in text:
        return "uma quebra de linha aparece fora de um campo entre aspas"
    return "o conteúdo não está no formato CSV (aspas ou separadores fora do lugar)"


def _bounded_lines(fh, kind="de clientes"):
    """The file's lines, each read at most MAX_LINE_CHARS at a time; 422 for a longer one."""
    number = 0
    while line := fh.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise ImportFileError(f"A linha {number} do arquivo tem mais de {_thousands(MAX_LINE_CHARS)} caracteres: "
                                  f"o arquivo não parece um CSV {kind}. {SAVE_AS_CSV}", 422,
                                  {"arquivo": "linha longa demais"})
        yield line


def canonical(name: str) -> str:
    """A header cell as a column name: BOM, case, accents and spaces around it ignored."""
    text = name.replace("\ufeff", "").replace("ï»¿", "").strip().lower()
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def columns_of(header: list[str], required, optional=(), header_help: str = HEADER_HELP) -> dict[str, int]:
    """Column name -> index (case, accents and spaces ignored); 422 naming missing or repeated columns."""
    columns, repeated = {}, []
    for index, raw in enumerate(header):
        name = canonical(raw)
        if name in (*required, *optional):
            if name in columns:
                repeated.append(name)
            columns.setdefault(name, index)
    missing = [name for name in required if name not in columns]
    if missing:
        raise ImportFileError(f"Colunas obrigatórias ausentes no cabeçalho: {', '.join(missing)}. {header_help}",
                              422, {name: "coluna ausente" for name in missing})
    if repeated:
        raise ImportFileError(f"Coluna repetida no cabeçalho: {', '.join(repeated)}.", 422,
                              {name: "coluna repetida" for name in repeated})
    return columns


def parse_header(header: list[str]) -> dict[str, int]:
    """The clientes' header: nome, cnpj, operadora, and optionally codigo and ativo."""
    return columns_of(header, REQUIRED, OPTIONAL)


class StoredUploads:
    """CSV uploads kept as instance/<folder>/<token>.csv from the preview until the run ends (the clientes
    import and the lotes). A token is a generated hex name; anything else finds nothing."""

    STALE_SECONDS = 24 * 3600  # an unconfirmed preview's file is removed after a day

    def __init__(self, folder: str, check):
        self.folder, self.check = folder, check  # check(path): ImportFileError unless the whole file reads

    def dir(self) -> Path:
        folder = Path(current_app.config["INSTANCE_DIR"]) / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @staticmethod
    def valid_token(token) -> str | None:
        try:
            return uuid.UUID(hex=str(token)).hex
        except (ValueError, TypeError):
            return None

    def path_for(self, token) -> Path | None:
        """The stored file of a token, or None."""
        name = self.valid_token(token)
        path = self.dir() / f"{name}.csv" if name else None
        return path if path is not None and path.is_file() else None

    def save(self, upload) -> str:
        """Store an uploaded CSV (streamed to disk) once the whole of it reads; its token.

        A file that does not (binary, undecodable, wrong header, a huge field or line) raises ImportFileError
        and is removed, as is a partial file when the upload breaks off."""
        name = (getattr(upload, "filename", None) or "").strip()
        if not name:
            raise ImportFileError("Envie o arquivo CSV no campo 'arquivo'.", 400, {"arquivo": "obrigatório"})
        if not name.lower().endswith((".csv", ".txt")):
            raise ImportFileError("O arquivo deve ser um CSV (extensão .csv).", 400, {"arquivo": "CSV esperado"})
        self.sweep_stale()
        target = self.dir() / f"{uuid.uuid4().hex}.csv"
        try:
            upload.save(target)
            self.check(target)  # now, not mid-run
        except BaseException:
            target.unlink(missing_ok=True)  # refused, or the upload broke off: nothing stays on disk
            raise
        return target.stem

    def delete(self, token) -> None:
        """Remove a stored upload and what its preview kept beside it (<token>.*)."""
        name = self.valid_token(token)
        if name:
            for path in self.dir().glob(f"{name}.*"):
                path.unlink(missing_ok=True)

    def sweep_stale(self) -> None:
        """Remove previews nobody confirmed."""
        limit = time.time() - self.STALE_SECONDS
        for path in self.dir().iterdir():
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)


@dataclass
class CsvFile:
    encoding: str
    delimiter: str
    columns: dict
    width: int
    rows: object  # iterator of (line, cells)

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS.get(self.encoding, self.encoding)


def _numbered(reader):
    """(first line of the row in the file, cells); blank rows are skipped."""
    last = reader.line_num
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if any(cell.strip() for cell in row):
                yield start, row
    except csv.Error as exc:
        raise ImportFileError(f"O arquivo não pôde ser lido perto da linha {last + 1}: {_csv_problem(exc)}.",
                              422, {"arquivo": "CSV inválido"}) from exc


def _delimiter(first: str, header_help: str = HEADER_HELP) -> str:
    """';' or ',' (whichever the header has more of); 422 for a header split by another character."""
    if not any(sep in first for sep in SEPARATORS) and any(sep in first for sep in OTHER_SEPARATORS):
        raise ImportFileError("Separador de colunas não reconhecido: separe as colunas com ponto e vírgula (;) "
                              f"ou vírgula (,). {header_help}", 422, {"arquivo": "separador não reconhecido"})
    return ";" if first.count(";") > first.count(",") else ","


@contextmanager
def open_csv(path: Path, parse=None, kind="de clientes", header_help=HEADER_HELP):
    """Open a stored CSV: detect encoding and separator, read and check the header (`parse`: header cells ->
    column indexes, ImportFileError when wrong; the clientes' header by default)."""
    parse = parse or parse_header
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, newline="") as fh:
        first = fh.readline(MAX_HEADER_CHARS + 1)
        if len(first) > MAX_HEADER_CHARS:
            raise ImportFileError(f"A primeira linha (o cabeçalho) tem mais de {_thousands(MAX_HEADER_CHARS)} "
                                  f"caracteres: o arquivo não parece um CSV {kind}. {header_help}", 422,
                                  {"arquivo": "cabeçalho longo demais"})
        if not first.strip():
            raise ImportFileError(f"O arquivo está vazio ou a primeira linha está em branco. {header_help}")
        delimiter = _delimiter(first, header_help)
        fh.seek(0)
        reader = csv.reader(_bounded_lines(fh, kind), delimiter=delimiter)
        try:
            header = next(reader)
        except csv.Error as exc:
            raise ImportFileError(f"O cabeçalho não pôde ser lido: {_csv_problem(exc)}. {header_help}", 422,
                                  {"arquivo": "CSV inválido"}) from exc
        yield CsvFile(encoding, delimiter, parse(header), len(header), _numbered(reader))


def check_header(path: Path) -> None:
    """Raise ImportFileError unless the file can be read and its header has the required columns."""
    with open_csv(path):
        pass


def check_file(path: Path) -> None:
    """Raise ImportFileError unless the whole file reads as a CSV of clientes (rows are not checked)."""
    with open_csv(path) as csvfile:
        for _ in csvfile.rows:
            pass


# --- checking ---------------------------------------------------------------------------

def _show(value: str) -> str:
    return f"“{value[:MAX_SHOWN]}…”" if len(value) > MAX_SHOWN else f"“{value}”"


def parse_ativo(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    return None


def load_operadoras() -> dict:
    """Every operadora by exact codigo and by upper-case codigo."""
    refs = [OperadoraRef(*row) for row in db.session.execute(select(Operadora.id, Operadora.codigo, Operadora.ativo))]
    by_code = {ref.codigo.upper(): ref for ref in refs}
    by_code.update({ref.codigo: ref for ref in refs})
    return by_code


def existing_cnpjs(cnpjs: list[str]) -> set[str]:
    """The CNPJs already registered (PostgreSQL gets one array parameter instead of 1,000)."""
    if not cnpjs:
        return set()
    if db.session.get_bind().dialect.name == "postgresql":
        condition = Cliente.cnpj == any_(bindparam("cnpjs", cnpjs, type_=ARRAY(String)))
    else:
        condition = Cliente.cnpj.in_(cnpjs)
    return set(db.session.scalars(select(Cliente.cnpj).where(condition)))


@dataclass
class RowChecker:
    """Checks rows against the file read so far and the database.

    `rechecking`: the import's second pass over rows the first pass already checked. It skips
    the CNPJ check digits (a pure function of the unchanged file) and the "already registered"
    lookup (the unique index answers instead; a lookup per batch in a growing uncommitted table
    is slow), and still checks the operadoras, which may have changed.
    """

    columns: dict
    width: int
    delimiter: str = ";"
    operadoras: dict = field(default_factory=load_operadoras)
    seen: dict = field(default_factory=dict)  # CNPJ -> first line
    rechecking: bool = False

    def _cells(self, cells: list[str]) -> dict | None:
        if len(cells) > self.width and not any(c.strip() for c in cells[self.width:]):
            cells = cells[:self.width]  # trailing empty cells, as spreadsheets often write
        if len(cells) != self.width:
            return None
        return {name: cells[index].strip() for name, index in self.columns.items()}

    def _operadora(self, codigo: str, reasons: list):
        ref = self.operadoras.get(codigo) or self.operadoras.get(codigo.upper())
        if ref is None:
            reasons.append(f"Operadora {_show(codigo)} não cadastrada.")
        elif not ref.ativo:
            reasons.append(f"Operadora {ref.codigo} está inativa.")
        else:
            return ref.id
        return None

    def parse(self, line: int, cells: list[str]) -> tuple[dict | None, list[str]]:
        """The row's values for the insert and the reasons it is bad (database not consulted)."""
        raw = self._cells(cells)
        if raw is None:
            return None, [f"Número de colunas errado: {len(cells)} em vez de {self.width}."]
        reasons = []
        missing = [name for name in REQUIRED if not raw[name]]
        if missing:
            reasons.append(f"Campo obrigatório vazio: {', '.join(missing)}.")
        if len(raw["nome"]) > MAX_NOME:
            reasons.append(f"Nome com mais de {MAX_NOME} caracteres.")
        codigo = raw.get("codigo", "")
        if len(codigo) > MAX_CODIGO:
            reasons.append(f"Código com mais de {MAX_CODIGO} caracteres.")
        if self.rechecking:
            cnpj = cnpj_rules.clean(raw["cnpj"]) or None
        else:
            cnpj = cnpj_rules.clean(raw["cnpj"]) if cnpj_rules.is_valid(raw["cnpj"]) else None
        if raw["cnpj"] and cnpj is None:
            bare = cnpj_rules.clean(raw["cnpj"])
            hint = CNPJ_13 if len(bare) == 13 and bare.isdigit() else "Confira os 14 caracteres e os dígitos verificadores."
            reasons.append(f"CNPJ inválido {_show(raw['cnpj'])}. {hint}")
        operadora_id = self._operadora(raw["operadora"], reasons) if raw["operadora"] else None
        ativo = parse_ativo(raw.get("ativo", ""))
        if ativo is None:
            reasons.append(f"Valor inválido em ativo {_show(raw['ativo'])}: use sim, não, true, false, 1 ou 0.")
        if cnpj is not None:
            first = self.seen.setdefault(cnpj, line)
            if first != line:
                reasons.append(f"CNPJ repetido no arquivo (primeira ocorrência na linha {first}).")
        values = {"nome": raw["nome"], "cnpj": cnpj, "codigo": codigo or None, "operadora_id": operadora_id,
                  "ativo": ativo}
        return values, reasons

    def original(self, cells: list[str]) -> str:
        """The row as the file had it (its cells joined by the file's separator), for the report."""
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="").writerow(cells)
        text = buffer.getvalue()
        return text[:MAX_ORIGINAL] + "…" if len(text) > MAX_ORIGINAL else text

    def check(self, batch: list) -> tuple[list, list]:
        """A batch of (line, cells) -> ([(line, values)] good, [(line, reason, original row)] bad), in line order."""
        parsed = [(line, cells, *self.parse(line, cells)) for line, cells in batch]
        cnpjs = [] if self.rechecking else [v["cnpj"] for _, _, v, _ in parsed if v and v["cnpj"]]
        taken = existing_cnpjs(cnpjs)
        good, bad = [], []
        for line, cells, values, reasons in parsed:
            if values and values["cnpj"] in taken:
                reasons.append(f"CNPJ {cnpj_rules.format_cnpj(values['cnpj'])} já cadastrado.")
            if reasons:
                bad.append((line, " ".join(reasons), self.original(cells)))
            else:
                good.append((line, values))
        return good, bad


def check_batches(path: Path, on_open=None, rechecking: bool = False):
    """Yield (good, bad, last line read) per batch of rows; writes nothing."""
    with open_csv(path) as csvfile:
        if on_open is not None:
            on_open(csvfile)
        checker = RowChecker(csvfile.columns, csvfile.width, csvfile.delimiter, rechecking=rechecking)
        while batch := list(islice(csvfile.rows, BATCH)):
            good, bad = checker.check(batch)
            yield good, bad, batch[-1][0]


@dataclass
class Preview:
    encoding: str
    delimiter: str
    validas: int = 0
    invalidas: int = 0
    linhas: list = field(default_factory=list)  # the first `limit` (line, reason, original row)

    @property
    def total(self) -> int:
        return self.validas + self.invalidas

    @property
    def erros(self) -> list:
        """The first `limit` (line, reason)."""
        return [(line, reason) for line, reason, _ in self.linhas]


def preview(path: Path, limit: int = 200) -> Preview:
    """Counts and the first `limit` errors of a stored file; nothing is written."""
    result = Preview("", "")

    def describe(csvfile):
        result.encoding, result.delimiter = csvfile.encoding_label, csvfile.delimiter

    for good, bad, _ in check_batches(path, on_open=describe):
        result.validas += len(good)
        result.invalidas += len(bad)
        result.linhas.extend(bad[:max(0, limit - len(result.linhas))])
    return result


def iter_errors(path: Path):
    """Every (line, reason, original row) of a stored file, streamed."""
    for _, bad, _ in check_batches(path):
        yield from bad
