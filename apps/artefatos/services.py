"""Artefatos: every file a run produces, recorded once and kept as long as its kind's policy says."""


class Kind:
    FATURA = "FATURA"
    LOG = "LOG"
    PROTOCOLO = "PROTOCOLO"
    ARQUIVO = "ARQUIVO"
    ALL = (FATURA, LOG, PROTOCOLO, ARQUIVO)


def keep(execucao, kind: str, *, name: str, path, content_type: str, sha256: str, size: int):
    """Move the checked file at `path` (a temporary file, already size-limited and sha256-checked)
    into artifact storage and record it for `execucao`; return the Artefato. Flushes, never commits.

    Interface placeholder: the artefatos work fills it in (storage backends, retention).
    """
    raise NotImplementedError
