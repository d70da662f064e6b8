"""The month's CSV export holds what the processo list shows: its status, operadora and search filters."""
import csv
import io
from urllib.parse import quote

from apps.clientes.cnpj import format_cnpj
from apps.processos.models import StatusProcesso as S
from tests.factories import ClienteFactory, ExecucaoFactory, FaturaFactory, OperadoraFactory, ProcessoFactory


def rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff") and "\r\n" in text  # Excel's UTF-8 with BOM, CRLF
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))[1:]


def clientes_in(response) -> list[str]:
    return [row[1] for row in rows(response)]


def month():
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    made = {
        "aurora": ProcessoFactory(cliente=ClienteFactory(nome="Padaria Aurora", operadora=vivo),
                                  status=S.AGUARDANDO_APROVACAO),
        "boa": ProcessoFactory(cliente=ClienteFactory(nome="Oficina Boa Vista", operadora=oi),
                               status=S.AGUARDANDO_APROVACAO),
        "casa": ProcessoFactory(cliente=ClienteFactory(nome="Casa do Pão", operadora=vivo),
                                status=S.AGUARDANDO_DOWNLOAD),
        "outro_mes": ProcessoFactory(cliente=ClienteFactory(nome="Padaria Antiga", operadora=vivo),
                                     competencia="2026-04", status=S.AGUARDANDO_APROVACAO),
    }
    FaturaFactory(processo=made["aurora"], numero="NF-1")
    return vivo, oi, made


def test_page_export_applies_status_operadora_and_search(admin_client):
    vivo, oi, made = month()
    base = "/processos/exportar.csv?competencia=2026-05"
    assert sorted(clientes_in(admin_client.get(base))) == ["Casa do Pão", "Oficina Boa Vista", "Padaria Aurora"]
    assert sorted(clientes_in(admin_client.get(f"{base}&status=AGUARDANDO_APROVACAO"))) == [
        "Oficina Boa Vista", "Padaria Aurora"]
    assert sorted(clientes_in(admin_client.get(f"{base}&operadora={vivo.id}"))) == ["Casa do Pão", "Padaria Aurora"]
    assert clientes_in(admin_client.get(f"{base}&q=aurora&status=AGUARDANDO_APROVACAO&operadora={vivo.id}")) == [
        "Padaria Aurora"]
    typed = format_cnpj(made["boa"].cliente.cnpj)  # typed with punctuation, as people copy it
    assert clientes_in(admin_client.get(f"{base}&q={quote(typed)}")) == ["Oficina Boa Vista"]
    assert clientes_in(admin_client.get(f"{base}&q=nenhum-cliente")) == []


def test_page_export_uses_the_lists_parsing(admin_client):
    """A status the list ignores is ignored here too; no competência means the current month, as the button says."""
    month()
    ignored = admin_client.get("/processos/exportar.csv?competencia=2026-05&status=INVENTADO&operadora=xyz")
    assert len(clientes_in(ignored)) == 3
    assert admin_client.get("/processos/exportar.csv?competencia=2026-5").status_code == 400


def test_export_keeps_one_row_per_fatura_and_the_excel_cells(admin_client):
    _, _, made = month()
    FaturaFactory(processo=made["aurora"], numero="=HYPERLINK(1)", data=b"%PDF-1.4\n2\n%%EOF\n")
    lines = rows(admin_client.get("/processos/exportar.csv?competencia=2026-05&q=Aurora"))
    assert [line[5] for line in lines] == ["NF-1", "'=HYPERLINK(1)"]
    assert lines[0][6] == "123,45" and lines[0][4] == S.LABELS[S.AGUARDANDO_APROVACAO]


def test_api_export_applies_the_same_filters(client, viewer, admin_client):
    vivo, _, _ = month()
    query = f"competencia=2026-05&status=AGUARDANDO_APROVACAO&operadora_id={vivo.id}&q=padaria"
    api = client.get(f"/api/v1/processos/exportar.csv?{query}", headers=viewer)
    assert clientes_in(api) == ["Padaria Aurora"]
    page = admin_client.get(f"/processos/exportar.csv?competencia=2026-05&status=AGUARDANDO_APROVACAO"
                            f"&operadora={vivo.id}&q=padaria")
    assert clientes_in(page) == ["Padaria Aurora"]


def test_api_export_refuses_unknown_filters_with_400(client, viewer):
    for query in ("status=INVENTADO", "operadora_id=xyz"):
        response = client.get(f"/api/v1/processos/exportar.csv?competencia=2026-05&{query}", headers=viewer)
        assert response.status_code == 400 and response.get_json()["error"]


def test_page_export_follows_every_filter_the_list_has(admin_client):
    """The export calls the list's own parsing and filter function, so a filter the list gains (here
    "última execução falhou") narrows the file too."""
    _, _, made = month()
    ExecucaoFactory(processo=made["casa"])  # a failed run
    response = admin_client.get("/processos/exportar.csv?competencia=2026-05&ultima_falhou=1")
    assert clientes_in(response) == ["Casa do Pão"]
