"""CSV files that open cleanly in Excel (pt-BR): UTF-8 with BOM, `;`, CRLF, dd/mm/aaaa, decimal
comma, and formula injection neutralised. Streamed in chunks."""
import csv
import io
from datetime import date, datetime
from decimal import Decimal

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FLUSH_AT = 64 * 1024


def excel_cell(value) -> str:
    """One cell as text: dates dd/mm/aaaa, decimals with a comma, formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def excel_lines(header, rows):
    """The file as text chunks: a BOM, then ';'-separated rows ending in CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    buffer.write("\ufeff")
    writer.writerow([excel_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([excel_cell(cell) for cell in row])
        if buffer.tell() >= FLUSH_AT:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
