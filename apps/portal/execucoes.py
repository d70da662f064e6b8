"""The life of a SERVICO run, as the worker records it: what its start sends, and how it ends with the
task's files (kept as artefatos) and its structured output (result.dados)."""
import json

from sqlalchemy import update

from apps.artefatos import services as artefatos
from apps.core.types import db, utcnow
from apps.processos.execucoes import FaturaInvalida
from apps.processos.models import Execucao, StatusExecucao, TipoExecucao
from apps.rpa.answers import clean_text
from apps.rpa.client import RpaRejected

MAX_DADOS_BYTES = 256 * 1024
NO_TASKS = ("O servidor RPA não oferece tarefas genéricas (/tarefas, contrato 1.1): este serviço não pode "
            "ser executado nele.")


def is_servico(execucao) -> bool:
    return execucao.tipo == TipoExecucao.SERVICO


def start(client, execucao) -> dict:
    """POST /tarefas/{tarefa} with the body stored when the run was asked for; a 404 says which part is
    missing on that server (no /tarefas at all, or not this task)."""
    body = execucao.parametros or {}
    tarefa = body.get("tarefa") or ""
    try:
        return client.start_tarefa(tarefa, parametros=body.get("parametros") or {}, operadora=body.get("operadora"),
                                   runtime_arguments=body.get("runtime_arguments"),
                                   runtime_env=body.get("runtime_env"), idempotency_key=execucao.idempotency_key)
    except RpaRejected as exc:
        if exc.status != 404:
            raise
        raise RpaRejected(_missing(client, tarefa, exc), status=404, detail=exc.detail) from None


def _missing(client, tarefa, exc) -> str:
    try:
        known = [t["nome"] for t in client.list_tarefas()]
    except RpaRejected as listing:
        if listing.status == 404:
            return NO_TASKS
        known = None
    except Exception:  # noqa: BLE001 - only to word the message; the start's 404 is the answer
        known = None
    if known is not None and tarefa not in known:
        return (f"O servidor RPA não conhece a tarefa '{tarefa}'"
                + (f" (tarefas disponíveis: {', '.join(known[:10])})." if known else "."))
    return f"O servidor RPA recusou a tarefa '{tarefa}' (HTTP 404): {exc.detail or 'sem detalhe'}."


def validar_arquivo(meta: dict, download) -> None:
    """A fetched file must be what the robot declared (sha256, size)."""
    name = meta["arquivo"]
    if meta.get("sha256") and meta["sha256"] != download.sha256:
        raise FaturaInvalida(f"Arquivo {name}: o sha256 não confere com o informado pela API "
                             f"(esperado {meta['sha256'][:12]}…, recebido {download.sha256[:12]}…).")
    if meta.get("tamanho") not in (None, download.size):
        raise FaturaInvalida(f"Arquivo {name}: tamanho diferente do informado.")


def _dados(dados):
    if dados is None:
        return None
    if len(json.dumps(dados, ensure_ascii=False).encode("utf-8")) > MAX_DADOS_BYTES:
        return {"aviso": f"dados maiores que {MAX_DADOS_BYTES // 1024} KB não foram guardados"}
    return dados


def concluir(execucao, arquivos: list, dados, note: str | None = None) -> bool:
    """Keep each checked file (pairs of meta and Download) as an ARQUIVO artefato, store result.dados and
    finish the run, in one transaction; False (nothing kept) when the run had already ended."""
    for meta, download in arquivos:
        validar_arquivo(meta, download)
    try:
        for meta, download in arquivos:
            artefatos.keep(execucao, artefatos.Kind.ARQUIVO, name=clean_text(meta["arquivo"], 255), path=download.path,
                           content_type=meta["content_type"], sha256=download.sha256, size=download.size)
        texto = f"{len(arquivos)} arquivo(s) recebido(s)." if arquivos else "Concluída sem arquivos."
        result = db.session.execute(
            update(Execucao).where(Execucao.id == execucao.id, Execucao.status == StatusExecucao.EXECUTANDO)
            .values(status=StatusExecucao.CONCLUIDO, data_fim=utcnow(), updated_at=utcnow(), resultado=_dados(dados),
                    mensagem=(f"{texto} {note}" if note else texto)[:4000])
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            db.session.rollback()
            return False
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.refresh(execucao)
    return True
