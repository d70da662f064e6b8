"""The audit page: admins filter and export the trail; nobody else sees it."""
import csv
import io

from apps.auth.models import Role
from apps.core import audit
from apps.core.types import db


def _entries(users):
    audit.record("processo_aprovar", entity_type="processos", entity_id="p-1", detail="ok", user=users[Role.OPERADOR])
    audit.record("token_global_alterado", entity_type="users", entity_id="u-1", detail="=cmd|' /C calc'!A0",
                 user=users[Role.ADMIN])
    db.session.commit()


def test_admin_filters_by_action_and_user(admin_client, users):
    _entries(users)
    html = admin_client.get("/auditoria?acao=processo_aprovar").get_data(as_text=True)
    assert "Processo aprovado" in html and "p-1" in html and "u-1" not in html
    html = admin_client.get("/auditoria?usuario=admin").get_data(as_text=True)
    assert "u-1" in html and "p-1" not in html


def test_login_attempts_appear(client, users, login):
    client.post("/login", data={"login": "admin", "password": "errada-errada"})
    login(users[Role.ADMIN])
    html = client.get("/auditoria").get_data(as_text=True)
    assert "Login falhou" in html and "Login" in html


def test_export_is_excel_friendly_and_neutralises_formulas(admin_client, users):
    _entries(users)
    response = admin_client.get("/auditoria/exportar.csv")
    text = response.get_data(as_text=True)
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][0] == "Data/hora"
    details = [r[5] for r in rows[1:]]
    assert "'=cmd|' /C calc'!A0" in details


def test_operador_cannot_see_the_trail(operador_client):
    assert operador_client.get("/auditoria").status_code == 403
    assert operador_client.get("/auditoria/exportar.csv").status_code == 403
