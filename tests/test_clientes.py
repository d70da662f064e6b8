"""Clientes: service rules and pages (list, search, filters, create, edit, deactivate)."""
import re

import pytest
from sqlalchemy import event, select

from apps.auth.models import Role
from apps.clientes import services
from apps.clientes.models import Cliente
from apps.core.audit import AuditLog
from apps.core.records import RecordError
from apps.core.types import db
from tests.factories import ClienteFactory, OperadoraFactory
from tests.factories import valid_cnpj as cnpj_for

CLASSIC = "11222333000181"
ALPHA = "12ABC34501DE35"




def audit_actions(entity_id):
    return sorted(a.action for a in db.session.scalars(select(AuditLog).where(AuditLog.entity_id == str(entity_id))))


def field_block(html, name, next_name=None):
    """The HTML from a field's label to the next field's label (where its errors appear)."""
    start = html.index(f'for="{name}"')
    return html[start:html.index(f'for="{next_name}"', start)] if next_name else html[start:]


# --- services ---------------------------------------------------------------------------

def test_create_normalizes_cnpj_and_audits(users):
    operadora = OperadoraFactory()
    cliente = services.create_cliente(
        {"nome": " Padaria ", "cnpj": "12.abc.345/01de-35", "codigo": " 123 ", "operadora_id": str(operadora.id)},
        by=users[Role.OPERADOR])
    db.session.commit()
    assert (cliente.nome, cliente.cnpj, cliente.codigo, cliente.ativo) == ("Padaria", ALPHA, "123", True)
    assert cliente.cnpj_formatado == "12.ABC.345/01DE-35"
    assert audit_actions(cliente.id) == ["cliente_criado"]


@pytest.mark.parametrize("data, field", [
    ({"nome": "", "cnpj": CLASSIC}, "nome"),
    ({"nome": "X", "cnpj": "11.222.333/0001-82"}, "cnpj"),
    ({"nome": "X", "cnpj": ""}, "cnpj"),
    ({"nome": "X", "cnpj": CLASSIC, "operadora_id": None}, "operadora_id"),
    ({"nome": "X", "cnpj": CLASSIC, "operadora_id": "nao-e-uuid"}, "operadora_id"),
    ({"nome": "X", "cnpj": CLASSIC, "operadora_id": "00000000-0000-0000-0000-000000000000"}, "operadora_id"),
])
def test_invalid_values_name_the_field(users, data, field):
    operadora = OperadoraFactory()
    data = {"operadora_id": str(operadora.id), **data}
    with pytest.raises(RecordError) as info:
        services.create_cliente(data, by=users[Role.OPERADOR])
    assert info.value.status == 422 and field in info.value.fields


def test_duplicate_cnpj_is_a_conflict_whatever_the_punctuation(users):
    operadora = OperadoraFactory()
    ClienteFactory(operadora=operadora, nome="Padaria Aurora", cnpj=CLASSIC)
    with pytest.raises(RecordError) as info:
        services.create_cliente({"nome": "Outro", "cnpj": "11.222.333/0001-81", "operadora_id": operadora.id},
                                by=users[Role.OPERADOR])
    assert info.value.status == 409 and "cnpj" in info.value.fields


def test_inactive_operadora_is_refused_but_kept_when_unchanged(users):
    inativa = OperadoraFactory(codigo="OI", ativo=False)
    ativa = OperadoraFactory(codigo="VIVO")
    with pytest.raises(RecordError) as info:
        services.create_cliente({"nome": "X", "cnpj": CLASSIC, "operadora_id": inativa.id}, by=users[Role.ADMIN])
    assert "inativa" in info.value.fields["operadora_id"]
    db.session.rollback()
    cliente = ClienteFactory(operadora=inativa, nome="Padaria Aurora", cnpj=CLASSIC)
    services.update_cliente(cliente, {"nome": "Nome corrigido"}, by=users[Role.ADMIN])
    assert cliente.nome == "Nome corrigido"
    assert services.set_active(cliente, False, by=users[Role.ADMIN]) is True
    with pytest.raises(RecordError):
        services.set_active(cliente, True, by=users[Role.ADMIN])
    with pytest.raises(RecordError):
        services.update_cliente(cliente, {"ativo": True}, by=users[Role.ADMIN])
    services.update_cliente(cliente, {"operadora_id": str(ativa.id)}, by=users[Role.ADMIN])
    assert cliente.operadora.codigo == "VIVO"


# --- list page --------------------------------------------------------------------------

def test_list_search_by_nome_codigo_and_cnpj(admin_client):
    operadora = OperadoraFactory()
    ClienteFactory(operadora=operadora, nome="Padaria Aurora", cnpj=CLASSIC, codigo="C-77")
    ClienteFactory(operadora=operadora, nome="Hotel Pampa", cnpj=ALPHA)

    def names(query):
        html = admin_client.get(f"/clientes?{query}").get_data(as_text=True)
        return set(re.findall(r'data-cliente="([^"]+)"', html))

    assert names("") == {CLASSIC, ALPHA}
    assert names("q=aurora") == {CLASSIC}
    assert names("q=c-77") == {CLASSIC}
    assert names("q=11.222.333/0001-81") == {CLASSIC}
    assert names("q=11222333") == {CLASSIC}
    assert names("q=12.abc.345") == {ALPHA}
    assert names("q=nada") == set()


def test_list_filters_operadora_and_ativo(admin_client):
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    ClienteFactory(operadora=vivo, nome="A", cnpj=cnpj_for(1))
    ClienteFactory(operadora=oi, nome="B", cnpj=cnpj_for(2))
    ClienteFactory(operadora=oi, nome="C", cnpj=cnpj_for(3), ativo=False)

    def names(query):
        html = admin_client.get(f"/clientes?{query}").get_data(as_text=True)
        return set(re.findall(r"<td>([ABC])</td>", html))

    assert names(f"operadora={oi.id}") == {"B", "C"}
    assert names(f"operadora={oi.id}&ativo=1") == {"B"}
    assert names("ativo=0") == {"C"}


def test_list_shows_formatted_cnpj_sorted_and_paginated(app, admin_client, monkeypatch):
    monkeypatch.setitem(app.config, "ITEMS_PER_PAGE", 2)
    operadora = OperadoraFactory()
    for i, nome in enumerate(["Delta", "Alfa", "Charlie", "Bravo", "Eco"], start=1):
        ClienteFactory(operadora=operadora, nome=nome, cnpj=cnpj_for(i))
    first = admin_client.get("/clientes").get_data(as_text=True)
    assert first.index("<td>Alfa</td>") < first.index("<td>Bravo</td>")
    assert "<td>Charlie</td>" not in first and "5 registro(s)" in first
    assert "00.000.002/0001-" in first  # Alfa, formatted
    last = admin_client.get("/clientes?page=3").get_data(as_text=True)
    assert "<td>Eco</td>" in last and "<td>Alfa</td>" not in last


def test_list_loads_operadoras_without_one_query_per_row(app, admin_client):
    """The number of SQL statements does not grow with the number of clientes shown."""
    operadoras = [OperadoraFactory(codigo=f"OP{i}") for i in range(4)]

    def statements_for_list():
        db.session.expire_all()
        seen = []

        def listener(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert admin_client.get("/clientes").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    ClienteFactory(operadora=operadoras[0], nome="Um", cnpj=cnpj_for(1))
    few = statements_for_list()
    for i in range(2, 12):
        ClienteFactory(operadora=operadoras[i % 4], nome=f"Cliente {i}", cnpj=cnpj_for(i))
    assert statements_for_list() == few


def test_visualizador_sees_list_without_actions_and_cannot_write(client, users, login):
    cliente = ClienteFactory(operadora=OperadoraFactory(), nome="Padaria Aurora", cnpj=CLASSIC)
    login(users[Role.VISUALIZADOR])
    html = client.get("/clientes").get_data(as_text=True)
    assert "Padaria Aurora" in html and "11.222.333/0001-81" in html
    assert "Novo cliente" not in html and "/desativar" not in html and "/editar" not in html
    assert client.get("/clientes/novo").status_code == 403
    assert client.post("/clientes/novo", data={"nome": "X", "cnpj": ALPHA}).status_code == 403
    assert client.get(f"/clientes/{cliente.id}/editar").status_code == 403
    assert client.post(f"/clientes/{cliente.id}/editar", data={"nome": "Y"}).status_code == 403
    assert client.post(f"/clientes/{cliente.id}/desativar").status_code == 403
    db.session.refresh(cliente)
    assert (cliente.nome, cliente.ativo) == ("Padaria Aurora", True)
    assert db.session.scalar(select(Cliente).where(Cliente.cnpj == ALPHA)) is None


# --- create / edit / deactivate pages ---------------------------------------------------

def test_create_page_lists_only_active_operadoras(operador_client):
    OperadoraFactory(codigo="VIVO")
    OperadoraFactory(codigo="OI", ativo=False)
    html = operador_client.get("/clientes/novo").get_data(as_text=True)
    assert "VIVO — Vivo" in html and "OI — Oi" not in html


def test_operador_creates_cliente(operador_client):
    operadora = OperadoraFactory()
    response = operador_client.post("/clientes/novo", data={
        "nome": "Hotel Pampa", "cnpj": "12.abc.345/01de-35", "codigo": "998", "operadora_id": str(operadora.id)})
    assert response.status_code == 302
    cliente = db.session.scalar(select(Cliente))
    assert (cliente.cnpj, cliente.operadora_id) == (ALPHA, operadora.id)
    assert "12.ABC.345/01DE-35" in operador_client.get("/clientes").get_data(as_text=True)


def test_create_errors_are_shown_next_to_each_field(operador_client):
    operadora = OperadoraFactory()
    ClienteFactory(operadora=operadora, nome="Padaria Aurora", cnpj=CLASSIC)
    response = operador_client.post("/clientes/novo", data={
        "nome": "", "cnpj": "11.222.333/0001-00", "codigo": "guardado", "operadora_id": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Informe o nome." in field_block(html, "nome", "cnpj")
    assert "CNPJ inválido" in field_block(html, "cnpj", "codigo")
    assert "Escolha a operadora." in field_block(html, "operadora_id")
    assert 'value="guardado"' in html and 'value="11.222.333/0001-00"' in html
    response = operador_client.post("/clientes/novo", data={
        "nome": "Outro", "cnpj": "11222333000181", "operadora_id": str(operadora.id)})
    assert response.status_code == 422
    assert "CNPJ já cadastrado." in field_block(response.get_data(as_text=True), "cnpj", "codigo")
    assert db.session.scalar(select(Cliente).where(Cliente.nome == "Outro")) is None


def test_edit_shows_formatted_cnpj_and_saves(operador_client):
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    cliente = ClienteFactory(operadora=vivo, nome="Padaria Aurora", cnpj=CLASSIC)
    page = operador_client.get(f"/clientes/{cliente.id}/editar").get_data(as_text=True)
    assert 'value="11.222.333/0001-81"' in page
    assert re.search(rf'<option selected value="{vivo.id}"|<option value="{vivo.id}" selected', page)
    response = operador_client.post(f"/clientes/{cliente.id}/editar", data={
        "nome": "Padaria Aurora Ltda", "cnpj": "11.222.333/0001-81", "codigo": "", "operadora_id": str(oi.id)})
    assert response.status_code == 302
    db.session.refresh(cliente)
    assert (cliente.nome, cliente.operadora_id, cliente.codigo) == ("Padaria Aurora Ltda", oi.id, None)
    assert "cliente_alterado" in audit_actions(cliente.id)


def test_deactivate_and_reactivate(operador_client):
    operadora = OperadoraFactory()
    cliente = ClienteFactory(operadora=operadora, nome="Padaria Aurora", cnpj=CLASSIC)
    html = operador_client.get("/clientes").get_data(as_text=True)
    assert re.search(r'action="/clientes/[^"]+/desativar" data-confirm="[^"]+"', html)
    assert operador_client.post(f"/clientes/{cliente.id}/desativar").status_code == 302
    db.session.refresh(cliente)
    assert cliente.ativo is False
    operadora.ativo = False
    db.session.commit()
    response = operador_client.post(f"/clientes/{cliente.id}/reativar", follow_redirects=True)
    assert "está inativa" in response.get_data(as_text=True)
    db.session.refresh(cliente)
    assert cliente.ativo is False
    operadora.ativo = True
    db.session.commit()
    assert operador_client.post(f"/clientes/{cliente.id}/reativar").status_code == 302
    db.session.refresh(cliente)
    assert cliente.ativo is True
    assert audit_actions(cliente.id) == ["cliente_desativado", "cliente_reativado"]


def test_unknown_ids_are_404(operador_client):
    assert operador_client.get("/clientes/nao-e-uuid/editar").status_code == 404
    assert operador_client.post("/clientes/00000000-0000-0000-0000-000000000000/desativar").status_code == 404
