"""Login limits per account (web and API together, any spelling), the growing delay, the address
block, equal timing for unknown logins, the refresh limit, the API rate limit per user, and
everything that revokes API tokens."""
import statistics
import time

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from apps.auth import passwords
from apps.auth.models import Role, User
from apps.core.audit import AuditLog
from apps.core.types import db
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client(app, app_config):
    """A client of an app created for this test (Flask-Limiter binds its storage to the last app);
    `app`, the session's migrated app, keeps the test's application context."""
    from apps import create_app
    from tests.conftest import CSRFClient

    fresh = create_app(dict(app_config))
    fresh.test_client_class = CSRFClient
    return fresh.test_client()


@pytest.fixture
def config(client):
    return client.application.config


def web(client, login, password="senha-errada-123"):
    return client.post("/login", data={"login": login, "password": password})


def api(client, login, password="senha-errada-123"):
    return client.post("/api/v1/auth/token", json={"username": login, "password": password})


def _actions():
    return [a.action for a in db.session.scalars(select(AuditLog))]


def test_web_and_api_and_every_spelling_count_against_one_account(client, users):
    assert web(client, "admin").status_code == 200
    assert web(client, "ADMIN@example.com").status_code == 200
    assert api(client, " Admin ").status_code == 401
    assert api(client, "admin@EXAMPLE.com").status_code == 401
    assert web(client, "admin").status_code == 200          # the 5th failure starts the delay
    for attempt in (api(client, "admin", PASSWORD), web(client, "ADMIN", PASSWORD)):
        assert attempt.status_code == 429                    # even the right password waits, on both doors
        assert 1 <= int(attempt.headers["Retry-After"]) <= 2
    body = web(client, "admin@example.com", PASSWORD).get_data(as_text=True)
    assert "Muitas tentativas de login malsucedidas para esta conta. Aguarde" in body
    assert api(client, "admin", PASSWORD).get_json()["error"].startswith("Muitas tentativas de login")
    assert _actions().count("login_falhou") == 5 and "login_bloqueado" in _actions()
    # Another account from the same address is not affected.
    assert web(client, "operador", PASSWORD).status_code == 302


def test_unknown_logins_are_counted_by_their_normalised_text(client, users):
    for spelling in ("Fulano", " fulano", "FULANO ", "ｆｕｌａｎｏ", "fulano"):  # the last: NFKC of full-width
        assert web(client, spelling).status_code == 200
    assert api(client, "fulano").status_code == 429
    assert api(client, "fulana").status_code == 401


def test_the_delay_grows_and_the_right_password_after_it_logs_in(client, users):
    for _ in range(5):
        assert api(client, "operador").status_code == 401
    refused = api(client, "operador")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    time.sleep(2.05)
    assert api(client, "operador").status_code == 401      # the 6th failure: next wait is 4 s
    refused = api(client, "operador", PASSWORD)
    assert refused.status_code == 429 and 3 <= int(refused.headers["Retry-After"]) <= 4
    time.sleep(int(refused.headers["Retry-After"]) + 0.05)
    assert api(client, "operador", PASSWORD).status_code == 200  # never locked out for good
    # A success starts the account afresh: five more free tries.
    for _ in range(5):
        assert api(client, "operador").status_code == 401
    assert api(client, "operador").status_code == 429


def test_the_delay_is_capped(config, client, users):
    config["LOGIN_DELAY_MAX_SECONDS"] = 3
    config["LOGIN_LIMIT_ACCOUNT"] = "1 per 15 minutes"
    assert api(client, "admin").status_code == 401   # 1st failure: 2 s
    time.sleep(2.05)
    assert api(client, "admin").status_code == 401   # 2nd: 4 s, capped at 3
    assert int(api(client, "admin").headers["Retry-After"]) == 3


def test_the_address_block_is_hard_and_shared_by_web_and_api(config, client, users):
    config["LOGIN_LIMIT_ADDRESS"] = "3 per 15 minutes"
    assert web(client, "a1").status_code == 200
    assert api(client, "a2").status_code == 401
    assert web(client, "admin").status_code == 200
    for attempt in (web(client, "operador", PASSWORD), api(client, "visualizador", PASSWORD)):
        assert attempt.status_code == 429
        assert int(attempt.headers["Retry-After"]) > 800   # until the 15-minute window ends
    assert "deste endereço" in api(client, "x").get_json()["error"]


def test_a_burst_of_parallel_guesses_cannot_pass_the_count(client, users):
    """Each attempt is counted before its password is checked: 20 at once get 5 tries, not 20."""
    from concurrent.futures import ThreadPoolExecutor

    fresh = client.application

    def guess(_):
        with fresh.app_context():
            return fresh.test_client().post("/api/v1/auth/token", json={"username": "admin", "password": "x"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(guess, range(20)))
    assert codes.count(401) == 5 and codes.count(429) == 15


def _median_ms(fn, tries=7):
    samples = []
    for _ in range(tries):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _interleaved_medians_ms(first, second, tries=9):
    """Both medians from alternating samples, so a change in the machine's load weighs on both alike."""
    samples = ([], [])
    for _ in range(tries):
        for fn, kept in zip((first, second), samples, strict=True):
            started = time.perf_counter()
            fn()
            kept.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples[0]), statistics.median(samples[1])


@pytest.mark.parametrize("hasher", ["test", "costly"])
def test_unknown_and_known_logins_take_as_long(client, users, redis_url, monkeypatch, hasher):
    """Today's test hasher, and one costly enough (~20-40 ms) that skipping it would show."""
    import redis

    if hasher == "costly":
        monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=2, memory_cost=32768, parallelism=1))
        make_user(Role.VISUALIZADOR, "lento")  # hashed with the costly parameters
        known = "lento"
    else:
        known = "admin"
    store = redis.Redis.from_url(redis_url)

    def attempt(login):
        def run():
            store.flushdb()  # the limits are not what is measured here
            assert api(client, login).status_code == 401
        return run

    attempt(known)(), attempt("ninguem")()  # warm up (and make the dummy hash)
    known_ms, unknown_ms = _interleaved_medians_ms(attempt(known), attempt("ninguem"))
    print(f"\n{hasher} hasher: known user wrong password {known_ms:.1f} ms, unknown login {unknown_ms:.1f} ms")
    assert max(known_ms, unknown_ms) / min(known_ms, unknown_ms) < 3, (hasher, known_ms, unknown_ms)
    if hasher == "costly":
        hash_ms = _median_ms(lambda: passwords._hasher.hash("x"), tries=3)
        assert unknown_ms > hash_ms * 0.5, (unknown_ms, hash_ms)  # the dummy verification really ran


def test_the_dummy_hash_follows_the_current_parameters(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1))
    assert "$m=1024,t=2,p=1$" in passwords._dummy_hash()
    assert passwords._dummy_hash() is passwords._dummy_hash()  # made once


def test_inactive_user_is_checked_like_a_wrong_password(client, users, monkeypatch):
    calls = []
    original = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda *a: calls.append(1) or original(*a))
    users[Role.OPERADOR].ativo = False
    db.session.commit()
    assert api(client, "operador", PASSWORD).status_code == 401
    assert calls == [1]


def test_refresh_is_limited_per_address(config, client, users):
    config["AUTH_REFRESH_LIMIT"] = "3 per minute"
    refresh = api(client, "admin", PASSWORD).get_json()["refresh"]
    for _ in range(3):
        assert client.post("/api/v1/auth/refresh", json={"refresh": refresh}).status_code == 200
    refused = client.post("/api/v1/auth/refresh", json={"refresh": "lixo"})
    assert refused.status_code == 429 and "renovações" in refused.get_json()["error"]
    assert refused.headers["Retry-After"]


def test_api_rate_limit_is_per_user_not_per_token(config, client, users):
    config["API_RATE_LIMIT"] = "4 per minute"
    first = {"Authorization": f"Bearer {api(client, 'admin', PASSWORD).get_json()['access']}"}
    second = {"Authorization": f"Bearer {api(client, 'admin', PASSWORD).get_json()['access']}"}
    other = {"Authorization": f"Bearer {api(client, 'operador', PASSWORD).get_json()['access']}"}
    assert [client.get("/api/v1/operadoras", headers=h).status_code for h in (first, second, first, second)] == [200] * 4
    refused = client.get("/api/v1/operadoras", headers=second)
    assert refused.status_code == 429 and "Limite de requisições" in refused.get_json()["error"]
    assert client.get("/api/v1/operadoras", headers=other).status_code == 200


def test_a_forged_token_is_not_counted_as_its_subject(config, client, users):
    config["API_RATE_LIMIT"] = "3 per minute"
    admin = users[Role.ADMIN]
    now = int(time.time())
    forged = jwt.encode({"sub": str(admin.id), "iat": now, "exp": now + 600, "iss": "rpa-dashboard",
                         "type": "access", "ver": admin.token_version}, "outra-chave-" * 6, algorithm="HS256")
    for _ in range(3):
        assert client.get("/api/v1/operadoras", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    good = {"Authorization": f"Bearer {api(client, 'admin', PASSWORD).get_json()['access']}"}
    assert client.get("/api/v1/operadoras", headers=good).status_code == 200  # the admin's budget is intact


def _pair(client, login="operador"):
    return api(client, login, PASSWORD).get_json()


def _works(client, pair) -> bool:
    ok = client.get("/api/v1/operadoras", headers={"Authorization": f"Bearer {pair['access']}"}).status_code == 200
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh": pair["refresh"]}).status_code == 200
    assert ok == refreshed
    return ok


def test_logout_revokes_the_users_api_tokens(client, users):
    pair = _pair(client)
    assert _works(client, pair)
    assert web(client, "operador", PASSWORD).status_code == 302
    client.post("/logout")
    assert not _works(client, pair)


def test_password_reset_revokes_api_tokens(client, users):
    pair = _pair(client)
    assert web(client, "admin", PASSWORD).status_code == 302
    operador = users[Role.OPERADOR]
    response = client.post(f"/usuarios/{operador.id}/senha",
                           data={"password": "Cavalo-Bateria-Grampo", "confirm": "Cavalo-Bateria-Grampo"})
    assert response.status_code == 302
    assert not _works(client, pair)
    assert api(client, "operador", "Cavalo-Bateria-Grampo").status_code == 200


def test_revogar_tokens_revokes_every_token_of_the_caller_only(client, users):
    pair, other_pair, others = _pair(client), _pair(client), _pair(client, "admin")
    assert web(client, "operador", PASSWORD).status_code == 302  # a browser session of the same user
    response = client.post("/api/v1/auth/revogar-tokens", headers={"Authorization": f"Bearer {pair['access']}"})
    assert response.status_code == 200 and "revogados" in response.get_json()["mensagem"]
    assert not _works(client, pair) and not _works(client, other_pair)
    assert _works(client, others)                                  # another user's tokens still work
    assert client.get("/processos").status_code == 200             # the browser session stays
    assert "tokens_revogados" in _actions()
    assert _works(client, _pair(client))                           # a new token works


def test_revogar_tokens_needs_a_bearer_token(client, users):
    assert web(client, "operador", PASSWORD).status_code == 302
    response = client.post("/api/v1/auth/revogar-tokens")  # the session cookie is not enough
    assert response.status_code == 401 and response.get_json()["error"]
    assert db.session.scalar(select(User.token_version).where(User.username == "operador")) == 1
