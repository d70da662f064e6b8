"""CSV files Excel opens cleanly (UTF-8 BOM, ';', CRLF, dd/mm/aaaa), and the month's export.

Cells a spreadsheet would run as a formula (starting with = + - @, tab or carriage return)
get a leading apostrophe, so a cliente named "=HYPERLINK(...)" stays text (OWASP CSV injection).
"""

from flask import Response, stream_with_context
from sqlalchemy import select

from apps.clientes.cnpj import format_cnpj
from apps.clientes.models import Cliente
from apps.core.excel_csv import excel_lines
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos import queries
from apps.processos.models import Fatura, Processo, StatusProcesso

HEADER = ("Competência", "Cliente", "CNPJ", "Operadora", "Status", "Número da fatura", "Valor", "Emissão",
          "Vencimento", "Rejeitada", "Protocolo SAT")


def month_query(competencia: str, **filters):
    """One row per fatura, and one per processo without faturas, ordered by cliente; `filters` are the
    processo list's other filters (status, operadora_id, q...), applied by the list's own function."""
    query = (
        select(Processo.competencia, Cliente.nome, Cliente.cnpj, Operadora.codigo, Processo.status,
               Fatura.numero, Fatura.valor, Fatura.emissao, Fatura.vencimento, Fatura.rejeitada,
               Processo.protocolo_sat)
        .join(Cliente, Processo.cliente_id == Cliente.id)
        .join(Operadora, Cliente.operadora_id == Operadora.id)
        .outerjoin(Fatura, Fatura.processo_id == Processo.id)
        .order_by(Cliente.nome_busca, Cliente.nome, Processo.id, Fatura.created_at, Fatura.id)  # Portuguese order
    )
    return queries._filtered(query, **{"cliente_id": None, **filters, "competencia": competencia})


def month_rows(competencia: str, **filters):
    """The export's rows, read from the database 1,000 at a time."""
    result = db.session.execute(month_query(competencia, **filters).execution_options(yield_per=1000))
    for comp, nome, cnpj, operadora, status, numero, valor, emissao, vencimento, rejeitada, protocolo in result:
        yield (comp, nome, format_cnpj(cnpj), operadora, StatusProcesso.LABELS.get(status, status), numero, valor,
               emissao, vencimento, rejeitada, protocolo)


def month_csv(competencia: str, **filters):
    """The competência's processos and faturas (those the filters keep) as CSV text chunks for Excel."""
    return excel_lines(HEADER, month_rows(competencia, **filters))


def month_response(competencia: str, **filters) -> Response:
    """The export streamed as a download named after the competência (never cached)."""
    response = Response(stream_with_context(month_csv(competencia, **filters)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="processos-{competencia}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
