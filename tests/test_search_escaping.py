"""Every list search matches what a person typed literally: '%' and '_' are not wildcards anywhere."""
from apps.auth.models import Role
from apps.auth.services import create_user
from apps.core import audit
from apps.core.types import db
from tests.conftest import PASSWORD


def test_users_search_takes_percent_and_underscore_literally(admin_client, api_headers, client):
    create_user("ana_paula", "ana@example.com", PASSWORD, role=Role.OPERADOR)
    create_user("anaxpaula", "anax@example.com", PASSWORD, role=Role.OPERADOR)
    db.session.commit()

    html = admin_client.get("/usuarios?q=ana_p").get_data(as_text=True)
    assert "ana_paula" in html and "anaxpaula" not in html
    assert "anaxpaula" not in admin_client.get("/usuarios?q=%25").get_data(as_text=True)
    body = client.get("/api/v1/usuarios?q=ana_p", headers=api_headers(Role.ADMIN)).get_json()
    assert [u["username"] for u in body["items"]] == ["ana_paula"]


def test_audit_search_takes_percent_and_underscore_literally(admin_client, users):
    audit.record("teste_busca", entity_type="clientes", detail="desconto de 10% aplicado", user=users[Role.ADMIN])
    audit.record("teste_busca", entity_type="clientes", detail="desconto de 10 reais", user=users[Role.ADMIN])
    db.session.commit()

    html = admin_client.get("/auditoria?registro=10%25").get_data(as_text=True)
    assert "10% aplicado" in html and "10 reais" not in html
    assert "10 reais" not in admin_client.get("/auditoria?usuario=_dmin").get_data(as_text=True)
