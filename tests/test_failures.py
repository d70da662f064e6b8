"""Parts failing: the database down gives a 503 page, never a trace."""
from apps import create_app
from tests.conftest import CSRFClient


def test_database_down_gives_a_503_page_without_trace(app_config, users, login, client):
    broken = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent-dir/rpa.db"))
    broken.test_client_class = CSRFClient
    other = broken.test_client()
    response = other.post("/login", data={"login": "admin", "password": "qualquer-coisa"})
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Banco de dados indisponível" in html and "Traceback" not in html and "sqlite" not in html.lower()
    # A logged-in session on the broken app: the user loader itself fails, still a clean 503.
    login(users["ADMIN"])
    with client.session_transaction() as sess:
        cookie_session = dict(sess)
    with other.session_transaction() as sess:
        sess.update(cookie_session)
    response = other.get("/")
    assert response.status_code == 503 and "Traceback" not in response.get_data(as_text=True)
    api = other.get("/api/v1/operadoras", headers={"Authorization": "Bearer x.y.z"})
    assert api.status_code in (401, 503) and api.is_json
