def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Entrar" in response.get_data(as_text=True)


def test_admin_logs_in_and_sees_home(admin_client):
    response = admin_client.get("/")
    assert response.status_code == 200
    assert "Competência" in response.get_data(as_text=True)
