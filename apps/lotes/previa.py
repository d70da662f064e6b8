"""A stored upload's preview, checked once: its counts in <token>.resumo.json and every bad row in
<token>.erros.txt (one "line<TAB>reason" a line), so paging through the bad rows of a 100,000-row file, or
downloading them, reads a small text file instead of checking the CSV against the database again.

A preview is a snapshot; confirming checks the file again (apps.lotes.services.run).
"""
import json
from dataclasses import dataclass
from itertools import islice

from apps.lotes import arquivo


@dataclass
class Resumo:
    linhas: int
    validas: int

    @property
    def invalidas(self) -> int:
        return self.linhas - self.validas


def _files(token):
    base = arquivo.lotes_dir() / arquivo.valid_token(token)
    return base.with_suffix(".resumo.json"), base.with_suffix(".erros.txt")


def resumo(token) -> Resumo:
    """The counts of the stored upload `token` (checking it now unless it was checked before)."""
    summary_path, errors_path = _files(token)
    if summary_path.is_file():
        return Resumo(**json.loads(summary_path.read_text(encoding="utf-8")))
    linhas = validas = 0
    partial = errors_path.with_suffix(".parcial")
    with open(partial, "w", encoding="utf-8") as out:
        for good, bad in arquivo.check_batches(arquivo.path_for(token)):
            linhas += len(good) + len(bad)
            validas += len(good)
            out.writelines(f"{linha}\t{' '.join(motivo.split())}\n" for linha, motivo in bad)
    partial.replace(errors_path)
    summary_path.write_text(json.dumps({"linhas": linhas, "validas": validas}), encoding="utf-8")
    return Resumo(linhas, validas)


def erros(token, offset: int = 0, limit: int | None = None):
    """(line, reason) of the checked upload's bad rows, from `offset`, at most `limit`, streamed."""
    resumo(token)
    _, errors_path = _files(token)
    with open(errors_path, encoding="utf-8") as fh:
        for text in islice(fh, offset, None if limit is None else offset + limit):
            linha, _, motivo = text.rstrip("\n").partition("\t")
            yield int(linha), motivo
