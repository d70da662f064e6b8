"""Generic robot tasks (contract 1.1, /tarefas): their parametros schemas and what they produce."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from .pdf import build_pdf

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
OPERADORA = {"type": "string", "pattern": "^[A-Za-z0-9_-]{2,20}$",
             "description": "código da operadora (VIVO, EMBRATEL, OI, ...), sem distinção de maiúsculas"}
CNPJ = {"type": "string", "pattern": "^[0-9A-Z]{12}\\d{2}$", "description": "14 caracteres, sem pontuação"}
COMPETENCIA = {"type": "string", "pattern": "^\\d{4}-(0[1-9]|1[0-2])$", "description": "AAAA-MM"}
PROTOCOLO = {"type": "string", "pattern": "^SAT-\\d{4}-\\d{6}$", "description": "protocolo SAT-AAAA-NNNNNN"}


@dataclass(frozen=True)
class Produced:
    """What a successful task run leaves: files (name, content type, bytes), dados, summary."""

    files: list
    dados: dict
    summary: str


@dataclass(frozen=True)
class Task:
    """One generic task the robots know."""

    nome: str
    descricao: str
    parametros: dict  # JSON Schema of the task's parametros
    errors: tuple  # failure messages; formatted with the parametros

    def describe(self) -> dict:
        """The task as listed by GET /tarefas."""
        return {"nome": self.nome, "descricao": self.descricao, "parametros": self.parametros}

    def messages(self, params: dict) -> list[tuple[str, str]]:
        """Log lines of a run, most informative first."""
        return MESSAGES[self.nome](params)

    def produce(self, params: dict, rng: random.Random) -> Produced:
        """Files and structured output of a successful run."""
        return PRODUCERS[self.nome](params, rng)

    def error(self, params: dict, rng: random.Random) -> str:
        """A plausible failure message."""
        return rng.choice(self.errors).format(**_fmt(params))


def _schema(required: list[str], properties: dict) -> dict:
    """A closed object schema."""
    return {"$schema": SCHEMA_DIALECT, "type": "object", "required": required,
            "properties": properties, "additionalProperties": False}


def _fmt(params: dict) -> dict:
    """Parametros ready to format messages (operator code upper-cased)."""
    values = {"op": "", "cnpj": "", "comp": "", "protocolo": ""}
    values.update(op=str(params.get("operadora", "")).upper(), cnpj=params.get("cnpj", ""),
                  comp=params.get("competencia", ""), protocolo=params.get("protocolo", ""))
    return values


def _money(value: Decimal) -> str:
    """BRL decimal string, like the contract's valor."""
    return f"{value.quantize(Decimal('0.01'))}"


def _linha_digitavel(rng: random.Random) -> str:
    """A boleto's typeable line (random digits, the usual grouping)."""
    digits = "".join(str(rng.randint(0, 9)) for _ in range(47))
    return (f"{digits[0:5]}.{digits[5:10]} {digits[10:15]}.{digits[15:21]} "
            f"{digits[21:26]}.{digits[26:32]} {digits[32]} {digits[33:]}")


def _segunda_via(params: dict, rng: random.Random) -> Produced:
    """One invoice PDF for the month, plus its number, value and due date."""
    op, cnpj, comp = str(params["operadora"]).upper(), params["cnpj"], params["competencia"]
    year, month = (int(part) for part in comp.split("-"))
    numero = str(rng.randint(10**9, 10**10 - 1))
    valor = _money(Decimal(str(round(rng.uniform(40, 9000), 2))))
    vencimento = (date(year, month, 1) + timedelta(days=rng.randint(10, 25))).isoformat()
    linha = _linha_digitavel(rng)
    pdf = build_pdf([f"Segunda via - Fatura {numero} - {op}", f"CNPJ: {cnpj}", f"Competencia: {comp}",
                     f"Valor: R$ {valor}", f"Vencimento: {vencimento}", f"Linha digitavel: {linha}"])
    name = f"segunda_via_{op.lower()}_{cnpj}_{comp}.pdf"
    dados = {"operadora": op, "cnpj": cnpj, "competencia": comp, "numero": numero, "valor": valor,
             "vencimento": vencimento, "linha_digitavel": linha}
    return Produced([(name, "application/pdf", pdf)], dados, f"segunda via {name} emitida")


def _consulta_debitos(params: dict, rng: random.Random) -> Produced:
    """A CSV of the client's open invoices at the operator, and their totals."""
    op, cnpj = str(params["operadora"]).upper(), params["cnpj"]
    today = datetime.now(UTC).date()
    rows, total, overdue = [], Decimal("0"), Decimal("0")
    for back in range(rng.randint(0, 4), 0, -1):
        month_start = (today.replace(day=1) - timedelta(days=28 * back)).replace(day=1)
        vencimento = month_start + timedelta(days=rng.randint(10, 25))
        valor = Decimal(str(round(rng.uniform(40, 4000), 2)))
        vencida = vencimento < today
        if params.get("somente_vencidos") and not vencida:
            continue
        total += valor
        overdue += valor if vencida else 0
        rows.append((str(rng.randint(10**9, 10**10 - 1)), month_start.strftime("%Y-%m"),
                     vencimento.isoformat(), _money(valor), "vencida" if vencida else "em aberto"))
    lines = ["numero;competencia;vencimento;valor;situacao"] + [";".join(row) for row in rows]
    csv = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    name = f"debitos_{op.lower()}_{cnpj}_{today.isoformat()}.csv"
    dados = {"operadora": op, "cnpj": cnpj, "consultado_em": today.isoformat(), "quantidade": len(rows),
             "total": _money(total), "total_vencido": _money(overdue)}
    return Produced([(name, "text/csv; charset=utf-8", csv)], dados,
                    f"{len(rows)} débito(s) encontrado(s), total R$ {_money(total)}")


def _reenvio_sat(params: dict, rng: random.Random) -> Produced:
    """No file; the SAT's new receipt for the protocol."""
    protocolo = params["protocolo"]
    dados = {"protocolo": protocolo, "situacao": "reenviado",
             "recibo": f"REC-{rng.randint(10**7, 10**8 - 1)}", "faturas_reenviadas": rng.randint(1, 5)}
    return Produced([], dados, f"protocolo {protocolo} reenviado ao SAT")


def _segunda_via_messages(params: dict) -> list[tuple[str, str]]:
    """Log lines of a segunda_via_fatura run."""
    v = _fmt(params)
    return [("INFO", f"Acessando portal {v['op']} para o CNPJ {v['cnpj']}"),
            ("INFO", f"Login realizado no portal {v['op']}"),
            ("DEBUG", "Navegando até a seção 'Segunda via'"),
            ("INFO", f"Solicitando segunda via da competência {v['comp']}"),
            ("WARNING", f"Portal {v['op']} lento: resposta acima de 5 s"),
            ("DEBUG", "Baixando PDF da segunda via"),
            ("INFO", "Conferindo integridade do PDF")]


def _consulta_messages(params: dict) -> list[tuple[str, str]]:
    """Log lines of a consulta_debitos run."""
    v = _fmt(params)
    return [("INFO", f"Acessando portal {v['op']} para o CNPJ {v['cnpj']}"),
            ("INFO", f"Login realizado no portal {v['op']}"),
            ("DEBUG", "Navegando até a seção 'Débitos em aberto'"),
            ("INFO", "Lendo a tabela de débitos"),
            ("DEBUG", "Gerando CSV dos débitos")]


def _reenvio_messages(params: dict) -> list[tuple[str, str]]:
    """Log lines of a reenvio_protocolo_sat run."""
    protocolo = params.get("protocolo", "")
    return [("INFO", f"Acessando SAT para reenviar o protocolo {protocolo}"),
            ("DEBUG", "Autenticando no SAT"),
            ("INFO", f"Localizando o protocolo {protocolo}"),
            ("WARNING", "SAT demorou a responder; aguardando confirmação"),
            ("INFO", "Confirmação recebida do SAT")]


PRODUCERS = {"segunda_via_fatura": _segunda_via, "consulta_debitos": _consulta_debitos,
             "reenvio_protocolo_sat": _reenvio_sat}
MESSAGES = {"segunda_via_fatura": _segunda_via_messages, "consulta_debitos": _consulta_messages,
            "reenvio_protocolo_sat": _reenvio_messages}

TASKS = {task.nome: task for task in (
    Task("segunda_via_fatura",
         "Emite a segunda via da fatura de um cliente numa operadora, para uma competência (PDF).",
         _schema(["operadora", "cnpj", "competencia"],
                 {"operadora": OPERADORA, "cnpj": CNPJ, "competencia": COMPETENCIA}),
         ("fatura da competência {comp} não encontrada no portal {op}",
          "tempo esgotado ao acessar o portal {op}")),
    Task("consulta_debitos",
         "Consulta os débitos em aberto de um cliente numa operadora (CSV e totais em dados).",
         _schema(["operadora", "cnpj"],
                 {"operadora": OPERADORA, "cnpj": CNPJ,
                  "somente_vencidos": {"type": "boolean", "default": False,
                                       "description": "lista só os débitos vencidos"}}),
         ("portal {op} indisponível para consulta de débitos", "credenciais recusadas pelo portal {op}")),
    Task("reenvio_protocolo_sat",
         "Reenvia ao SAT as faturas de um protocolo já registrado (recibo em dados).",
         _schema(["protocolo"],
                 {"protocolo": PROTOCOLO,
                  "motivo": {"type": "string", "maxLength": 200, "description": "motivo do reenvio"}}),
         ("protocolo {protocolo} não encontrado no SAT", "SAT indisponível no momento")),
)}
