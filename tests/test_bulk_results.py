"""Bulk actions answer with a table: each processo chosen (cliente, competência), "Feito" or "Ignorado: <motivo>"."""
import re
import uuid

import pytest

from apps.auth.models import Role
from apps.core.queues import QueueUnavailable
from apps.core.types import db
from apps.processos.models import Processo
from apps.processos.models import StatusProcesso as S
from tests.factories import PDF, ExecucaoFactory, FaturaFactory, OperadoraFactory, ProcessoFactory


@pytest.fixture
def operador(users, login):
    return login(users[Role.OPERADOR])


def results(html: str) -> dict:
    """Each row of the result table: processo id -> (row text without tags, 'feito' or 'ignorado')."""
    table = html.split('id="resultado-lote"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-processo-id="([^"]+)" data-resultado="(\w+)">(.*?)</tr>', table, re.S)
    return {pid: (" ".join(re.sub(r"<[^>]+>", " ", body).split()), outcome) for pid, outcome, body in rows}


def test_aprovar_selecionados_lists_what_was_done_and_what_was_skipped(operador):
    ready = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome="Pronto Ltda", competencia="2026-05")
    FaturaFactory(processo=ready)
    downloading = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__nome="Baixando Ltda")
    empty = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome="Sem Faturas Ltda", competencia="2026-04")
    gone = uuid.uuid4()
    response = operador.post("/processos/acoes", data={
        "action": "aprovar", "ids": [str(ready.id), str(downloading.id), str(empty.id), str(gone)],
        "next": "/processos?status=AGUARDANDO_APROVACAO"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Aprovar selecionados: resultado" in html
    assert "1 processo(s) aprovado(s)." in html and "3 processo(s) não aprovado(s)" in html
    rows = results(html)
    assert list(rows) == [str(ready.id), str(downloading.id), str(empty.id), str(gone)]  # the order chosen
    assert rows[str(ready.id)] == ("Pronto Ltda VIVO 2026-05 Feito", "feito")
    text, outcome = rows[str(empty.id)]
    assert outcome == "ignorado" and text.startswith("Sem Faturas Ltda VIVO 2026-04 Ignorado: ")
    assert "Não há faturas para aprovar" in text
    assert rows[str(downloading.id)][0].startswith("Baixando Ltda VIVO 2026-05 Ignorado: ")
    assert rows[str(gone)] == (f"{gone} — — Ignorado: processo não encontrado (pode ter sido removido).", "ignorado")
    assert ".;" not in html
    assert 'href="/processos?status=AGUARDANDO_APROVACAO"' in html  # back to the same filter
    db.session.expire_all()
    assert db.session.get(Processo, ready.id).status == S.AGUARDANDO_ENVIO_SAT


def test_executar_selecionados_names_each_refusal(operador, enqueued):
    manual = OperadoraFactory(codigo="DIGITALNET", possui_rpa=False)
    runnable = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__nome="Roda Ltda")
    no_robot = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__nome="Sem Robô Ltda", cliente__operadora=manual)
    waiting = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome="Esperando Ltda")
    response = operador.post("/processos/acoes", data={
        "action": "executar", "ids[]": [str(runnable.id), str(no_robot.id), str(waiting.id)]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = results(html)
    assert "Executar selecionados: resultado" in html and "1 processo(s) iniciado(s)." in html
    assert rows[str(runnable.id)][1] == "feito"
    assert rows[str(no_robot.id)] == (
        "Sem Robô Ltda DIGITALNET 2026-05 Ignorado: A operadora DIGITALNET não tem robô: envie as faturas manualmente.",
        "ignorado")
    assert "Ignorado: Nada a executar: o processo está em AGUARDANDO_APROVACAO." in rows[str(waiting.id)][0]
    assert len(enqueued) == 1


def test_reexecutar_falhas_shows_the_same_table(operador, enqueued):
    failed = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__nome="Falhou Ltda")
    ExecucaoFactory(processo=failed)
    response = operador.post("/processos/reexecutar-falhas", data={"competencia": "2026-05", "next": "/processos"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Reexecutar falhas: resultado" in html and "1 processo(s) iniciado(s)." in html
    assert results(html) == {str(failed.id): ("Falhou Ltda VIVO 2026-05 Feito", "feito")}


def test_bad_input_and_the_queue_down_still_go_back_with_a_message(operador, monkeypatch):
    response = operador.post("/processos/acoes", data={"action": "aprovar", "next": "/processos?q=x"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/processos?q=x")

    def down(execucao, **_):
        raise QueueUnavailable()

    monkeypatch.setattr("apps.rpa.follow.enqueue_start", down)
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    response = operador.post("/processos/acoes", data={"action": "executar", "ids": [str(processo.id)]},
                             follow_redirects=True)
    assert "fila de tarefas (Redis) está indisponível" in response.get_data(as_text=True)


def test_many_processos_fit_the_page(operador):
    """Fifty approvals: one row each, nothing cut to five as the old message did."""
    chosen = []
    for i in range(50):
        processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome=f"Lote {i:02d}")
        FaturaFactory(processo=processo, data=PDF + str(i).encode())
        chosen.append(str(processo.id))
    html = operador.post("/processos/acoes", data={"action": "aprovar", "ids": chosen}).get_data(as_text=True)
    rows = results(html)
    assert len(rows) == 50 and {outcome for _, outcome in rows.values()} == {"feito"}
