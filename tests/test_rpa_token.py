"""The global RPA token: precedence, expiry, save/refresh/test, concurrency and the admin page."""
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import event, select, update

from apps.auth.models import Role, User
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.rpa import connect
from apps.rpa import token as global_token
from apps.rpa.client import RpaAuthError, RpaError, RpaRejected
from apps.rpa.routes import time_left
from tests.conftest import make_user

SIM_PASSWORD = "senha-do-simulador"


@pytest.fixture(scope="module")
def sim_knobs():
    return {"password": SIM_PASSWORD, "job_duration": 0, "queue_wait": 0, "log_lines": 2, "hang_seconds": 2}


@pytest.fixture
def sim(sim, app, monkeypatch):
    """The simulator, reset, as the app's RPA API with its refresh password configured."""
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", sim.url)
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", SIM_PASSWORD)
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "")
    monkeypatch.setitem(app.config, "RPA_READ_TIMEOUT", 1)
    return sim


def a_jwt(days=30, **claims):
    exp = datetime.now(UTC) + timedelta(days=days)
    return jwt.encode({"sub": "rpa-dashboard", "exp": int(exp.timestamp()), **claims},
                      "chave-que-o-dashboard-nao-tem-0123456789", algorithm="HS256")


def audits(action):
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()


# -- which token is used ------------------------------------------------------------------------
def test_env_token_when_no_admin_has_one(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "token-do-ambiente")
    assert global_token.current_token() == "token-do-ambiente"
    assert global_token.token_source() == "variável API_EXTERNA_TOKEN"


def test_nothing_configured(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "")
    assert global_token.current_token() is None
    assert global_token.token_source() == "nenhum token configurado"


def test_admin_token_beats_env_and_inactive_or_non_admin_are_ignored(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_TOKEN", "token-do-ambiente")
    users[Role.OPERADOR].api_externa_token = "token-do-operador"
    inactive = make_user(Role.ADMIN, "admin2")
    inactive.api_externa_token, inactive.ativo = "token-do-inativo", False
    db.session.commit()
    assert global_token.current_token() == "token-do-ambiente"
    users[Role.ADMIN].api_externa_token = "token-do-admin"
    db.session.commit()
    assert global_token.current_token() == "token-do-admin"
    assert global_token.token_source() == "usuário admin admin"


def test_most_recently_updated_admin_wins(app, users):
    other = make_user(Role.ADMIN, "admin2")
    users[Role.ADMIN].api_externa_token = "antigo"
    users[Role.ADMIN].updated_at = datetime(2025, 1, 1, tzinfo=UTC)
    other.api_externa_token = "recente"
    db.session.commit()
    assert global_token.current_token() == "recente"


def test_expiry_read_from_a_jwt_without_its_key():
    expiry = global_token.token_expiry(a_jwt(days=10))
    assert expiry.tzinfo is not None
    assert timedelta(days=9, hours=23) < expiry - datetime.now(UTC) <= timedelta(days=10)
    assert global_token.token_expiry("nao-e-um-jwt") is None
    assert global_token.token_expiry("a.b.c") is None
    assert global_token.token_expiry(jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")) is None
    assert global_token.token_expiry(jwt.encode({"exp": "amanhã"}, "k" * 32, algorithm="HS256")) is None
    assert global_token.token_expiry(None) is None


# -- save, refresh, test ------------------------------------------------------------------------------
def test_save_token_goes_to_the_acting_admin_alone_and_is_audited_masked(app, users):
    admin, other = users[Role.ADMIN], make_user(Role.ADMIN, "admin2")
    other.api_externa_token = "token-velho-do-outro-admin"
    db.session.commit()
    token = a_jwt()
    global_token.save_token(token, admin, "troca programada")
    assert admin.api_externa_token == token and other.api_externa_token is None
    assert global_token.current_token() == token
    (entry,) = audits("token_global_alterado")
    assert token not in entry.detail and token[-6:] in entry.detail
    assert "troca programada" in entry.detail and "admin2" in entry.detail and entry.username == "admin"


@pytest.mark.parametrize("bad", ["", "   ", "abc def", "abc\ndef", "x" * 4097])
def test_save_token_refuses_bad_input(app, users, bad):
    with pytest.raises(global_token.TokenError):
        global_token.save_token(bad, users[Role.ADMIN], "teste")
    assert users[Role.ADMIN].api_externa_token is None and audits("token_global_alterado") == []


def test_refresh_without_password_is_a_clear_error(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "")
    with pytest.raises(RpaError, match="BRM_TOKEN_PASSWORD não está configurada"):
        global_token.refresh_global_token(users[Role.ADMIN])


def test_refresh_with_a_wrong_password(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "senha-errada")
    with pytest.raises(RpaAuthError, match="recusou a senha"):
        global_token.refresh_global_token(users[Role.ADMIN])
    assert users[Role.ADMIN].api_externa_token is None


def test_refresh_stores_the_new_token_and_audits(app, sim, users):
    fresh = global_token.refresh_global_token(users[Role.ADMIN], reason="teste")
    assert sim.state.token_ok(fresh) and global_token.current_token() == fresh
    (entry,) = audits("token_global_renovado")
    assert fresh not in entry.detail
    assert global_token.token_expiry(fresh) > datetime.now(UTC) + timedelta(days=360)


def test_two_workers_hitting_401_refresh_once(app, sim, users):
    """Both see the old token refused at the same time; only one asks the API for a new one."""
    rejected = sim.issue_token(ttl_seconds=-60)
    users[Role.ADMIN].api_externa_token = rejected
    db.session.commit()
    sim.set_config(latency=0.3)  # the refresh takes a while: the second worker arrives during it
    results, barrier = [], threading.Barrier(2)

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(global_token.TokenProvider().refresh(rejected))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 2 and results[0] == results[1] != rejected
    assert sim.stats()["refreshes"] == 1
    assert len(audits("token_global_renovado")) == 1


def test_provider_does_not_refresh_without_password(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "")
    assert global_token.TokenProvider().refresh("qualquer") is None
    assert sim.stats()["refreshes"] == 0


def test_connection_ok_refused_and_down(app, sim, users, monkeypatch):
    users[Role.ADMIN].api_externa_token = sim.issue_token()
    db.session.commit()
    assert global_token.test_connection() == {"ok": True, "api_ok": True, "token_ok": True,
                                              "message": "Conexão OK: a API RPA respondeu e aceitou o token."}
    users[Role.ADMIN].api_externa_token = sim.issue_token(ttl_seconds=-60)
    db.session.commit()
    refused = global_token.test_connection()
    assert refused["api_ok"] and refused["token_ok"] is False and not refused["ok"]
    assert sim.stats()["refreshes"] == 0  # the test reports the token as it is
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")
    down = global_token.test_connection()
    assert not down["api_ok"] and not down["ok"] and "/health" in down["message"]
    assert len(audits("token_global_testado")) == 3


# -- the page --------------------------------------------------------------------------------------
def test_page_is_for_admins_only(client, users, login):
    assert client.get("/token-global").status_code == 302  # to the login page
    login(users[Role.OPERADOR])
    assert client.get("/token-global").status_code == 403
    assert client.post("/token-global/renovar").status_code == 403
    assert client.post("/token-global/testar").status_code == 403
    assert client.post("/token-global", data={"token": a_jwt()}).status_code == 403
    assert users[Role.ADMIN].api_externa_token is None


def test_page_shows_the_token_masked_with_source_and_expiry(admin_client, users):
    token = a_jwt(days=40)
    users[Role.ADMIN].api_externa_token = token
    db.session.commit()
    html = admin_client.get("/token-global").get_data(as_text=True)
    assert token not in html and token[-6:] in html
    assert "usuário admin admin" in html
    assert "expira em 39 dias" in html or "expira em 40 dias" in html
    assert "Obter Novo JWT (Global)" in html and "Testar conexão" in html


def test_page_flags_an_expired_token(admin_client, users):
    users[Role.ADMIN].api_externa_token = a_jwt(days=-2)
    db.session.commit()
    assert ">expirado<" in admin_client.get("/token-global").get_data(as_text=True)


def test_paste_a_token(admin_client, sim, users, monkeypatch, caplog):
    for name in ("apps", "apps.rpa.token", "werkzeug"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    caplog.set_level(logging.DEBUG)
    token = sim.issue_token()
    response = admin_client.post("/token-global", data={"token": f"  {token} ", "motivo": "novo contrato"},
                                 follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Token global atualizado: a API RPA o aceitou." in html
    assert token not in html
    assert sim.stats()["requests"]["GET /jobs/{job_id}"] == 1  # tested as a candidate, before it was stored
    db.session.refresh(users[Role.ADMIN])
    assert users[Role.ADMIN].api_externa_token == token
    (entry,) = audits("token_global_alterado")
    assert "novo contrato" in entry.detail
    assert token not in caplog.text


def _stored(users):
    db.session.refresh(users[Role.ADMIN])
    return users[Role.ADMIN].api_externa_token


def test_paste_an_expired_token_is_refused_without_asking_the_api(admin_client, sim, users):
    for data in ({"token": a_jwt(days=-1)}, {"token": a_jwt(days=-1), "forcar": "y"}):
        response = admin_client.post("/token-global", data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and "Este token já expirou" in html and "Token global atualizado" not in html
    assert _stored(users) is None and audits("token_global_alterado") == []
    assert sim.stats()["requests"].get("GET /jobs/{job_id}", 0) == 0


def test_paste_a_token_the_api_refuses_is_not_saved_even_when_forced_later(admin_client, sim, users):
    refused = a_jwt(days=30)  # a JWT the simulator did not sign: 401
    response = admin_client.post("/token-global", data={"token": refused})
    assert response.status_code == 422 and "A API RPA recusou este token" in response.get_data(as_text=True)
    assert _stored(users) is None


def test_paste_an_untestable_token_asks_then_saves_when_confirmed(admin_client, sim, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")  # the API is down
    token = a_jwt(days=30)
    first = admin_client.post("/token-global", data={"token": token})
    html = first.get_data(as_text=True)
    assert first.status_code == 422 and "Não foi possível testar o token" in html and "/health" in html
    assert "Salvar mesmo assim, sem o teste" in html and 'name="forcar"' in html and token not in html
    assert _stored(users) is None and audits("token_global_alterado") == []
    second = admin_client.post("/token-global", data={"token": token, "forcar": "y"}, follow_redirects=True)
    assert "Token global atualizado sem teste" in second.get_data(as_text=True)
    assert _stored(users) == token and len(audits("token_global_alterado")) == 1


def test_paste_a_non_jwt_the_api_accepts_still_asks(admin_client, sim, users):
    """Not a JWT: its expiry cannot be checked, so the admin confirms it (and is warned again)."""
    first = admin_client.post("/token-global", data={"token": "token-opaco-sem-jwt"})
    html = first.get_data(as_text=True)
    if first.status_code == 422 and "recusou este token" in html:  # the simulator wants its own JWTs
        assert _stored(users) is None
        return
    assert first.status_code == 422 and "não é um JWT" in html and 'name="forcar"' in html
    second = admin_client.post("/token-global", data={"token": "token-opaco-sem-jwt", "forcar": "y"},
                               follow_redirects=True)
    assert "não é um JWT" in second.get_data(as_text=True) and _stored(users) == "token-opaco-sem-jwt"


def test_paste_a_non_jwt_with_the_api_down_is_saved_only_when_confirmed(admin_client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")
    assert admin_client.post("/token-global", data={"token": "token-opaco"}).status_code == 422
    assert _stored(users) is None
    html = admin_client.post("/token-global", data={"token": "token-opaco", "forcar": "y"},
                             follow_redirects=True).get_data(as_text=True)
    assert "não é um JWT" in html and _stored(users) == "token-opaco"


def test_a_token_expiring_tomorrow_shows_its_hours_not_today(admin_client, users):
    users[Role.ADMIN].api_externa_token = a_jwt(days=1)
    db.session.commit()
    html = admin_client.get("/token-global").get_data(as_text=True)
    assert "expira hoje" not in html and ("expira em 23 h" in html or "expira em 24 h" in html)


def test_time_left_in_words():
    now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    assert time_left(now + timedelta(hours=23, minutes=59), now) == ("em 23 h", "warning")
    assert time_left(now + timedelta(minutes=40), now) == ("em 40 min", "danger")
    assert time_left(now + timedelta(days=3, hours=1), now) == ("em 3 dias", "warning")
    assert time_left(now + timedelta(days=40), now) == ("em 40 dias", "success")


def test_candidate_is_tested_without_touching_the_stored_token(app, sim, users):
    users[Role.ADMIN].api_externa_token = sim.issue_token()
    db.session.commit()
    assert global_token.test_candidate(sim.issue_token(ttl_seconds=-5))["token_ok"] is False
    assert global_token.test_candidate(sim.issue_token())["ok"] is True
    assert audits("token_global_testado") == []


def test_api_put_follows_the_same_rules(client, api_headers, sim, users, app, monkeypatch):
    admin = api_headers(Role.ADMIN)
    expired = client.put("/api/v1/token-global", headers=admin, json={"token": a_jwt(days=-1), "forcar": True})
    assert expired.status_code == 422 and "token" in expired.get_json()["fields"]
    good = sim.issue_token()
    assert client.put("/api/v1/token-global", headers=admin, json={"token": good}).status_code == 200
    monkeypatch.setitem(app.config, "API_EXTERNA_URL", "http://127.0.0.1:9")
    other = a_jwt(days=30)
    untested = client.put("/api/v1/token-global", headers=admin, json={"token": other})
    assert untested.status_code == 422 and "forcar" in untested.get_json()["fields"]
    assert client.put("/api/v1/token-global", headers=admin, json={"token": other, "forcar": "sim"}).status_code == 422
    forced = client.put("/api/v1/token-global", headers=admin, json={"token": other, "forcar": True})
    assert forced.status_code == 200 and forced.get_json()["jwt"]
    assert _stored(users) == other and len(audits("token_global_alterado")) == 2


def test_paste_refuses_whitespace_without_echoing_it(admin_client, users):
    pasted = "Bearer " + a_jwt()
    response = admin_client.post("/token-global", data={"token": pasted})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "não pode conter espaços" in html
    assert pasted.split()[1] not in html
    db.session.refresh(users[Role.ADMIN])
    assert users[Role.ADMIN].api_externa_token is None and audits("token_global_alterado") == []


def test_paste_too_long_is_refused_not_truncated(admin_client, users):
    response = admin_client.post("/token-global", data={"token": "x" * 4097})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "no máximo 4096 caracteres" in html
    assert 'maxlength="4096"' not in html  # a browser would cut the paste silently


def test_paste_without_csrf_is_refused(admin_client, users):
    response = admin_client.post("/token-global", data={"token": a_jwt()}, no_csrf=True)
    assert response.status_code in (400, 422)
    db.session.refresh(users[Role.ADMIN])
    assert users[Role.ADMIN].api_externa_token is None


def test_refresh_button(admin_client, sim, users):
    html = admin_client.post("/token-global/renovar", follow_redirects=True).get_data(as_text=True)
    assert "Novo token global obtido, válido até" in html
    db.session.refresh(users[Role.ADMIN])
    fresh = users[Role.ADMIN].api_externa_token
    assert sim.state.token_ok(fresh) and fresh not in html
    (entry,) = audits("token_global_renovado")
    assert entry.username == "admin" and "renovação manual" in entry.detail


def test_refresh_button_without_password(admin_client, sim, app, monkeypatch):
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "")
    html = admin_client.post("/token-global/renovar", follow_redirects=True).get_data(as_text=True)
    assert "Não foi possível obter um novo token" in html and "BRM_TOKEN_PASSWORD" in html
    assert sim.stats()["refreshes"] == 0


def test_test_button(admin_client, sim, users):
    users[Role.ADMIN].api_externa_token = sim.issue_token()
    db.session.commit()
    html = admin_client.post("/token-global/testar", follow_redirects=True).get_data(as_text=True)
    assert "Conexão OK" in html
    assert sim.stats()["requests"]["GET /jobs/{job_id}"] == 1
    (entry,) = audits("token_global_testado")
    assert entry.username == "admin"


def test_test_button_reports_a_refused_token(admin_client, sim, users):
    users[Role.ADMIN].api_externa_token = sim.issue_token(ttl_seconds=-5)
    db.session.commit()
    html = admin_client.post("/token-global/testar", follow_redirects=True).get_data(as_text=True)
    assert "recusou o token" in html


def test_slow_api_test_is_bounded(admin_client, sim, users, app, monkeypatch):
    """A hanging API does not hold the admin's page for minutes (one retry, read timeout)."""
    monkeypatch.setitem(app.config, "RPA_READ_TIMEOUT", 0.3)
    users[Role.ADMIN].api_externa_token = sim.issue_token()
    db.session.commit()
    sim.fault("hang", 5)
    started = time.monotonic()
    html = admin_client.post("/token-global/testar", follow_redirects=True).get_data(as_text=True)
    assert time.monotonic() - started < 3
    assert "falhou ao testar o token" in html


@pytest.mark.parametrize("token", ["tökên", "abc\u00addef", "a\ud800b", "abc<def>"])
def test_a_token_an_authorization_header_cannot_carry_is_refused_in_portuguese(token):
    with pytest.raises(global_token.TokenError, match="caracteres que um token Bearer não tem"):
        global_token.check_token(token)


# -- the process's short cache of the token -------------------------------------------------------
def _statements_during(action):
    seen = []

    def count(*_args):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        return action(), len(seen)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_worker_reuses_the_token_it_read_and_a_401_reads_the_one_pasted_elsewhere(app, sim, users, monkeypatch):
    """Each job's client needs the token: a process reads it once per RPA_TOKEN_CACHE_SECONDS. A token changed
    by another process is used as soon as the API refuses the old one, without renewing (no password here)."""
    monkeypatch.setitem(app.config, "RPA_TOKEN_CACHE_SECONDS", 60)
    monkeypatch.setitem(app.config, "BRM_TOKEN_PASSWORD", "")
    old, new = sim.issue_token(ttl_seconds=-60), sim.issue_token(ttl_seconds=3600)
    admin = users[Role.ADMIN]
    admin.api_externa_token = old
    db.session.commit()
    global_token._cache.forget()
    assert global_token.TokenProvider().get() == old
    # Another process (the web app) stores a new token: this process is not told.
    db.session.execute(update(User).where(User.id == admin.id).values(api_externa_token=new))
    db.session.commit()
    token, statements = _statements_during(lambda: global_token.TokenProvider().get())
    assert (token, statements) == (old, 0)
    with connect.default_client(max_retries=0) as client:
        with pytest.raises(RpaRejected) as refused:  # 404: past the 401, with the new token
            client.get_job("job-que-nao-existe")
    assert refused.value.status == 404 and not isinstance(refused.value, RpaAuthError)
    assert global_token.TokenProvider().get() == new and sim.stats()["refreshes"] == 0


def test_a_token_saved_in_this_process_is_used_at_once(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_TOKEN_CACHE_SECONDS", 60)
    users[Role.ADMIN].api_externa_token = sim.issue_token(ttl_seconds=3600)
    db.session.commit()
    global_token._cache.forget()
    global_token.TokenProvider().get()
    pasted = sim.issue_token(ttl_seconds=7200)
    global_token.save_token(pasted, by_user=users[Role.ADMIN])
    assert global_token.TokenProvider().get() == pasted


def test_without_the_cache_every_client_reads_the_token(app, sim, users, monkeypatch):
    monkeypatch.setitem(app.config, "RPA_TOKEN_CACHE_SECONDS", 0)
    users[Role.ADMIN].api_externa_token = sim.issue_token(ttl_seconds=3600)
    db.session.commit()
    global_token.TokenProvider().get()
    _, statements = _statements_during(lambda: global_token.TokenProvider().get())
    assert statements >= 1
