"""API parity for processos: execucoes list, faturas (list, PDF, manual upload), bulk actions,
re-running failures and the month's export; same rules, permissions and audit as the pages,
and every answer validated against the schema the OpenAPI document gives it."""
import io

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from sqlalchemy import select

from apps.api.docs import load_spec
from apps.core.types import db
from apps.processos.models import Execucao, Processo, StatusExecucao, TipoExecucao
from apps.processos.models import StatusProcesso as S
from tests.conftest import actions
from tests.factories import PDF, ExecucaoFactory, FaturaFactory, OperadoraFactory, ProcessoFactory

SPEC_URI = "urn:rpa-dashboard:openapi"


def documented_schema(method: str, path: str, status: int, media="application/json") -> dict:
    """The schema the OpenAPI document gives the answer of `method path` with `status`."""
    spec = load_spec()
    response = spec["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"][media]["schema"]


def assert_documented(response, method: str, path: str):
    """The response's status is documented for the operation and its JSON body matches the schema."""
    schema = documented_schema(method, path, response.status_code)
    registry = Registry().with_resource(SPEC_URI, Resource.opaque(load_spec()))
    validator = Draft202012Validator(_absolute_refs(schema), registry=registry)
    errors = sorted(validator.iter_errors(response.get_json()), key=str)
    assert errors == [], [e.message for e in errors[:5]]
    return response.get_json()


def _absolute_refs(schema):
    """Point local refs (#/components/...) at the whole document registered under SPEC_URI."""
    if isinstance(schema, dict):
        return {k: (SPEC_URI + v if k == "$ref" and v.startswith("#") else _absolute_refs(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_absolute_refs(v) for v in schema]
    return schema


# --- GET /api/v1/execucoes ---------------------------------------------------------------------

def test_execucoes_list_filters_and_pages(client, viewer):
    vivo, oi = ProcessoFactory(), ProcessoFactory(cliente__operadora=OperadoraFactory(codigo="OI"))
    falhou = ExecucaoFactory(processo=vivo, status=StatusExecucao.FALHOU)
    concluido = ExecucaoFactory(processo=vivo, status=StatusExecucao.CONCLUIDO, tipo=TipoExecucao.ENVIO_SAT)
    outra = ExecucaoFactory(processo=oi, status=StatusExecucao.FALHOU)
    response = client.get("/api/v1/execucoes", headers=viewer)
    body = assert_documented(response, "get", "/api/v1/execucoes")
    assert body["total"] == 3 and {i["id"] for i in body["items"]} == {str(falhou.id), str(concluido.id), str(outra.id)}

    def ids(query):
        return {i["id"] for i in client.get(f"/api/v1/execucoes?{query}", headers=viewer).get_json()["items"]}

    assert ids(f"processo_id={vivo.id}") == {str(falhou.id), str(concluido.id)}
    assert ids("status=FALHOU") == {str(falhou.id), str(outra.id)}
    assert ids("tipo=ENVIO_SAT") == {str(concluido.id)}
    assert ids(f"operadora_id={oi.cliente.operadora_id}") == {str(outra.id)}
    paged = client.get("/api/v1/execucoes?per_page=2&page=2", headers=viewer).get_json()
    assert (paged["page"], paged["pages"], len(paged["items"])) == (2, 2, 1)


@pytest.mark.parametrize("query,field", [("status=QUEBRADO", "status"), ("tipo=X", "tipo"),
                                         ("processo_id=nao-e-uuid", "processo_id"), ("per_page=0", "per_page")])
def test_execucoes_list_bad_filters_are_400(client, viewer, query, field):
    response = client.get(f"/api/v1/execucoes?{query}", headers=viewer)
    assert response.status_code == 400 and field in assert_documented(response, "get", "/api/v1/execucoes")["fields"]


# --- faturas -----------------------------------------------------------------------------------

def test_faturas_list_and_pdf(client, viewer):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    fatura = FaturaFactory(processo=processo, numero="NF 2026/05 ção")
    FaturaFactory(processo=processo, numero="F-2", data=PDF + b"% outra\n", rejeitada=True, motivo_rejeicao="ilegível")
    response = client.get(f"/api/v1/processos/{processo.id}/faturas", headers=viewer)
    body = assert_documented(response, "get", "/api/v1/processos/{processo_id}/faturas")
    assert [(i["numero"], i["rejeitada"]) for i in body["items"]] == [("NF 2026/05 ção", False), ("F-2", True)]

    pdf = client.get(f"/api/v1/faturas/{fatura.id}/pdf", headers=viewer)
    assert pdf.status_code == 200 and pdf.data == PDF and pdf.mimetype == "application/pdf"
    # The page's headers, from the page's own code.
    assert pdf.headers["Content-Disposition"] == 'inline; filename="NF_2026_05_cao.pdf"'
    assert pdf.headers["X-Content-Type-Options"] == "nosniff" and pdf.headers["Cache-Control"] == "private, no-cache"


def test_faturas_unknown_ids_are_404_in_portuguese(client, viewer):
    processo = ProcessoFactory()
    missing = client.get("/api/v1/faturas/00000000-0000-0000-0000-000000000000/pdf", headers=viewer)
    assert missing.status_code == 404 and missing.get_json()["error"] == "Fatura não encontrada."
    assert client.get("/api/v1/processos/x/faturas", headers=viewer).status_code == 404
    fatura = FaturaFactory(processo=processo)
    from apps.processos import storage

    storage.path_of(fatura.arquivo).unlink()
    gone = client.get(f"/api/v1/faturas/{fatura.id}/pdf", headers=viewer)
    assert gone.status_code == 404 and "não foi encontrado" in gone.get_json()["error"]


def test_pdf_needs_a_token(client):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    assert client.get(f"/api/v1/faturas/{FaturaFactory(processo=processo).id}/pdf").status_code == 401


def upload(*files, **overrides):
    data = {}
    for i, (content, name) in enumerate(files):
        data.update({f"faturas-{i}-arquivo": (io.BytesIO(content), name, "application/pdf"),
                     f"faturas-{i}-numero": f"NF-{i + 1}", f"faturas-{i}-valor": "1.234,56",
                     f"faturas-{i}-vencimento": "10/06/2026"})
    data.update(overrides)
    return data


@pytest.fixture
def manual_processo():
    return ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))


def test_manual_upload(client, op, manual_processo):
    response = client.post(f"/api/v1/processos/{manual_processo.id}/faturas", headers=op,
                           data=upload((PDF, "a.pdf"), (PDF + b"% 2\n", "b.pdf")), content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    body = assert_documented(response, "post", "/api/v1/processos/{processo_id}/faturas")
    assert body["status"] == S.AGUARDANDO_APROVACAO
    assert sorted((f["numero"], f["valor"], f["vencimento"]) for f in body["faturas"]) == [
        ("NF-1", "1234.56", "2026-06-10"), ("NF-2", "1234.56", "2026-06-10")]
    entry = actions("processo_faturas_enviadas")
    assert len(entry) == 1 and entry[0].username == "operador"


def test_manual_upload_field_errors(client, op, manual_processo):
    data = upload((PDF, "a.pdf"), **{"faturas-0-valor": "doze reais", "faturas-0-vencimento": "31/02/2026"})
    response = client.post(f"/api/v1/processos/{manual_processo.id}/faturas", headers=op, data=data,
                           content_type="multipart/form-data")
    fields = assert_documented(response, "post", "/api/v1/processos/{processo_id}/faturas")["fields"]
    assert response.status_code == 422
    assert fields == {"faturas-0-valor": "Informe o valor em reais, ex.: 1.234,56.",
                      "faturas-0-vencimento": "Data inválida: use DD/MM/AAAA."}
    not_pdf = client.post(f"/api/v1/processos/{manual_processo.id}/faturas", headers=op,
                          data=upload((b"texto", "a.pdf")), content_type="multipart/form-data")
    assert not_pdf.status_code == 422 and "faturas-0-arquivo" in not_pdf.get_json()["fields"]
    assert db.session.get(Processo, manual_processo.id).status == S.AGUARDANDO_DOWNLOAD


def test_manual_upload_refusals(client, op, viewer, manual_processo):
    url = f"/api/v1/processos/{manual_processo.id}/faturas"
    assert client.post(url, headers=viewer, data=upload((PDF, "a.pdf")),
                       content_type="multipart/form-data").status_code == 403
    assert client.post(url, headers=op, json={"faturas": []}).status_code == 415
    aprovacao = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))
    wrong = client.post(f"/api/v1/processos/{aprovacao.id}/faturas", headers=op, data=upload((PDF, "a.pdf")),
                        content_type="multipart/form-data")
    assert wrong.status_code == 409 and "AGUARDANDO_APROVACAO" in wrong.get_json()["error"]


# --- bulk actions ------------------------------------------------------------------------------

def test_bulk_aprovar_reports_done_and_skipped(client, op):
    ok = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=ok)
    sem_faturas = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    baixando = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    FaturaFactory(processo=baixando)
    unknown = "00000000-0000-0000-0000-000000000001"
    response = client.post("/api/v1/processos/acoes", headers=op, json={
        "acao": "aprovar", "ids": [str(ok.id), str(sem_faturas.id), str(baixando.id), unknown]})
    body = assert_documented(response, "post", "/api/v1/processos/acoes")
    assert body["feitos"] == [{"id": str(ok.id)}]
    motivos = {i["id"]: i["motivo"] for i in body["ignorados"]}
    assert motivos[str(sem_faturas.id)] == "Não há faturas para aprovar neste processo."
    assert "AGUARDANDO_DOWNLOAD" in motivos[str(baixando.id)] and motivos[unknown] == "Processo não encontrado."
    assert db.session.get(Processo, ok.id).status == S.AGUARDANDO_ENVIO_SAT
    assert [a.entity_id for a in actions("processo_aprovar")] == [str(ok.id)]


def test_bulk_executar_starts_runs(client, op, enqueued):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    ocupado = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    ExecucaoFactory(processo=ocupado, status=StatusExecucao.EXECUTANDO)
    response = client.post("/api/v1/processos/acoes", headers=op,
                           json={"acao": "executar", "ids": [str(processo.id), str(ocupado.id)]})
    body = assert_documented(response, "post", "/api/v1/processos/acoes")
    execucao = db.session.scalar(select(Execucao).where(Execucao.processo_id == processo.id))
    assert body["feitos"] == [{"id": str(processo.id), "execucao_id": str(execucao.id)}]
    assert [i["id"] for i in body["ignorados"]] == [str(ocupado.id)]
    assert len(actions("execucao_iniciada")) == 1


@pytest.mark.parametrize("payload,field", [
    ({"acao": "apagar", "ids": []}, "acao"), ({"acao": "aprovar", "ids": []}, "ids"),
    ({"acao": "aprovar", "ids": ["x"]}, "ids"), ({"acao": "aprovar", "ids": "abc"}, "ids"),
    ({"acao": "aprovar", "ids": ["00000000-0000-0000-0000-000000000001"] * 1001}, "ids"),
])
def test_bulk_validation(client, op, payload, field):
    response = client.post("/api/v1/processos/acoes", headers=op, json=payload)
    assert response.status_code == 422
    assert field in assert_documented(response, "post", "/api/v1/processos/acoes")["fields"]


def test_bulk_needs_operate(client, viewer):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo)
    response = client.post("/api/v1/processos/acoes", headers=viewer, json={"acao": "aprovar", "ids": [str(processo.id)]})
    assert response.status_code == 403
    assert client.post("/api/v1/processos/reexecutar-falhas", headers=viewer).status_code == 403
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO


def test_reexecutar_falhas_uses_the_list_filters(client, op, enqueued):
    vivo = ProcessoFactory(competencia="2026-05")
    ExecucaoFactory(processo=vivo, status=StatusExecucao.FALHOU)
    oi = ProcessoFactory(competencia="2026-05", cliente__operadora=OperadoraFactory(codigo="OI"))
    ExecucaoFactory(processo=oi, status=StatusExecucao.FALHOU)
    outro_mes = ProcessoFactory(competencia="2026-04")
    ExecucaoFactory(processo=outro_mes, status=StatusExecucao.FALHOU)
    response = client.post("/api/v1/processos/reexecutar-falhas", headers=op,
                           json={"competencia": "2026-05", "operadora_id": str(oi.cliente.operadora_id)})
    body = assert_documented(response, "post", "/api/v1/processos/reexecutar-falhas")
    assert [f["id"] for f in body["feitos"]] == [str(oi.id)] and body["ignorados"] == []
    assert len(enqueued) == 1
    again = client.post("/api/v1/processos/reexecutar-falhas", headers=op, json={"competencia": "2026-05",
                        "operadora_id": str(oi.cliente.operadora_id)}).get_json()
    assert again == {"acao": "executar", "feitos": [], "ignorados": []}
    every_month = client.post("/api/v1/processos/reexecutar-falhas", headers=op, json={"competencia": ""}).get_json()
    assert {f["id"] for f in every_month["feitos"]} == {str(vivo.id), str(outro_mes.id)}


@pytest.mark.parametrize("payload,status", [({"competencia": "2026-13"}, 422), ({"status": "X"}, 422),
                                            ({"operadora_id": "nope"}, 422), ({"q": 5}, 400)])
def test_reexecutar_falhas_validation(client, op, payload, status):
    response = client.post("/api/v1/processos/reexecutar-falhas", headers=op, json=payload)
    assert response.status_code == status
    assert_documented(response, "post", "/api/v1/processos/reexecutar-falhas")


# --- export ------------------------------------------------------------------------------------

def test_export_is_the_pages_csv(client, viewer, admin_client):
    processo = ProcessoFactory(competencia="2026-05")
    FaturaFactory(processo=processo, numero="NF-77")
    response = client.get("/api/v1/processos/exportar.csv?competencia=2026-05", headers=viewer)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="processos-2026-05.csv"'
    api_csv = response.get_data()  # read the stream before the next request
    page_csv = admin_client.get("/processos/exportar.csv?competencia=2026-05").get_data()
    assert api_csv == page_csv and "NF-77" in api_csv.decode("utf-8-sig")
    bad = client.get("/api/v1/processos/exportar.csv?competencia=2026-5", headers=viewer)
    assert bad.status_code == 400 and assert_documented(bad, "get", "/api/v1/processos/exportar.csv")["error"]
