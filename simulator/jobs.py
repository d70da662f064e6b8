"""Job model and the plan (timed steps) that carries a job from PENDING to its end."""
from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from .pdf import build_pdf
from .tasks import TASKS

DOWNLOAD, SAT, TAREFA = "download", "sat", "tarefa"
PENDING, RUNNING, COMPLETED, FAILED = "PENDING", "RUNNING", "COMPLETED", "FAILED"
TERMINAL = frozenset({COMPLETED, FAILED})
CANCELLED_ERROR = "cancelado a pedido do dashboard"
DOWNLOAD_ERRORS = (
    "tempo esgotado ao acessar o portal {op}",
    "credenciais recusadas pelo portal {op}",
    "layout do portal {op} mudou: seção de faturas não encontrada",
)
SAT_ERRORS = ("SAT indisponível no momento", "sessão expirada no SAT durante o envio")


def now_iso() -> str:
    """Current UTC time, ISO 8601 with milliseconds and a trailing Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Job:
    """One robot run and everything the API reports about it."""

    tipo: str
    operadora: str | None
    body: dict
    tarefa: str | None = None  # the task's name when tipo is "tarefa"
    job_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = PENDING
    created_at: str = field(default_factory=now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    result: dict | None = None
    logs: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    hold_from: int | None = None  # lines from this index on are not on /logs yet (logs_lag)
    hold_until: float = 0.0       # time.monotonic() when they show
    cancel_requested: bool = False  # POST /jobs/{id}/cancel seen; ends FAILED after cancel_delay

    def to_json(self) -> dict:
        """The Job schema of the contract (plus competencia and cliente_id; parametros for tasks)."""
        data = {
            "job_id": self.job_id, "tipo": self.tipo, "operadora": self.operadora,
            "processo_id": self.body.get("processo_id"), "status": self.status,
            "created_at": self.created_at, "started_at": self.started_at,
            "finished_at": self.finished_at, "error": self.error, "result": self.result,
            "competencia": self.body.get("competencia"),
            "cliente_id": (self.body.get("cliente") or {}).get("id"),
        }
        if self.tipo == TAREFA:
            data["tarefa"] = self.tarefa
            data["parametros"] = self.body.get("parametros")
        return data

    def add_log(self, level: str, message: str) -> dict:
        """Append a LogLine with the next seq and return it."""
        line = {
            "seq": len(self.logs) + 1, "type": "log", "level": level, "message": message,
            "operadora": self.operadora, "job_id": self.job_id, "timestamp": now_iso(),
            "service": SERVICES.get(self.tipo, "rpa-sat"), "logger": self._logger(),
        }
        self.logs.append(line)
        return line

    def _logger(self) -> str:
        """Logger name of the job's log lines."""
        if self.tipo == TAREFA:
            return f"tarefas.{self.tarefa}"
        return f"robots.{self.operadora.lower()}" if self.operadora else "sat.uploader"


SERVICES = {DOWNLOAD: "rpa-robots", SAT: "rpa-sat", TAREFA: "rpa-tarefas"}


@dataclass
class Step:
    """Something that happens to a job `at` seconds after its creation."""

    at: float
    kind: str  # "log" | "start" | "finish"
    level: str = "INFO"
    message: str = ""
    outcome: dict | None = None


def build_invoices(job: Job, rng: random.Random, corrupt: bool) -> tuple[list, dict]:
    """Invent 1-3 invoices with real PDF bytes; corrupt=True lies about the first sha256."""
    cliente, comp, op = job.body["cliente"], job.body["competencia"], job.operadora
    year, month = (int(part) for part in comp.split("-"))
    faturas, files = [], {}
    for index in range(1, rng.randint(1, 3) + 1):
        numero = str(rng.randint(10**9, 10**10 - 1))
        valor = f"{rng.uniform(40, 9000):.2f}"
        emissao = date(year, month, 1) + timedelta(days=rng.randint(0, 9))
        vencimento = emissao + timedelta(days=rng.randint(10, 25))
        arquivo = f"{op.lower()}_{cliente['cnpj']}_{comp}_{index}.pdf"
        data = build_pdf([
            f"Fatura {numero} - {op}", f"Cliente: {cliente['nome']}", f"CNPJ: {cliente['cnpj']}",
            f"Competencia: {comp}", f"Valor: R$ {valor}", f"Vencimento: {vencimento.isoformat()}",
        ])
        digest = hashlib.sha256(data).hexdigest()
        if corrupt and index == 1:
            digest = hashlib.sha256(b"corrompido" + data).hexdigest()
        files[arquivo] = data
        faturas.append({
            "numero": numero, "valor": valor, "emissao": emissao.isoformat(),
            "vencimento": vencimento.isoformat(), "arquivo": arquivo,
            "sha256": digest, "tamanho": len(data),
        })
    return faturas, files


def _download_messages(job: Job, faturas: list) -> list[tuple[str, str]]:
    """Log lines of a download run, most informative first."""
    op, comp, nome = job.operadora, job.body["competencia"], job.body["cliente"]["nome"]
    lines = [("INFO", f"Acessando portal para o cliente {nome}"),
             ("DEBUG", "Iniciando navegador headless (Chromium)"),
             ("INFO", f"Login realizado no portal {op}"),
             ("DEBUG", "Navegando até a seção 'Minhas faturas'"),
             ("INFO", f"Buscando faturas da competência {comp}"),
             ("WARNING", f"Portal {op} lento: resposta acima de 5 s"),
             ("INFO", f"{len(faturas)} fatura(s) encontrada(s) para {comp}")]
    lines += [("DEBUG", f"Baixando arquivo {f['arquivo']}") for f in faturas]
    return lines + [("INFO", "Conferindo integridade dos PDFs"), ("DEBUG", "Encerrando sessão")]


def _sat_messages(job: Job) -> list[tuple[str, str]]:
    """Log lines of a SAT upload run."""
    nome, faturas = job.body["cliente"]["nome"], job.body["faturas"]
    lines = [("INFO", f"Acessando SAT para o cliente {nome}"),
             ("DEBUG", "Autenticando no SAT"),
             ("INFO", f"Enviando {len(faturas)} fatura(s) da competência {job.body['competencia']}")]
    lines += [("DEBUG", f"Enviando fatura {f['numero']} (R$ {f['valor']})") for f in faturas]
    return lines + [("WARNING", "SAT demorou a responder; aguardando confirmação"),
                    ("INFO", "Confirmação recebida do SAT")]


def _tarefa_messages(job: Job) -> list[tuple[str, str]]:
    """Log lines of a generic task run (runtime arguments and env names, never env values)."""
    lines = TASKS[job.tarefa].messages(job.body["parametros"])
    runtime = []
    if job.body.get("runtime_arguments"):
        runtime.append(("DEBUG", f"Argumentos de execução: {' '.join(job.body['runtime_arguments'])}"))
    if job.body.get("runtime_env"):
        runtime.append(("DEBUG", f"Variáveis de ambiente definidas: {', '.join(sorted(job.body['runtime_env']))}"))
    return lines[:1] + runtime + lines[1:]


def _tarefa_outcome(job: Job, rng: random.Random, fails: bool) -> dict:
    """The final status of a generic task: its files (arquivos) and dados, or an error."""
    task, params = TASKS[job.tarefa], job.body["parametros"]
    if fails:
        error = task.error(params, rng)
        return {"status": FAILED, "error": error, "result": None, "files": {},
                "line": ("ERROR", f"Job {job.job_id} falhou: {error}")}
    produced = task.produce(params, rng)
    arquivos = [{"arquivo": name, "content_type": content_type,
                 "sha256": hashlib.sha256(data).hexdigest(), "tamanho": len(data)}
                for name, content_type, data in produced.files]
    files = {name: data for name, _, data in produced.files}
    return {"status": COMPLETED, "error": None, "result": {"arquivos": arquivos, "dados": produced.dados},
            "files": files, "line": ("WARNING", f"Job {job.job_id} concluído: {produced.summary}")}


def cancel_outcome(job: Job) -> dict:
    """The end of a cancelled job: FAILED, saying so."""
    return {"status": FAILED, "error": CANCELLED_ERROR, "result": None, "files": {},
            "line": ("ERROR", f"Job {job.job_id} falhou: {CANCELLED_ERROR}")}


def _pick_messages(pool: list, count: int) -> list[tuple[str, str]]:
    """First `count` lines of the pool (at least one), padded with polling lines."""
    count = max(1, count)
    extra = [("DEBUG", f"Aguardando resposta do sistema remoto (verificação {n})")
             for n in range(1, count - len(pool) + 1)]
    return (pool + extra)[:count]


def _outcome(job: Job, rng: random.Random, fails: bool, corrupt: bool, protocolo: str) -> dict:
    """The final status, result/error, files and last log line of a job."""
    if job.tipo == TAREFA:
        return _tarefa_outcome(job, rng, fails)
    if fails:
        errors = DOWNLOAD_ERRORS if job.tipo == DOWNLOAD else SAT_ERRORS
        error = rng.choice(errors).format(op=job.operadora)
        return {"status": FAILED, "error": error, "result": None, "files": {},
                "line": ("ERROR", f"Job {job.job_id} falhou: {error}")}
    if job.tipo == SAT:
        return {"status": COMPLETED, "error": None, "result": {"protocolo": protocolo},
                "files": {}, "line": ("WARNING", f"Job {job.job_id} concluído: protocolo {protocolo}")}
    faturas, files = build_invoices(job, rng, corrupt)
    return {"status": COMPLETED, "error": None, "result": {"faturas": faturas}, "files": files,
            "line": ("WARNING", f"Job {job.job_id} concluído: {len(faturas)} fatura(s) baixada(s)")}


def build_plan(job: Job, knobs: dict, rng: random.Random, protocolo: str) -> list[Step]:
    """Timed steps: enqueue log, start, RUNNING logs spread over the duration, finish."""
    wait, duration = knobs["queue_wait"], knobs["job_duration"]
    fails = rng.random() < knobs["failure_rate"]
    outcome = _outcome(job, rng, fails, knobs["corrupt"], protocolo)
    if job.tipo == DOWNLOAD:
        pool = _download_messages(job, (outcome["result"] or {}).get("faturas", []))
    else:
        pool = _sat_messages(job) if job.tipo == SAT else _tarefa_messages(job)
    count = knobs["log_lines"] if not fails else (knobs["log_lines"] + 1) // 2
    messages = _pick_messages(pool, count)
    offsets = sorted(rng.uniform(0, duration) for _ in messages)
    steps = [Step(0.0, "log", "INFO", f"Job {job.job_id} recebido; aguardando robô disponível"),
             Step(wait, "start", "DEBUG", f"Robô alocado; iniciando job {job.job_id}")]
    steps += [Step(wait + t, "log", lvl, msg) for t, (lvl, msg) in zip(offsets, messages, strict=False)]
    steps.append(Step(wait + duration, "finish", outcome=outcome))
    return steps
