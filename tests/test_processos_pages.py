"""Processos pages: list, detail and its fragment, actions by role, bulk, manual upload, PDFs."""
import io

import pytest
from sqlalchemy import func, select

from apps.auth.models import Role
from apps.clientes.cnpj import format_cnpj
from apps.core.audit import AuditLog
from apps.core.queues import QueueUnavailable
from apps.core.types import db
from apps.processos import storage
from apps.processos.models import Execucao, Fatura, Processo, StatusExecucao, TipoExecucao
from apps.processos.models import StatusProcesso as S
from tests.conftest import count_queries
from tests.factories import PDF, ExecucaoFactory, FaturaFactory, OperadoraFactory, ProcessoFactory

HTML_AS_PDF = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


@pytest.fixture
def as_role(users, login):
    return lambda role: login(users[role])


def page(client, url, **kwargs):
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def flashes_after(response) -> str:
    return response.get_data(as_text=True)


# --- list -------------------------------------------------------------------------------------

def test_anonymous_is_sent_to_login(client):
    response = client.get("/processos")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role,bulk", [(Role.VISUALIZADOR, False), (Role.OPERADOR, True), (Role.ADMIN, True)])
def test_list_by_role(as_role, role, bulk):
    ProcessoFactory(cliente__nome="Padaria Aurora Ltda")
    html = page(as_role(role), "/processos?competencia=")
    assert "Padaria Aurora Ltda" in html
    assert ("Aprovar selecionados" in html) is bulk
    assert ("Executar selecionados" in html) is bulk
    assert ('class="form-check-input processo-check"' in html) is bulk
    assert 'data-count-selector=".processo-check"' in html


def test_list_filters(as_role):
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    a = ProcessoFactory(cliente__nome="Alfa Transportes", cliente__operadora=vivo, competencia="2026-05")
    b = ProcessoFactory(cliente__nome="Beta Clinica", cliente__operadora=oi, competencia="2026-05", status=S.AGUARDANDO_APROVACAO)
    ProcessoFactory(cliente__nome="Gama Escola", cliente__operadora=vivo, competencia="2026-04")
    client = as_role(Role.VISUALIZADOR)

    def names(query):
        html = page(client, "/processos?competencia=&" + query if "competencia=" not in query else "/processos?" + query)
        return {n for n in ("Alfa Transportes", "Beta Clinica", "Gama Escola") if n in html}

    assert names("") == {"Alfa Transportes", "Beta Clinica", "Gama Escola"}
    assert names("competencia=2026-05") == {"Alfa Transportes", "Beta Clinica"}
    assert names("status=AGUARDANDO_APROVACAO") == {"Beta Clinica"}
    assert names(f"operadora={oi.id}") == {"Beta Clinica"}
    assert names("q=alfa") == {"Alfa Transportes"}
    assert names("q=" + format_cnpj(b.cliente.cnpj)) == {"Beta Clinica"}
    assert names("q=" + a.cliente.cnpj[:10]) == {"Alfa Transportes"}
    assert names("status=BOGUS&q=%25") == set()


def test_list_sorted_by_competencia_desc_then_cliente(as_role):
    ProcessoFactory(cliente__nome="Zeta", competencia="2026-05")
    ProcessoFactory(cliente__nome="Alfa", competencia="2026-04")
    ProcessoFactory(cliente__nome="Beta", competencia="2026-05")
    html = page(as_role(Role.VISUALIZADOR), "/processos?competencia=")
    assert html.index("Beta") < html.index("Zeta") < html.index("Alfa")


def test_list_paginates(as_role, app, monkeypatch):
    monkeypatch.setitem(app.config, "ITEMS_PER_PAGE", 2)
    for name in ("Cli A", "Cli B", "Cli C"):
        ProcessoFactory(cliente__nome=name)
    client = as_role(Role.VISUALIZADOR)
    first, second = page(client, "/processos?competencia="), page(client, "/processos?competencia=&page=2")
    assert "Cli A" in first and "Cli C" not in first
    assert "Cli C" in second and "Cli A" not in second


def test_list_query_count_does_not_grow_with_rows(as_role, app, monkeypatch):
    monkeypatch.setitem(app.config, "ITEMS_PER_PAGE", 100)
    operadoras = [OperadoraFactory(codigo=c) for c in ("VIVO", "OI", "EMBRATEL")]
    client = as_role(Role.OPERADOR)

    def add(n):
        for i in range(n):
            ProcessoFactory(cliente__operadora=operadoras[i % 3], competencia=f"2026-0{1 + i % 5}")

    add(5)
    with count_queries() as few:
        html = page(client, "/processos?competencia=")
    assert html.count('name="ids"') == 5
    add(45)
    with count_queries() as many:
        html = page(client, "/processos?competencia=")
    assert html.count('name="ids"') == 50
    assert len(many) == len(few), many
    assert len(many) <= 8


# --- detail and fragment ----------------------------------------------------------------------

def test_detail_shows_cliente_faturas_execucoes_and_history(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome="Hotel Serra Azul")
    FaturaFactory(processo=processo, numero="NF-100", valor="1234.5")
    FaturaFactory(processo=processo, numero="NF-099", valor="10", rejeitada=True, motivo_rejeicao="valor em dobro", data=PDF + b"x")
    execucao = ExecucaoFactory(processo=processo, status=StatusExecucao.CONCLUIDO, job_id="job-42", mensagem="1 fatura(s)")
    db.session.add(AuditLog(action="processo_download_concluido", entity_type="processos",
                            entity_id=str(processo.id), detail="AGUARDANDO_DOWNLOAD → AGUARDANDO_APROVACAO"))
    db.session.commit()
    html = page(as_role(Role.VISUALIZADOR), f"/processos/{processo.id}")
    assert "Hotel Serra Azul" in html and format_cnpj(processo.cliente.cnpj) in html and "VIVO" in html
    assert "R$ 1.234,50" in html and "<del>NF-099</del>" in html and "valor em dobro" in html
    assert f'data-execucao-id="{execucao.id}" data-job-id="job-42"' in html
    assert "Ver Logs" in html and "1 min 05 s" in html
    assert "Download concluído" in html
    for element in ('id="processo-status"', 'id="execucoes-table"', 'id="faturas-table"'):
        assert element in html
    assert "Aprovar" not in html.split('id="processo-status"')[1].split('id="execucoes-table"')[0]


def test_detail_of_unknown_processo_is_404(as_role):
    client = as_role(Role.VISUALIZADOR)
    assert client.get("/processos/nao-existe").status_code == 404
    assert client.get("/processos/00000000-0000-0000-0000-000000000000").status_code == 404


@pytest.mark.parametrize("status,possui_rpa,present,absent", [
    (S.AGUARDANDO_DOWNLOAD, True, ['data-action="executar"'], ["enviar-faturas", 'data-action="aprovar"']),
    (S.AGUARDANDO_DOWNLOAD, False, ['id="enviar-faturas"'], ['data-action="executar"']),
    (S.AGUARDANDO_APROVACAO, True, ['data-action="aprovar"', 'data-action="rejeitar"', 'id="modal-rejeitar"'],
     ['data-action="executar"']),
    (S.AGUARDANDO_ENVIO_SAT, True, ['data-action="enviar-sat"', "Enviar ao SAT"], ['data-action="aprovar"']),
    (S.UPLOAD_REALIZADO, True, ["PROTO-778"], ['data-action="executar"', 'data-action="enviar-sat"']),
])
def test_detail_actions_by_status_for_an_operador(as_role, status, possui_rpa, present, absent):
    operadora = OperadoraFactory(codigo="OI" if possui_rpa else "DIGITALNET", possui_rpa=possui_rpa)
    processo = ProcessoFactory(status=status, cliente__operadora=operadora)
    processo.protocolo_sat = "PROTO-778" if status == S.UPLOAD_REALIZADO else None
    db.session.commit()
    html = page(as_role(Role.OPERADOR), f"/processos/{processo.id}")
    for text in present:
        assert text in html, text
    for text in absent:
        assert text not in html, text


@pytest.mark.parametrize("status", [S.AGUARDANDO_DOWNLOAD, S.AGUARDANDO_APROVACAO, S.AGUARDANDO_ENVIO_SAT])
def test_visualizador_sees_no_action_buttons(as_role, status):
    processo = ProcessoFactory(status=status, cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))
    html = page(as_role(Role.VISUALIZADOR), f"/processos/{processo.id}")
    for marker in ('data-action="executar"', 'data-action="aprovar"', 'id="enviar-faturas"', 'id="modal-rejeitar"',
                   "Executar Novamente"):
        assert marker not in html


def test_executar_novamente_only_when_the_status_allows_a_run(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    ExecucaoFactory(processo=processo, status=StatusExecucao.FALHOU, mensagem="portal fora do ar")
    client = as_role(Role.OPERADOR)
    assert "Executar Novamente" in page(client, f"/processos/{processo.id}")
    processo.status = S.AGUARDANDO_APROVACAO
    db.session.commit()
    assert "Executar Novamente" not in page(client, f"/processos/{processo.id}")


def test_active_run_shows_a_spinner_and_hides_executar(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    ExecucaoFactory(processo=processo, status=StatusExecucao.FALHOU)
    ExecucaoFactory(processo=processo, status=StatusExecucao.EXECUTANDO, job_id="job-run")
    html = page(as_role(Role.OPERADOR), f"/processos/{processo.id}")
    assert "spinner-border" in html
    assert 'data-action="executar"' not in html and "Executar Novamente" not in html


def test_fragment_has_only_the_live_parts(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo, numero="NF-7")
    html = page(as_role(Role.VISUALIZADOR), f"/processos/{processo.id}/fragmento")
    for element in ('id="processo-status"', 'id="execucoes-table"', 'id="faturas-table"'):
        assert html.count(element) == 1
    assert "NF-7" in html and "<html" not in html and "Histórico" not in html


# --- actions ----------------------------------------------------------------------------------

def test_executar_starts_exactly_one_run_on_double_click(as_role, enqueued):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    client = as_role(Role.OPERADOR)
    first = client.post(f"/processos/{processo.id}/executar", follow_redirects=True)
    second = client.post(f"/processos/{processo.id}/executar", follow_redirects=True)
    assert "Execução iniciada (Download)" in flashes_after(first)
    assert "Já existe uma execução em andamento" in flashes_after(second)
    rows = db.session.scalars(select(Execucao).where(Execucao.processo_id == processo.id)).all()
    assert len(rows) == 1 and rows[0].status == StatusExecucao.PENDENTE and rows[0].tipo == TipoExecucao.DOWNLOAD
    assert enqueued == [rows[0].id]


def test_executar_enviar_ao_sat(as_role, enqueued):
    processo = ProcessoFactory(status=S.AGUARDANDO_ENVIO_SAT)
    as_role(Role.ADMIN).post(f"/processos/{processo.id}/executar")
    assert db.session.scalar(select(Execucao.tipo).where(Execucao.processo_id == processo.id)) == TipoExecucao.ENVIO_SAT


def test_executar_when_the_queue_is_down_changes_nothing(as_role, monkeypatch):
    def down(execucao, **_):
        raise QueueUnavailable()

    monkeypatch.setattr("apps.rpa.follow.enqueue_start", down)
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    response = as_role(Role.OPERADOR).post(f"/processos/{processo.id}/executar", follow_redirects=True)
    assert "fila de tarefas (Redis) está indisponível" in flashes_after(response)
    assert db.session.scalar(select(func.count()).select_from(Execucao)) == 0


def test_executar_refused_without_robot_shows_the_reason(as_role, enqueued):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))
    response = as_role(Role.OPERADOR).post(f"/processos/{processo.id}/executar", follow_redirects=True)
    assert "não tem robô" in flashes_after(response)
    assert enqueued == []


@pytest.mark.parametrize("endpoint", ["executar", "aprovar", "rejeitar", "faturas"])
def test_visualizador_cannot_post(as_role, enqueued, endpoint):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    response = as_role(Role.VISUALIZADOR).post(f"/processos/{processo.id}/{endpoint}", data={"motivo": "x"})
    assert response.status_code == 403
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO


def test_post_without_csrf_token_is_refused(as_role, enqueued):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    response = as_role(Role.OPERADOR).post(f"/processos/{processo.id}/executar", no_csrf=True)
    assert response.status_code == 400 and enqueued == []


def test_aprovar_with_comment(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo)
    response = as_role(Role.OPERADOR).post(f"/processos/{processo.id}/aprovar",
                                           data={"comentario": "conferido"}, follow_redirects=True)
    assert f"{processo.cliente_nome} aprovado: as faturas seguem" in flashes_after(response)
    db.session.expire_all()
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_ENVIO_SAT
    assert "conferido" in db.session.scalar(select(AuditLog.detail).where(AuditLog.action == "processo_aprovar"))


def test_a_first_of_two_approvals_on_the_processo_page_says_a_second_is_needed(as_role, users):
    """Above the operadora's valor_dupla_aprovacao the page says the approval was the first, not "aprovado"."""
    from decimal import Decimal

    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO,
                               cliente__operadora=OperadoraFactory(valor_dupla_aprovacao=Decimal("1000.00")))
    FaturaFactory(processo=processo, valor=Decimal("1500.00"))
    from apps.aprovacoes import tarefas

    tarefas.abrir([processo.id])
    db.session.commit()
    response = as_role(Role.APROVADOR).post(f"/processos/{processo.id}/aprovar", follow_redirects=True)
    html = flashes_after(response)
    assert "primeira aprovação registrada; o valor exige a de um segundo aprovador" in html and "aprovado:" not in html
    db.session.expire_all()
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO
    again = as_role(Role.APROVADOR).post(f"/processos/{processo.id}/aprovar", follow_redirects=True)
    assert "a segunda precisa ser de" in flashes_after(again)


def test_aprovar_in_the_wrong_status_flashes_the_state_machine_message(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    FaturaFactory(processo=processo)
    response = as_role(Role.OPERADOR).post(f"/processos/{processo.id}/aprovar", follow_redirects=True)
    assert "Só é possível aprovar um processo em AGUARDANDO_APROVACAO." in flashes_after(response)


def test_rejeitar_requires_a_reason_then_works(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    fatura = FaturaFactory(processo=processo)
    client = as_role(Role.OPERADOR)
    response = client.post(f"/processos/{processo.id}/rejeitar", data={"motivo": "  "}, follow_redirects=True)
    assert "Informe o motivo da rejeição." in flashes_after(response)
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_APROVACAO
    response = client.post(f"/processos/{processo.id}/rejeitar", data={"motivo": "CNPJ errado"}, follow_redirects=True)
    assert f"{processo.cliente_nome}: faturas rejeitadas" in flashes_after(response)
    db.session.expire_all()
    assert db.session.get(Processo, processo.id).status == S.AGUARDANDO_DOWNLOAD
    assert db.session.get(Fatura, fatura.id).motivo_rejeicao == "CNPJ errado"


# --- bulk -------------------------------------------------------------------------------------

def test_bulk_approve_with_mixed_statuses(as_role):
    ready = [ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome=f"Pronto {i}") for i in range(3)]
    for processo in ready:
        FaturaFactory(processo=processo, data=PDF + str(processo.id).encode())
    downloading = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__nome="Baixando Ltda")
    empty = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome="Sem Faturas Ltda")
    ids = [str(p.id) for p in (*ready, downloading, empty)]
    response = as_role(Role.OPERADOR).post("/processos/acoes", data={"action": "aprovar", "ids": ids,
                                                                     "next": "/processos?status=AGUARDANDO_APROVACAO"})
    assert response.status_code == 200  # the result page: a row per processo, done or skipped with why
    html = response.get_data(as_text=True)
    assert "/processos?status=AGUARDANDO_APROVACAO" in html  # back to the same filter
    assert "3 processo(s) aprovado(s)." in html
    assert "2 processo(s) não aprovado(s)" in html and "Baixando Ltda" in html and "Sem Faturas Ltda" in html
    db.session.expire_all()
    assert [db.session.get(Processo, p.id).status for p in ready] == [S.AGUARDANDO_ENVIO_SAT] * 3
    assert db.session.get(Processo, downloading.id).status == S.AGUARDANDO_DOWNLOAD


def test_bulk_executar_starts_the_runnable_ones(as_role, enqueued):
    runnable = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    approved = ProcessoFactory(status=S.AGUARDANDO_ENVIO_SAT)
    waiting = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome="Esperando Ltda")
    response = as_role(Role.OPERADOR).post("/processos/acoes", data={
        "action": "executar", "ids[]": [str(runnable.id), str(approved.id), str(waiting.id)]}, follow_redirects=True)
    html = flashes_after(response)
    assert "2 processo(s) iniciado(s)." in html and "Esperando Ltda" in html
    assert len(enqueued) == 2


def test_bulk_executar_with_the_queue_down_says_so(as_role, monkeypatch):
    def down(execucao, **_):
        raise QueueUnavailable()

    monkeypatch.setattr("apps.rpa.follow.enqueue_start", down)
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    response = as_role(Role.OPERADOR).post("/processos/acoes", data={"action": "executar", "ids": [str(processo.id)]},
                                           follow_redirects=True)
    assert "fila de tarefas (Redis) está indisponível" in flashes_after(response)
    assert db.session.scalar(select(func.count()).select_from(Execucao)) == 0


@pytest.mark.parametrize("data,message", [
    ({"action": "aprovar"}, "Selecione pelo menos um processo."),
    ({"action": "aprovar", "ids": ["not-a-uuid"]}, "Seleção inválida."),
    ({"action": "apagar", "ids": ["00000000-0000-0000-0000-000000000001"]}, "Escolha Aprovar ou Executar."),
])
def test_bulk_bad_input(as_role, data, message):
    response = as_role(Role.OPERADOR).post("/processos/acoes", data=data, follow_redirects=True)
    assert message in flashes_after(response)


def test_bulk_ignores_an_offsite_next(as_role):
    response = as_role(Role.OPERADOR).post("/processos/acoes", data={"action": "aprovar", "next": "https://evil.example/"})
    assert response.headers["Location"].endswith("/processos")


# --- manual upload ----------------------------------------------------------------------------

def upload_data(*files):
    """Form fields for the manual upload; each file is (bytes, filename)."""
    data = {}
    for i, (content, name) in enumerate(files):
        data.update({f"faturas-{i}-arquivo": (io.BytesIO(content), name, "application/pdf"),
                     f"faturas-{i}-numero": f"NF-{i + 1}", f"faturas-{i}-valor": "1.234,56",
                     f"faturas-{i}-vencimento": "2026-06-10", f"faturas-{i}-emissao": ""})
    return data


@pytest.fixture
def manual_processo():
    return ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD, cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))


def stored_files(processo):
    folder = storage.root() / str(processo.id)
    return sorted(folder.iterdir()) if folder.exists() else []


def test_manual_upload_records_every_fatura_and_moves_to_approval(as_role, manual_processo):
    second = PDF + b"% segunda\n"
    response = as_role(Role.OPERADOR).post(f"/processos/{manual_processo.id}/faturas",
                                           data=upload_data((PDF, "nf um.pdf"), (second, "nf2.PDF")),
                                           content_type="multipart/form-data", follow_redirects=True)
    assert "2 fatura(s) registrada(s)" in flashes_after(response)
    db.session.expire_all()
    processo = db.session.get(Processo, manual_processo.id)
    assert processo.status == S.AGUARDANDO_APROVACAO
    faturas = sorted(processo.faturas, key=lambda f: f.numero)
    assert [(f.numero, str(f.valor), f.execucao_id) for f in faturas] == [
        ("NF-1", "1234.56", None), ("NF-2", "1234.56", None)]
    assert faturas[0].sha256 == storage.sha256_hex(PDF) and faturas[1].tamanho == len(second)
    assert faturas[0].nome_original == "nf_um.pdf"
    assert storage.path_of(faturas[1].arquivo).read_bytes() == second
    assert len(stored_files(processo)) == 2
    assert "processo_faturas_enviadas" in db.session.scalars(select(AuditLog.action)).all()


@pytest.mark.parametrize("content,name", [(b"just some text", "nota.pdf"), (HTML_AS_PDF, "fatura.pdf")])
def test_manual_upload_refuses_a_non_pdf_and_saves_nothing(as_role, manual_processo, content, name):
    response = as_role(Role.OPERADOR).post(f"/processos/{manual_processo.id}/faturas",
                                           data=upload_data((PDF, "boa.pdf"), (content, name)),
                                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert f"{name}: O arquivo não é um PDF válido." in response.get_data(as_text=True)
    assert 'value="NF-2"' in response.get_data(as_text=True)  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(Fatura)) == 0
    assert stored_files(manual_processo) == []
    assert db.session.get(Processo, manual_processo.id).status == S.AGUARDANDO_DOWNLOAD


def test_manual_upload_refuses_the_same_pdf_twice(as_role, manual_processo):
    response = as_role(Role.OPERADOR).post(f"/processos/{manual_processo.id}/faturas",
                                           data=upload_data((PDF, "a.pdf"), (PDF, "b.pdf")),
                                           content_type="multipart/form-data")
    assert response.status_code == 422 and "os dois PDFs escolhidos são iguais" in response.get_data(as_text=True)
    assert stored_files(manual_processo) == []


def test_manual_upload_field_errors_are_shown_next_to_the_fields(as_role, manual_processo):
    data = upload_data((PDF, "a.pdf"))
    data.update({"faturas-0-numero": "", "faturas-0-valor": "doze reais", "faturas-0-vencimento": "31/02/2026"})
    response = as_role(Role.OPERADOR).post(f"/processos/{manual_processo.id}/faturas", data=data,
                                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Informe o número da fatura." in html and "Informe o valor em reais" in html and "Data inválida" in html
    assert stored_files(manual_processo) == []


@pytest.mark.parametrize("field,message", [("valor", "Informe o valor."), ("vencimento", "Informe o vencimento."),
                                           ("numero", "Informe o número da fatura.")])
def test_manual_upload_blank_required_fields(as_role, manual_processo, field, message):
    data = upload_data((PDF, "a.pdf"))
    data[f"faturas-0-{field}"] = "   "
    response = as_role(Role.OPERADOR).post(f"/processos/{manual_processo.id}/faturas", data=data,
                                           content_type="multipart/form-data")
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert stored_files(manual_processo) == []


def test_manual_upload_without_a_file_asks_for_it(as_role, manual_processo):
    data = upload_data((PDF, "a.pdf"))
    del data["faturas-0-arquivo"]
    response = as_role(Role.OPERADOR).post(f"/processos/{manual_processo.id}/faturas", data=data,
                                           content_type="multipart/form-data")
    assert response.status_code == 422 and "Escolha o arquivo PDF da fatura." in response.get_data(as_text=True)


def test_manual_upload_refuses_too_many_files_instead_of_dropping_some(as_role, manual_processo):
    files = [(PDF + str(i).encode(), f"nf{i}.pdf") for i in range(21)]
    response = as_role(Role.OPERADOR).post(f"/processos/{manual_processo.id}/faturas", data=upload_data(*files),
                                           content_type="multipart/form-data")
    assert response.status_code == 422 and "Envie no máximo 20 faturas por vez." in response.get_data(as_text=True)
    assert stored_files(manual_processo) == []


def test_manual_upload_in_the_wrong_status_is_refused(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__operadora=OperadoraFactory(codigo="DIGITALNET", possui_rpa=False))
    response = as_role(Role.OPERADOR).post(f"/processos/{processo.id}/faturas", data=upload_data((PDF, "a.pdf")),
                                           content_type="multipart/form-data", follow_redirects=True)
    assert "Faturas manuais só podem ser enviadas com o processo em AGUARDANDO_DOWNLOAD." in flashes_after(response)
    assert stored_files(processo) == []


# --- PDF and em-execucao ----------------------------------------------------------------------

def test_fatura_pdf_is_served_inline_with_safe_headers(as_role):
    fatura = FaturaFactory(numero="NF nº 2026/01")
    response = as_role(Role.VISUALIZADOR).get(f"/faturas/{fatura.id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'inline; filename="NF_no_2026_01.pdf"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == PDF


def test_fatura_pdf_missing_or_unknown_is_404(as_role, client):
    fatura = FaturaFactory()
    storage.path_of(fatura.arquivo).unlink()
    as_role(Role.VISUALIZADOR)
    assert client.get(f"/faturas/{fatura.id}/pdf").status_code == 404
    assert client.get("/faturas/xyz/pdf").status_code == 404


def test_fatura_pdf_needs_login(client):
    fatura = FaturaFactory()
    assert client.get(f"/faturas/{fatura.id}/pdf").status_code == 302


def test_em_execucao_lists_only_active_runs(as_role):
    running = ExecucaoFactory(processo__cliente__nome="Rodando SA", status=StatusExecucao.EXECUTANDO, job_id="job-r")
    waiting = ExecucaoFactory(processo__cliente__nome="Na Fila SA", status=StatusExecucao.PENDENTE)
    ExecucaoFactory(processo__cliente__nome="Terminou SA", status=StatusExecucao.CONCLUIDO)
    with count_queries() as statements:
        html = page(as_role(Role.VISUALIZADOR), "/em-execucao")
    assert "Rodando SA" in html and "Na Fila SA" in html and "Terminou SA" not in html
    assert f'data-execucao-id="{running.id}" data-job-id="job-r"' in html
    assert f'data-execucao-id="{waiting.id}"' in html and 'id="em-execucao-table"' in html
    assert len([s for s in statements if "execucoes" in s]) == 1


def test_list_opens_on_the_current_month(as_role):
    from apps.core.clock import current_competencia

    ProcessoFactory(cliente__nome="Deste Mes", competencia=current_competencia())
    ProcessoFactory(cliente__nome="Mes Antigo", competencia="2020-01")
    html = page(as_role(Role.VISUALIZADOR), "/processos")
    assert "Deste Mes" in html and "Mes Antigo" not in html


def _servico_run(by, nome="Segunda via de conta", operadora="OI"):
    from apps.portal.models import Dominio, Servico

    servico = Servico(nome=nome, dominio=Dominio(slug=f"contas-{operadora.lower()}", nome="Contas"))
    run = Execucao(tipo=TipoExecucao.SERVICO, status=StatusExecucao.EXECUTANDO, servico=servico, criado_por_id=by.id,
                   job_id="job-s", operadora=OperadoraFactory(codigo=operadora))
    db.session.add(run)
    db.session.commit()
    return run


@pytest.mark.parametrize("role, sees", [(Role.OPERADOR, True), (Role.MANTENEDOR, True), (Role.APROVADOR, False),
                                        (Role.VISUALIZADOR, False)])
def test_em_execucao_lists_portal_runs_to_who_may_open_them(as_role, users, role, sees):
    """A portal serviço's run has no processo: it is listed (linking to its own page) for who runs the robots
    or keeps the serviços, and for the person who asked for it; not for anyone else."""
    ExecucaoFactory(processo__cliente__nome="Rodando SA", status=StatusExecucao.EXECUTANDO)
    run = _servico_run(users[Role.ADMIN])
    client = as_role(role)
    for url in ("/em-execucao", "/em-execucao/fragmento"):
        html = page(client, url)
        assert "Rodando SA" in html
        assert ("Serviço: Segunda via de conta" in html) is sees and (f'href="/portal/execucoes/{run.id}"' in html) is sees
    if sees:
        assert client.get(f"/portal/execucoes/{run.id}").status_code == 200  # the link opens


def test_em_execucao_lists_my_own_portal_runs(as_role, users):
    run = _servico_run(users[Role.APROVADOR])
    _servico_run(users[Role.ADMIN], nome="De outra pessoa", operadora="TIM")
    with count_queries() as statements:
        html = page(as_role(Role.APROVADOR), "/em-execucao")
    assert f'href="/portal/execucoes/{run.id}"' in html and "De outra pessoa" not in html and ">OI<" in html
    assert len([s for s in statements if "execucoes" in s]) == 1


def test_a_run_names_its_robot(as_role):
    from tests.factories import RoboFactory

    run = ExecucaoFactory(processo__cliente__nome="Com Robo SA", status=StatusExecucao.CONCLUIDO,
                          robo=RoboFactory(nome="robo-sp-01"))
    ExecucaoFactory(processo=run.processo, status=StatusExecucao.FALHOU)
    html = page(as_role(Role.VISUALIZADOR), f"/processos/{run.processo_id}")
    assert "<th>Robô</th>" in html and 'data-label="Robô">robo-sp-01</td>' in html and 'data-label="Robô">—</td>' in html
