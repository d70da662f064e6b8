"""Words, not codes: status and tipo badges in Portuguese (the code in the tooltip), audit actions with labels,
the audit's Registro column naming and linking its record, and the audit searched by cliente name ignoring
case and accents; exports and the API keep the codes."""
import csv
import io
import re
import uuid
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete, text

from apps import create_app
from apps.auth.models import Role
from apps.clientes.importacao import Importacao, StatusImportacao
from apps.clientes.models import Cliente
from apps.core import audit
from apps.core.audit import ACTION_LABELS, AuditLog
from apps.core.types import db
from apps.processos.models import StatusExecucao, StatusProcesso, TipoExecucao
from apps.processos.state import TRANSITIONS
from tests.factories import ClienteFactory, ExecucaoFactory, OperadoraFactory, ProcessoFactory

S = StatusProcesso
APPS = Path(__file__).resolve().parent.parent / "apps"


@pytest.fixture
def as_role(users, login):
    return lambda role: login(users[role])


def html_of(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def cell(html: str, content: str) -> bool:
    """Whether a table cell holds exactly `content`."""
    return re.search(rf"<td[^>]*>{re.escape(content)}</td>", html) is not None


def badge(html: str, code: str) -> str:
    """The text of the status badge of `code` (the first one)."""
    match = re.search(rf'<span class="badge [^"]*" data-status="{code}" title="{code}">([^<]*)</span>', html)
    assert match, f"badge de {code} ausente"
    return match.group(1)


# --- status and tipo words ------------------------------------------------------------------------

def test_processo_list_shows_status_words_with_the_code_in_the_title(as_role):
    for status in S.ALL:
        ProcessoFactory(status=status, cliente__nome=f"Cliente {status}")
    html = html_of(as_role(Role.VISUALIZADOR), "/processos?competencia=2026-05")
    for status in S.ALL:
        assert badge(html, status) == S.LABELS[status]
    assert ">AGUARDANDO_DOWNLOAD<" not in html and ">UPLOAD_REALIZADO<" not in html


def test_detail_and_its_fragment_show_execucao_words(as_role):
    processo = ProcessoFactory(status=S.AGUARDANDO_ENVIO_SAT, cliente__nome="Padaria Aurora")
    ExecucaoFactory(processo=processo, status=StatusExecucao.CONCLUIDO, tipo=TipoExecucao.DOWNLOAD)
    ExecucaoFactory(processo=processo, status=StatusExecucao.FALHOU, tipo=TipoExecucao.ENVIO_SAT)
    ExecucaoFactory(processo=processo, status=StatusExecucao.PENDENTE, tipo=TipoExecucao.ENVIO_SAT)
    client = as_role(Role.VISUALIZADOR)
    for url in (f"/processos/{processo.id}", f"/processos/{processo.id}/fragmento"):
        html = html_of(client, url)
        assert badge(html, S.AGUARDANDO_ENVIO_SAT) == "Aguardando envio ao SAT"
        assert badge(html, "CONCLUIDO") == "Concluída"
        assert badge(html, "FALHOU") == "Falhou"
        assert badge(html, "PENDENTE") == "Pendente"
        assert "Envio ao SAT em andamento (<span title=\"PENDENTE\">Pendente</span>)" in html
        assert cell(html, "Envio ao SAT") and cell(html, "Download")
        assert "ENVIO_SAT</td>" not in html and ">CONCLUIDO<" not in html and "(PENDENTE)" not in html
        # the words are on the live parts too, for the page's script after a status event
        assert 'data-status="AGUARDANDO_ENVIO_SAT" data-status-label="Aguardando envio ao SAT"' in html
        assert 'data-status="FALHOU" data-status-label="Falhou"' in html


def test_em_execucao_page_and_fragment_show_words(as_role):
    ExecucaoFactory(status=StatusExecucao.EXECUTANDO, tipo=TipoExecucao.ENVIO_SAT, job_id="job-1")
    client = as_role(Role.VISUALIZADOR)
    for url in ("/em-execucao", "/em-execucao/fragmento"):
        html = html_of(client, url)
        assert badge(html, "EXECUTANDO") == "Em execução"
        assert cell(html, "Envio ao SAT") and ">EXECUTANDO<" not in html
        assert 'data-status="EXECUTANDO" data-status-label="Em execução"' in html


def test_dashboard_badges_are_words(as_role):
    ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    html = html_of(as_role(Role.VISUALIZADOR), "/")
    assert badge(html, S.AGUARDANDO_APROVACAO) == "Aguardando aprovação"


def test_every_execucao_status_and_tipo_has_a_word():
    assert set(StatusExecucao.LABELS) == set(StatusExecucao.ALL)
    assert set(TipoExecucao.LABELS) == set(TipoExecucao.ALL)
    assert set(StatusProcesso.LABELS) == set(StatusProcesso.ALL)


def test_import_result_shows_the_status_word_with_the_code_in_the_title(as_role, users):
    importacao = Importacao(status=StatusImportacao.CONCLUIDA, progresso=100, arquivo_nome="clientes.csv",
                            criado_por=users[Role.OPERADOR])
    db.session.add(importacao)
    db.session.commit()
    html = html_of(as_role(Role.OPERADOR), f"/clientes/importacoes/{importacao.id}")
    assert 'data-status="CONCLUIDA" title="CONCLUIDA">Concluída</span>' in html


# --- audit actions --------------------------------------------------------------------------------

def _recorded_actions() -> set[str]:
    """Every action name the code passes to audit.record (directly or through its small wrappers)."""
    found = {f"processo_{action}" for action in TRANSITIONS}
    first_argument = re.compile(r"(?:audit\.record|_audit|_commit)\(\s*\"([a-z_]+)\"")
    either = re.compile(r"\"([a-z_]+)\" if [^\"]* else \"([a-z_]+)\"")
    for path in APPS.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            found.update(first_argument.findall(line))
            if "audit.record(" in line or "action = " in line:
                found.update(name for pair in either.findall(line) for name in pair)
    return found


def test_every_recorded_action_has_a_portuguese_label():
    recorded = _recorded_actions()
    assert {"login_falhou", "operadora_credencial_removida", "fila_job_excluido", "processo_download_concluido",
            "cliente_desativado", "token_global_renovado"} <= recorded  # the scan sees the indirect ones too
    assert recorded - set(ACTION_LABELS) == set()


def test_audit_list_and_filter_show_labels_with_the_code_kept_aside(admin_client, users):
    processo = ProcessoFactory()
    audit.record("processo_download_concluido", entity=processo)
    audit.record("fila_job_excluido", entity_type="rq_job", entity_id="job-9", user=users[Role.ADMIN])
    db.session.commit()
    html = html_of(admin_client, "/auditoria")
    assert '<option value="processo_download_concluido" >Download concluído</option>' in html
    assert '<option value="fila_job_excluido" >Tarefa excluída</option>' in html
    assert 'title="processo_download_concluido">Download concluído</span>' in html
    assert ">processo_download_concluido<" not in html
    html = html_of(admin_client, "/auditoria?acao=processo_download_concluido")
    assert 'value="processo_download_concluido" selected>Download concluído' in html


# --- the Registro column --------------------------------------------------------------------------

def _registro_cells(html: str) -> list[str]:
    return [found.strip() for found in re.findall(r"<td[^>]* data-registro[^>]*>(.*?)</td>", html, re.S)]


def test_registro_names_and_links_each_kind_of_record(admin_client, users):
    operadora = OperadoraFactory(codigo="EMBRATEL")
    cliente = ClienteFactory(nome="Padaria São João", operadora=operadora)
    processo = ProcessoFactory(cliente=cliente, competencia="2026-04")
    operador = users[Role.OPERADOR]
    db.session.execute(delete(AuditLog))
    audit.record("processo_aprovar", entity=processo, user=operador)
    audit.record("cliente_alterado", entity=cliente, user=operador)
    audit.record("operadora_alterada", entity=operadora, user=operador)
    audit.record("senha_redefinida", entity=operador, user=users[Role.ADMIN])
    audit.record("processos_gerados", entity_type="processos", entity_id="2026-04", user=users[Role.ADMIN])
    db.session.commit()
    cells = _registro_cells(html_of(admin_client, "/auditoria"))
    assert sorted(cells) == sorted([
        f'<a href="/processos/{processo.id}" title="processos {processo.id}">Padaria São João · 2026-04</a>',
        f'<a href="/clientes/{cliente.id}/editar" title="clientes {cliente.id}">Padaria São João</a>',
        f'<a href="/operadoras/{operadora.id}/editar" title="operadoras {operadora.id}">EMBRATEL</a>',
        f'<a href="/usuarios/{operador.id}/editar" title="users {operador.id}">operador</a>',
        '<span title="processos 2026-04">Processos de 2026-04</span>',  # the month's batch: no one record
    ])


def test_registro_of_a_deleted_record_keeps_its_name_without_a_link(admin_client, users):
    cliente = ClienteFactory(nome="Cliente Removido")
    cliente_id = cliente.id
    audit.record("cliente_criado", entity=cliente, user=users[Role.ADMIN])
    db.session.commit()
    db.session.execute(delete(Cliente).where(Cliente.id == cliente_id))
    db.session.commit()
    cells = _registro_cells(html_of(admin_client, "/auditoria?acao=cliente_criado"))
    assert cells == [f'<span title="clientes {cliente_id}">Cliente Removido</span>']


def test_registro_of_an_entry_recorded_by_id_is_named_from_its_record(admin_client, users):
    """login_falhou names the user only by type and id: the name is looked up when it is recorded."""
    admin = users[Role.ADMIN]
    entry = audit.record("login_falhou", entity_type="users", entity_id=admin.id, user=None)
    unknown = audit.record("login_falhou", entity_type="users", entity_id=None, user=None)
    db.session.commit()
    assert (entry.registro, entry.registro_busca) == ("admin", "admin")
    assert (unknown.registro, unknown.registro_busca) == (None, "")


def test_registro_without_a_name_shows_the_kind_and_the_id(admin_client):
    db.session.add(AuditLog(action="fila_job_reenfileirado", entity_type="rq_job", entity_id="abc-123"))
    db.session.commit()
    assert _registro_cells(html_of(admin_client, "/auditoria?acao=fila_job_reenfileirado")) == [
        '<span title="rq_job abc-123">Tarefa abc-123</span>']


# --- searching the trail by record ----------------------------------------------------------------

@pytest.fixture
def trail(users):
    joao = ProcessoFactory(cliente__nome="Padaria São João Ltda", competencia="2026-03")
    outro = ProcessoFactory(cliente__nome="Hotel Serra Azul", competencia="2026-03")
    audit.record("processo_aprovar", entity=joao, user=users[Role.OPERADOR])
    audit.record("processo_rejeitar", entity=outro, user=users[Role.OPERADOR], detail="valor em dobro")
    db.session.commit()
    return joao, outro


@pytest.mark.parametrize("typed", ["São João", "sao joao", "SAO JOÃO", "padaria  são", "joão ltda · 2026-03"])
def test_audit_search_finds_the_cliente_ignoring_case_and_accents(admin_client, trail, typed):
    joao, _outro = trail
    cells = _registro_cells(html_of(admin_client, f"/auditoria?registro={typed}"))
    assert cells == [f'<a href="/processos/{joao.id}" title="processos {joao.id}">Padaria São João Ltda · 2026-03</a>']


def test_audit_search_still_finds_ids_and_details(admin_client, trail):
    joao, outro = trail
    assert len(_registro_cells(html_of(admin_client, f"/auditoria?registro={str(joao.id)[:8]}"))) == 1
    assert "Hotel Serra Azul" in html_of(admin_client, "/auditoria?registro=em dobro")
    assert _registro_cells(html_of(admin_client, "/auditoria?registro=ninguém")) == []
    assert _registro_cells(html_of(admin_client, "/auditoria?registro=%25")) == []  # '%' is only itself


def test_api_searches_the_same_way_and_keeps_the_codes(client, trail, api_headers):
    response = client.get("/api/v1/auditoria?registro=sao joao", headers=api_headers(Role.ADMIN))
    items = response.get_json()["items"]
    assert [item["acao"] for item in items] == ["processo_aprovar"]
    assert items[0]["entity_type"] == "processos"


def test_csv_export_keeps_the_codes_and_adds_the_name(admin_client, trail):
    text_csv = admin_client.get("/auditoria/exportar.csv?registro=sao joao").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text_csv.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["Data/hora", "Usuário", "Ação", "Registro", "Identificador", "Detalhe", "Endereço IP",
                       "Nome do registro"]
    assert [(r[2], r[3], r[7]) for r in rows[1:]] == [("processo_aprovar", "processos", "Padaria São João Ltda · 2026-03")]


# --- the migration names the entries recorded before it -----------------------------------------------

def test_migration_names_existing_entries_from_their_records(app_config, empty_database_url, tmp_path):
    old = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=empty_database_url, INSTANCE_DIR=tmp_path))
    now = "2026-05-01 10:00:00.000000"
    op_id, cli_id, proc_id, user_id = "a" * 32, "b" * 32, "c" * 32, "d" * 32
    dashed = {key: str(uuid.UUID(key)) for key in (op_id, cli_id, proc_id, user_id)}
    with old.app_context():
        upgrade(revision="c5e3a7b9d2f4")
        for sql in (
            f"INSERT INTO operadoras (id, codigo, nome, possui_rpa, rpa_terceirizado, ativo, limite_concorrencia, "
            f"created_at, updated_at) VALUES ('{op_id}', 'VIVO', 'Vivo', TRUE, FALSE, TRUE, 5, '{now}', '{now}')",
            f"INSERT INTO clientes (id, nome, cnpj, operadora_id, ativo, created_at, updated_at) "
            f"VALUES ('{cli_id}', 'Açaí do Zé', '11222333000181', '{op_id}', TRUE, '{now}', '{now}')",
            f"INSERT INTO processos (id, cliente_id, competencia, status, cliente_nome, created_at, updated_at) "
            f"VALUES ('{proc_id}', '{cli_id}', '2026-05', 'AGUARDANDO_DOWNLOAD', 'Açaí do Zé', '{now}', '{now}')",
            *(f"INSERT INTO audit_log (id, created_at, action, entity_type, entity_id) VALUES "
              f"('{n * 32}', '{now}', '{action}', '{kind}', '{ref}')"
              for n, action, kind, ref in (
                  ("1", "processo_aprovar", "processos", dashed[proc_id]),
                  ("2", "cliente_alterado", "clientes", dashed[cli_id]),
                  ("3", "operadora_alterada", "operadoras", dashed[op_id]),
                  ("4", "processos_gerados", "processos", "2026-05"),
                  ("5", "cliente_alterado", "clientes", dashed[user_id]),  # a record gone since
                  ("6", "fila_job_excluido", "rq_job", "job-1"))),
        ):
            db.session.execute(text(sql))
        db.session.commit()
        upgrade()
        named = db.session.execute(text("SELECT id, registro, registro_busca FROM audit_log ORDER BY id")).all()
        assert [tuple(row[1:]) for row in named] == [
            ("Açaí do Zé · 2026-05", "acai do ze · 2026-05"), ("Açaí do Zé", "acai do ze"), ("VIVO", "vivo"),
            ("Processos de 2026-05", "processos de 2026-05"), (None, ""), (None, "")]
        db.session.remove()
        db.engine.dispose()
