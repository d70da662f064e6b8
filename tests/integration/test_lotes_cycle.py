"""A lote with real parts: the API → the RQ worker runs the lote's job → the throttle admits its runs (2 at a
time) → the worker drives each through the simulator over HTTP → the lote's counts come from the database."""
import io

from sqlalchemy import func, select

from apps.core.types import db
from apps.lotes.models import Lote
from apps.processos.models import Execucao, Processo, StatusExecucao, StatusProcesso
from tests.factories import ClienteFactory, OperadoraFactory, ProcessoFactory, valid_cnpj
from tests.integration.conftest import COMPETENCIA, wait_for

OLDER = "2026-09"


def _csv(rows) -> bytes:
    return ("CNPJ;Competência;Ação\r\n" + "".join(f"{c};{m};{a}\r\n" for c, m, a in rows)).encode("cp1252")


def _post(client, headers, rows, query=""):
    return client.post(f"/api/v1/lotes{query}", data={"arquivo": (io.BytesIO(_csv(rows)), "lote.csv")},
                       headers=headers, content_type="multipart/form-data", no_csrf=True)


def _count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_lote_with_bad_rows_runs_nothing_and_fixed_runs_each_row_once(cycle, sim, app, client, op, monkeypatch):
    monkeypatch.setitem(app.config, "LOTES_BACKGROUND_ROWS", 1)  # prepared by the worker, as large lotes are
    vivo = OperadoraFactory(codigo="VIVO", limite_concorrencia=2)
    clientes = [ClienteFactory(operadora=vivo, cnpj=valid_cnpj(n, 33_000_000)) for n in range(4)]
    for cliente in clientes[:2]:
        ProcessoFactory(cliente=cliente, competencia=COMPETENCIA)
    rows = [(clientes[0].cnpj, COMPETENCIA, "DOWNLOAD"), (clientes[1].cnpj, COMPETENCIA, "DOWNLOAD"),
            (clientes[2].cnpj, OLDER, "DOWNLOAD"), (clientes[3].cnpj, "09/2026", "DOWNLOAD")]
    cycle.start_workers(1)

    refused = _post(client, op, rows + [(clientes[3].cnpj, "2099-12", "DOWNLOAD")])
    assert refused.status_code == 422
    assert [e["linha"] for e in refused.get_json()["erros"]] == [6]
    assert _count(Lote) == 0 and _count(Execucao) == 0 and _count(Processo) == 2

    response = _post(client, op, rows)
    assert response.status_code == 202, response.get_json()
    url = f"/api/v1/lotes/{response.get_json()['lote_id']}"
    state = wait_for(lambda: (s := client.get(url, headers=op).get_json())["status"] == "CONCLUIDO" and s,
                     60, interval=0.3, message="lote concluir")
    assert (state["total"], state["concluidas"], state["falhas"], state["aguardando"]) == (4, 4, 0, 0), state
    assert state["erros"] == []
    for cliente in clientes:
        processos = db.session.scalars(select(Processo).where(Processo.cliente_id == cliente.id)).all()
        assert len(processos) == 1 and processos[0].status == StatusProcesso.AGUARDANDO_APROVACAO
        runs = db.session.scalars(select(Execucao).where(Execucao.processo_id == processos[0].id)).all()
        assert [r.status for r in runs] == [StatusExecucao.CONCLUIDO]
    assert sim.stats()["jobs_created"] == {"download": 4, "sat": 0}
    # The throttle admitted them within the operadora's limit: never more than 2 runs at once, and 2 at first.
    runs = db.session.scalars(select(Execucao)).all()
    events = sorted([(r.data_inicio, 1) for r in runs] + [(r.data_fim, -1) for r in runs], key=lambda e: (e[0], e[1]))
    running, most = 0, 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert most == 2

    # Approved, the same processos take an ENVIO_SAT lote: each reaches UPLOAD_REALIZADO with its protocolo.
    monkeypatch.setitem(app.config, "LOTES_BACKGROUND_ROWS", 1000)  # small: prepared in the request this time
    processos = db.session.scalars(select(Processo)).all()
    for processo in processos:
        answer = client.post(f"/api/v1/processos/{processo.id}/aprovar", headers=op, json={})
        assert answer.status_code == 200, answer.get_json()
    sat_rows = [(p.cliente.cnpj, p.competencia, "ENVIO_SAT") for p in processos]
    response = _post(client, op, sat_rows)
    assert response.status_code == 202, response.get_json()
    url = f"/api/v1/lotes/{response.get_json()['lote_id']}"
    state = wait_for(lambda: (s := client.get(url, headers=op).get_json())["status"] == "CONCLUIDO" and s,
                     60, interval=0.3, message="lote de envio concluir")
    assert (state["concluidas"], state["falhas"]) == (4, 0), state
    db.session.rollback()
    assert {p.status for p in db.session.scalars(select(Processo))} == {StatusProcesso.UPLOAD_REALIZADO}
    assert all(p.protocolo_sat.startswith("SAT-") for p in db.session.scalars(select(Processo)))
    assert sim.stats()["jobs_created"] == {"download": 4, "sat": 4}
