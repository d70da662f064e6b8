"""Text as people search and sort it: case and accents do not matter ("SÃO JOÃO" finds "Sao Joao")."""
import unicodedata


def search_key(text) -> str:
    """The normalised form stored beside a name and compared in searches: NFKD with the combining marks
    removed, casefolded, inner white space folded. The same on SQLite and PostgreSQL, and indexable."""
    if text is None:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())
