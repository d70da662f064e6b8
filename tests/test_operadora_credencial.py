"""An outsourced operadora's own RPA credential: encrypted at rest, write-only, admin-only, audited."""
import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.operadoras import credentials, services, url_validation
from apps.operadoras.credentials import credential_for
from apps.operadoras.models import Operadora
from tests.factories import OperadoraFactory
from tests.test_operadoras import fake_getaddrinfo

SECRET = "robo-terceiro-chave-7f3a9c2e41d0b8"
OTHER = "outra-chave-do-terceiro-0123456789"
URL = "https://robo.exemplo.com.br/api"


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    monkeypatch.setattr(url_validation.socket, "getaddrinfo", fake_getaddrinfo)


def stored_column(operadora) -> str | None:
    return db.session.execute(text("SELECT credencial_rpa_cifrada FROM operadoras WHERE codigo = :c"),
                              {"c": operadora.codigo}).scalar()


def audit_rows(operadora):
    return db.session.execute(select(AuditLog.action, AuditLog.detail)
                              .where(AuditLog.entity_id == str(operadora.id)).order_by(AuditLog.created_at)).all()


def admin_of(users):
    return users[Role.ADMIN]


# --- credentials.py ---------------------------------------------------------------------------

def test_stored_encrypted_and_decrypted_by_credential_for(app, users):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    services.update_operadora(operadora, {"credencial_rpa": f"  Bearer {SECRET} "}, by=admin_of(users))
    db.session.commit()
    raw = stored_column(operadora)
    assert raw and SECRET not in raw and raw.startswith("gAAAAA")  # a Fernet token, not the secret
    assert credential_for(db.session.get(Operadora, operadora.id)) == SECRET


def test_no_credential_is_none(app):
    assert credential_for(OperadoraFactory(codigo="TERC", terceirizada=True)) is None


def test_a_credential_that_cannot_be_decrypted_is_none_and_logs_without_the_secret(app, users, caplog, monkeypatch):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    services.update_operadora(operadora, {"credencial_rpa": SECRET}, by=admin_of(users))
    db.session.commit()
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret-key-of-more-than-32-characters")
    with caplog.at_level(logging.WARNING, logger="apps.operadoras.credentials"):
        assert credential_for(operadora) is None
    assert "TERC" in caplog.text and "cannot be decrypted" in caplog.text
    assert SECRET not in caplog.text and operadora.credencial_rpa_cifrada not in caplog.text
    operadora.credencial_rpa_cifrada = "not-a-fernet-token"
    assert credential_for(operadora) is None


def test_credentials_key_setting_is_used_when_set(app, users, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setitem(app.config, "CREDENTIALS_KEY", key)
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    services.update_operadora(operadora, {"credencial_rpa": SECRET}, by=admin_of(users))
    assert Fernet(key.encode()).decrypt(operadora.credencial_rpa_cifrada.encode()).decode() == SECRET
    assert credential_for(operadora) == SECRET
    monkeypatch.setitem(app.config, "CREDENTIALS_KEY", "")  # back to the SECRET_KEY-derived key: unreadable
    assert credential_for(operadora) is None


def test_a_bad_credentials_key_is_refused_in_portuguese(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "CREDENTIALS_KEY", "curta")
    with pytest.raises(credentials.CredentialError, match="CREDENTIALS_KEY inválida"):
        credentials.encrypt(SECRET)


# --- services ---------------------------------------------------------------------------------

def test_set_replace_and_remove_are_audited_without_the_secret(app, users):
    admin = admin_of(users)
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    services.update_operadora(operadora, {"credencial_rpa": SECRET}, by=admin)
    services.update_operadora(operadora, {"credencial_rpa": SECRET}, by=admin)  # the same: nothing happens
    services.update_operadora(operadora, {"credencial_rpa": OTHER}, by=admin)
    db.session.commit()
    assert credential_for(operadora) == OTHER
    services.update_operadora(operadora, {"credencial_rpa": None}, by=admin)
    services.update_operadora(operadora, {"credencial_rpa": None}, by=admin)  # already none: not audited
    db.session.commit()
    assert stored_column(operadora) is None and credential_for(operadora) is None
    rows = audit_rows(operadora)
    assert [action for action, _ in rows] == [
        "operadora_credencial_definida", "operadora_credencial_definida", "operadora_credencial_removida"]
    for _, detail in rows:
        assert SECRET not in detail and OTHER not in detail and SECRET[-6:] not in detail


def test_only_an_admin_may_send_a_credential(app, users):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    for role in (Role.MANTENEDOR, Role.OPERADOR, Role.VISUALIZADOR):
        with pytest.raises(services.RecordError) as exc:
            services.update_operadora(operadora, {"credencial_rpa": SECRET}, by=users[role])
        assert exc.value.status == 403 and "credencial_rpa" in exc.value.fields


@pytest.mark.parametrize("value, message", [
    ("", "Informe a credencial"), ("   ", "Informe a credencial"), ("a b", "espaços"), ("a\nb", "espaços"),
    ("x" * 4097, "no máximo 4096"),
])
def test_malformed_credentials_are_refused(app, users, value, message):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    with pytest.raises(services.RecordError) as exc:
        services.update_operadora(operadora, {"credencial_rpa": value}, by=admin_of(users))
    assert message in exc.value.fields["credencial_rpa"] and exc.value.status == 422


def test_a_credential_needs_an_outsourced_robot(app, users):
    propria = OperadoraFactory(codigo="VIVO")
    with pytest.raises(services.RecordError) as exc:
        services.update_operadora(propria, {"credencial_rpa": SECRET}, by=admin_of(users))
    assert "só é usada por RPA terceirizado" in exc.value.fields["credencial_rpa"]
    created = services.create_operadora({"codigo": "NOVA", "nome": "Nova", "rpa_terceirizado": True,
                                         "url_endpoint_rpa": URL, "credencial_rpa": SECRET}, by=admin_of(users))
    assert credential_for(created) == SECRET
    assert [a for a, _ in audit_rows(created)] == ["operadora_criada", "operadora_credencial_definida"]


def test_moving_the_url_to_another_server_asks_for_the_credential_again(app, users):
    """Nobody can read the credential back, so nobody may send it to a server of their choosing either."""
    admin = admin_of(users)
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    services.update_operadora(operadora, {"credencial_rpa": SECRET}, by=admin)
    db.session.commit()
    services.update_operadora(operadora, {"url_endpoint_rpa": "https://robo.exemplo.com.br/v2"}, by=admin)  # same origin
    with pytest.raises(services.RecordError) as exc:
        services.update_operadora(operadora, {"url_endpoint_rpa": "https://200.160.2.3/api"}, by=admin)
    assert "não seja enviada a outro servidor" in exc.value.fields["credencial_rpa"]
    db.session.rollback()
    services.update_operadora(operadora, {"url_endpoint_rpa": "https://200.160.2.3/api", "credencial_rpa": OTHER},
                              by=admin)
    db.session.commit()
    assert credential_for(operadora) == OTHER


# --- pages --------------------------------------------------------------------------------------

def form_data(operadora, **extra):
    data = {"codigo": operadora.codigo, "nome": operadora.nome, "possui_rpa": "y", "rpa_terceirizado": "y",
            "url_endpoint_rpa": operadora.url_endpoint_rpa, "limite_concorrencia": "5"}
    data.update(extra)
    return data


def test_admin_form_sets_keeps_and_removes_the_credential_and_never_shows_it(admin_client):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    url = f"/operadoras/{operadora.id}/editar"
    page = admin_client.get(url).get_data(as_text=True)
    assert "Credencial do RPA terceirizado" in page and 'type="password"' in page
    assert "Remover credencial" not in page  # nothing to remove yet

    assert admin_client.post(url, data=form_data(operadora, credencial_rpa=SECRET)).status_code == 302
    db.session.expire_all()
    assert credential_for(db.session.get(Operadora, operadora.id)) == SECRET
    page = admin_client.get(url).get_data(as_text=True)
    assert SECRET not in page and "••••••••" + SECRET[-6:] in page and "Remover credencial" in page
    assert db.session.get(Operadora, operadora.id).credencial_rpa_cifrada not in page

    assert admin_client.post(url, data=form_data(operadora, nome="Renomeada", credencial_rpa="")).status_code == 302
    db.session.expire_all()
    assert credential_for(db.session.get(Operadora, operadora.id)) == SECRET  # blank keeps it

    both = admin_client.post(url, data=form_data(operadora, credencial_rpa=OTHER, remover_credencial="y"))
    assert both.status_code == 422 and "não os dois" in both.get_data(as_text=True)
    assert SECRET not in both.get_data(as_text=True) and OTHER not in both.get_data(as_text=True)

    assert admin_client.post(url, data=form_data(operadora, remover_credencial="y")).status_code == 302
    db.session.expire_all()
    assert db.session.get(Operadora, operadora.id).credencial_rpa_cifrada is None
    assert "nenhuma" in admin_client.get(url).get_data(as_text=True)


def test_a_refused_credential_is_not_echoed_back(admin_client):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    response = admin_client.post(f"/operadoras/{operadora.id}/editar",
                                 data=form_data(operadora, credencial_rpa="tem espaco " + SECRET))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "espaços" in page and SECRET not in page


def test_mantenedor_sees_only_whether_one_is_configured_and_cannot_send_one(client, users, login):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    services.update_operadora(operadora, {"credencial_rpa": SECRET}, by=admin_of(users))
    db.session.commit()
    login(users[Role.MANTENEDOR])
    url = f"/operadoras/{operadora.id}/editar"
    page = client.get(url).get_data(as_text=True)
    assert "Credencial própria" in page and "Configurada" in page
    assert 'name="credencial_rpa"' not in page and SECRET[-6:] not in page
    client.post(url, data={"codigo": operadora.codigo, "nome": "Outro nome", "credencial_rpa": OTHER})
    db.session.expire_all()
    assert credential_for(db.session.get(Operadora, operadora.id)) == SECRET  # the field is not even read


# --- API ----------------------------------------------------------------------------------------

def test_api_admin_writes_the_credential_and_reads_only_a_flag(client, api_headers):
    admin = api_headers(Role.ADMIN)
    created = client.post("/api/v1/operadoras", headers=admin, json={
        "codigo": "TERC", "nome": "Terc", "rpa_terceirizado": True, "url_endpoint_rpa": URL, "credencial_rpa": SECRET})
    assert created.status_code == 201
    body = created.get_json()
    assert body["credencial_configurada"] is True and "credencial_rpa" not in body and SECRET not in created.get_data(
        as_text=True)
    url = f"/api/v1/operadoras/{body['id']}"
    got = client.get(url, headers=admin)
    assert got.get_json()["credencial_configurada"] is True and SECRET not in got.get_data(as_text=True)
    listed = client.get("/api/v1/operadoras", headers=admin)
    assert SECRET not in listed.get_data(as_text=True)
    assert [item["credencial_configurada"] for item in listed.get_json()["items"]] == [True]

    assert client.patch(url, headers=admin, json={"credencial_rpa": 42}).status_code == 400
    assert client.patch(url, headers=admin, json={"credencial_configurada": False}).status_code == 422
    removed = client.patch(url, headers=admin, json={"credencial_rpa": None})
    assert removed.status_code == 200 and removed.get_json()["credencial_configurada"] is False


def test_api_non_admin_cannot_write_the_credential(client, api_headers):
    operadora = OperadoraFactory(codigo="TERC", terceirizada=True)
    response = client.patch(f"/api/v1/operadoras/{operadora.id}", headers=api_headers(Role.MANTENEDOR),
                            json={"credencial_rpa": SECRET})
    assert response.status_code == 403 and "credencial_rpa" in response.get_json()["fields"]
    db.session.expire_all()
    assert db.session.get(Operadora, operadora.id).credencial_rpa_cifrada is None
