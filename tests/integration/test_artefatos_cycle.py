"""The whole cycle on S3 storage, with real workers: the worker stores invoices, logs and the SAT receipt
in the bucket; the web side lists and serves them; nothing of them is on the local disk."""
from sqlalchemy import select

from apps.artefatos import storage
from apps.artefatos.models import Artefato, Kind
from apps.auth.models import Role
from apps.core.types import db
from apps.processos.models import StatusExecucao, StatusProcesso
from tests.integration.conftest import wait_for
from tests.integration.helpers import faturas_of, finished, processo_of
from tests.support.s3 import client as s3_client


def test_a_cycle_on_s3_keeps_every_file_as_an_artefato(cycle, s3_settings, s3_url, processo, client, api_headers):
    cycle.start_workers(1)
    headers = api_headers(Role.OPERADOR)
    url = f"/api/v1/processos/{processo.id}"
    download = client.post(f"{url}/executar", headers=headers).get_json()["execucao_id"]
    assert wait_for(lambda: finished(download), 15, message="download").status == StatusExecucao.CONCLUIDO
    assert client.post(f"{url}/aprovar", headers=headers, json={}).status_code == 200
    sat = client.post(f"{url}/executar", headers=headers).get_json()["execucao_id"]
    assert wait_for(lambda: finished(sat), 15, message="envio ao SAT").status == StatusExecucao.CONCLUIDO
    assert processo_of(processo.id).status == StatusProcesso.UPLOAD_REALIZADO

    wait_for(lambda: db.session.scalar(select(Artefato).where(Artefato.kind == Kind.PROTOCOLO)), 5, message="recibo")
    artefatos = db.session.scalars(select(Artefato).where(Artefato.processo_id == processo.id)).all()
    faturas = faturas_of(processo.id)
    kinds = sorted(a.kind for a in artefatos)
    assert kinds == sorted([Kind.FATURA] * len(faturas) + [Kind.LOG, Kind.LOG, Kind.PROTOCOLO])
    bucket = s3_client(s3_url).list_objects_v2(Bucket=s3_settings["ARTEFATOS_S3_BUCKET"])
    assert {o["Key"]: o["Size"] for o in bucket["Contents"]} == {a.storage_key: a.size for a in artefatos}
    local = storage.backend("local")
    assert [a.storage_key for a in artefatos if local.size(a.storage_key) is not None] == []  # none on local disk

    for artefato in artefatos:
        response = client.get(f"/api/v1/artefatos/{artefato.id}/download", headers=headers)
        assert response.status_code == 200 and len(response.data) == artefato.size
    [protocolo] = [a for a in artefatos if a.kind == Kind.PROTOCOLO]
    receipt = client.get(f"/api/v1/artefatos/{protocolo.id}/download", headers=headers).get_data(as_text=True)
    assert processo_of(processo.id).protocolo_sat in receipt
    listed = client.get(f"/api/v1/execucoes/{download}/artefatos", headers=headers).get_json()
    assert sorted(a["kind"] for a in listed["items"]) == sorted([Kind.FATURA] * len(faturas) + [Kind.LOG])
