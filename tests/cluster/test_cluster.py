"""The same code on two machines: what one person starts on one instance is seen, limited and finished
right on the other, and a machine lost mid-run costs nothing but a few seconds.

In file order: the lost machine is the last test.
"""
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import create_engine, text

from tests.cluster.harness import ADMIN_PASSWORD, SIM_TOKEN, wait_until
from tests.factories import valid_cnpj

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ENDED = ("CONCLUIDO", "FALHOU")
RECOVERY_AIM_SECONDS = 60


@pytest.fixture(scope="module")
def sql(cluster):
    engine = create_engine(cluster.database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def admin_api(cluster):
    return Api(cluster.url, "admin", ADMIN_PASSWORD)


class Api:
    """Bearer calls through one base URL (nginx, or one instance)."""

    def __init__(self, base: str, username: str, password: str):
        self.base, self.http = base, requests.Session()
        answer = self.http.post(f"{base}/api/v1/auth/token", json={"username": username, "password": password}, timeout=10)
        assert answer.status_code == 200, answer.text
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access']}"

    def call(self, method: str, path: str, expect=(200, 201, 202, 204), base=None, **kwargs):
        answer = self.http.request(method, f"{base or self.base}{path}", timeout=15, **kwargs)
        assert answer.status_code in expect, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json() if answer.content else None


def web_session(base: str, login: str, password: str) -> tuple[requests.Session, requests.Response]:
    """The login form as a browser sends it: GET for the CSRF token, then POST."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10)
    token = CSRF.search(page.text).group(1)
    answer = browser.post(f"{base}/login", data={"login": login, "password": password, "csrf_token": token},
                          allow_redirects=False, timeout=10)
    return browser, answer


def sim_call(cluster, path: str):
    answer = requests.get(f"{cluster.sim_url}{path}", headers={"Authorization": f"Bearer {SIM_TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def sim_knobs(cluster, **knobs):
    assert requests.post(f"{cluster.sim_url}/_sim/config", json=knobs, timeout=5).status_code == 200


_cnpjs = iter(range(1, 10_000))


def seed(api: Api, codigo: str, clientes: int, competencia: str, limite: int = 10) -> list[str]:
    """An operadora with `clientes` clientes and their processos of `competencia`; returns the processo ids."""
    operadora = api.call("POST", "/api/v1/operadoras", json={"codigo": codigo, "nome": f"Operadora {codigo}",
                                                            "possui_rpa": True, "limite_concorrencia": limite})
    for n in range(clientes):
        api.call("POST", "/api/v1/clientes", json={"nome": f"Cliente {codigo} {n}", "cnpj": valid_cnpj(next(_cnpjs), 70_000_000),
                                                   "operadora_id": operadora["id"]})
    api.call("POST", "/api/v1/processos/gerar", json={"competencia": competencia})
    listed = api.call("GET", f"/api/v1/processos?competencia={competencia}&operadora_id={operadora['id']}&per_page=100")
    ids = [item["id"] for item in listed["items"]]
    assert len(ids) == clientes
    return ids


def stored_lines(sql, execucao_id) -> list[tuple[int, str]]:
    with sql.connect() as conn:
        rows = conn.execute(text("SELECT seq, message FROM execucao_logs WHERE execucao_id = :id ORDER BY seq"),
                            {"id": execucao_id}).all()
    return [(row.seq, row.message) for row in rows]


def execucoes(sql, ids) -> list:
    with sql.connect() as conn:
        return conn.execute(text("SELECT id, status, job_id, processo_id, log_linhas, mensagem FROM execucoes "
                                 "WHERE id = ANY(:ids)"), {"ids": list(ids)}).all()


# -- sessions and limits -------------------------------------------------------------------------------
def test_a_session_started_on_one_instance_is_valid_on_the_other(cluster):
    browser, answer = web_session(cluster.machines["A"].url, "admin", ADMIN_PASSWORD)
    assert answer.status_code == 302, answer.text[:300]
    page = browser.get(f"{cluster.machines['B'].url}/processos", allow_redirects=False, timeout=10)
    assert page.status_code == 200 and page.headers["X-Instance"] == "B"
    browser.post(f"{cluster.machines['B'].url}/logout", data={"csrf_token": CSRF.search(page.text).group(1)}, timeout=10)
    assert browser.get(f"{cluster.machines['A'].url}/processos", allow_redirects=False, timeout=10).status_code == 302


def test_login_limits_count_every_instance(cluster, admin_api):
    admin_api.call("POST", "/api/v1/usuarios", json={"username": "vitima", "email": "vitima@example.com",
                                                     "password": "Senha-Certa-2026", "role": "VISUALIZADOR"})
    for attempt in range(5):  # LOGIN_LIMIT_ACCOUNT: 5 failures, alternating machines
        machine = cluster.machines["AB"[attempt % 2]]
        assert web_session(machine.url, "vitima", "senha-errada")[1].status_code == 200
    for machine in cluster.machines.values():  # even the right password now waits, on both
        refused = web_session(machine.url, "vitima", "Senha-Certa-2026")[1]
        assert refused.status_code == 429 and "Muitas tentativas" in refused.text


def test_api_rate_limit_is_shared_by_the_instances(cluster, admin_api):
    admin_api.call("POST", "/api/v1/usuarios", json={"username": "apressado", "email": "apressado@example.com",
                                                     "password": "Senha-Certa-2026", "role": "VISUALIZADOR"})
    api = Api(cluster.url, "apressado", "Senha-Certa-2026")
    codes = []
    for n in range(140):  # API_RATE_LIMIT of the lane: 120 per minute and per user
        machine = cluster.machines["AB"[n % 2]]
        codes.append(api.http.get(f"{machine.url}/api/v1/operadoras", timeout=10).status_code)
    assert codes.count(200) == 120 and codes.count(429) == 20


# -- live logs across instances ------------------------------------------------------------------------
def read_stream(answer, until_event=("job_completed", "job_failed"), timeout=60.0) -> tuple[list, str]:
    """(log frames as (id, data), the end event) read from an open SSE response."""
    lines, event, data, ident, deadline = [], None, None, None, time.monotonic() + timeout
    for raw in answer.iter_lines(decode_unicode=True):
        assert time.monotonic() < deadline, "o stream não terminou a tempo"
        if raw.startswith("id: "):
            ident = int(raw[4:])
        elif raw.startswith("event: "):
            event = raw[7:]
        elif raw.startswith("data: "):
            data = json.loads(raw[6:])
        elif raw == "" and event:
            if event in until_event:
                return lines, event
            if event == "log":
                lines.append((ident, data))
            event = data = ident = None
    raise AssertionError("o stream fechou antes do fim da execução")


def test_a_viewer_on_b_sees_every_line_of_a_run_started_on_a(cluster, admin_api, sql):
    sim_knobs(cluster, job_duration=4, log_lines=10, latency=0)
    (processo_id,) = seed(admin_api, "VIVO", 1, "2026-09")
    execucao_id = admin_api.call("POST", f"/api/v1/processos/{processo_id}/executar",
                                 base=cluster.machines["A"].url)["execucao_id"]
    browser, answer = web_session(cluster.url, "admin", ADMIN_PASSWORD)
    assert answer.status_code == 302
    for _ in range(10):  # round robin: ask nginx until the stream is served by B
        stream = browser.get(f"{cluster.url}/api/v2/logs-tempo-real/stream/{execucao_id}", stream=True, timeout=(5, 30))
        if stream.headers.get("X-Instance") == "B":
            break
        stream.close()
    assert stream.status_code == 200 and stream.headers["X-Instance"] == "B"
    assert stream.headers.get("X-Accel-Buffering") == "no"
    frames, end = read_stream(stream)
    stream.close()
    assert end == "job_completed"
    seqs = [ident for ident, _ in frames]
    stored = stored_lines(sql, execucao_id)
    assert seqs == [seq for seq, _ in stored] == list(range(1, len(stored) + 1))  # every line, once, in order
    (row,) = execucoes(sql, [execucao_id])
    robot_lines = sim_call(cluster, f"/jobs/{row.job_id}/logs?after=0")["logs"]
    assert stored == [(line["seq"], line["message"]) for line in robot_lines]  # all the robot said, final line included
    assert [data["message"] for _, data in frames] == [message for _, message in stored]


# -- an operadora's limit across workers ---------------------------------------------------------------
def test_limite_concorrencia_holds_across_both_workers(cluster, admin_api, sql):
    sim_knobs(cluster, job_duration=2, log_lines=3, latency=0)
    ids = seed(admin_api, "OI", 6, "2026-08", limite=2)
    with ThreadPoolExecutor(6) as pool:  # everyone clicks at once, on both instances
        started = list(pool.map(lambda pair: admin_api.call("POST", f"/api/v1/processos/{pair[1]}/executar",
                                                            base=cluster.machines["AB"[pair[0] % 2]].url),
                                enumerate(ids)))
    runs = [answer["execucao_id"] for answer in started]
    wait_until(lambda: all(row.status in ENDED for row in execucoes(sql, runs)), 90, "as 6 execuções terminam")
    assert {row.status for row in execucoes(sql, runs)} == {"CONCLUIDO"}
    peak = sim_call(cluster, "/_sim/stats")["peak_active_by_operadora"]["OI"]
    assert peak == 2  # the limit was reached, never passed


# -- two schedulers ------------------------------------------------------------------------------------
def test_two_schedulers_open_the_month_once_and_reconcile_once_per_interval(cluster, admin_api, sql):
    with sql.connect() as conn:
        active = conn.execute(text("SELECT count(*) FROM clientes WHERE ativo")).scalar()
    started = time.monotonic()
    cluster.start_schedulers()
    competencia = time.strftime("%Y-%m")

    def opened():
        with sql.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM processos WHERE competencia = :c"), {"c": competencia}).scalar()

    wait_until(lambda: opened() == active, 60, "o mês abre")
    time.sleep(max(0.0, 35 - (time.monotonic() - started)))  # two reconciler intervals of 15 s, both schedulers on
    elapsed = time.monotonic() - started
    with sql.connect() as conn:
        openings = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'processos_gerados' "
                                     "AND entity_id = :c"), {"c": competencia}).scalar()
    assert opened() == active and openings == 1
    redis = Redis.from_url(cluster.redis_url)
    queue = Queue(cluster.env.get("RQ_QUEUE") or "rpa", connection=redis)
    registry = FinishedJobRegistry(queue=queue)
    passes = skipped = 0
    for job in Job.fetch_many(registry.get_job_ids(), connection=redis):
        if job is not None and job.func_name == "apps.rpa.jobs.reconcile_periodic":
            result = job.return_value()
            skipped += "ignorado" in result
            passes += "ignorado" not in result
    assert skipped >= 1  # both schedulers enqueued it ...
    assert 1 <= passes <= elapsed // 15 + 1  # ... and it ran once per interval


# -- a machine lost mid-run ----------------------------------------------------------------------------
def test_a_machine_lost_mid_run_costs_no_run_and_no_line(cluster, admin_api, sql):
    # Slow answers (1 s each) keep followers inside their jobs, so killing a machine kills some mid-poll.
    sim_knobs(cluster, job_duration=14, log_lines=14, latency=1.0)
    ids = seed(admin_api, "EMBRATEL", 6, "2026-07")
    robot_jobs_before = sim_call(cluster, "/_sim/stats")["jobs_created"]["download"]
    runs = [admin_api.call("POST", f"/api/v1/processos/{pid}/executar")["execucao_id"] for pid in ids]
    wait_until(lambda: all(row.status == "EXECUTANDO" and row.log_linhas >= 2 for row in execucoes(sql, runs)),
               60, "as execuções começam e registram linhas")
    cluster.machines["A"].kill()
    lost = time.monotonic()
    wait_until(lambda: all(row.status in ENDED for row in execucoes(sql, runs)), RECOVERY_AIM_SECONDS,
               "todas as execuções terminam depois da perda da máquina A", interval=0.5)
    recovered = time.monotonic() - lost
    print(f"\nmáquina A perdida: todas as execuções terminaram em {recovered:.1f} s (meta ≤ {RECOVERY_AIM_SECONDS} s)")
    for row in execucoes(sql, runs):
        assert row.status == "CONCLUIDO", row.mensagem
        robot_lines = sim_call(cluster, f"/jobs/{row.job_id}/logs?after=0")["logs"]
        assert stored_lines(sql, row.id) == [(line["seq"], line["message"]) for line in robot_lines]
        robot_faturas = sim_call(cluster, f"/jobs/{row.job_id}")["result"]["faturas"]
        with sql.connect() as conn:
            faturas = conn.execute(text("SELECT count(*) FROM faturas WHERE execucao_id = :id"), {"id": row.id}).scalar()
            status = conn.execute(text("SELECT status FROM processos WHERE id = :id"), {"id": row.processo_id}).scalar()
            starts = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'execucao_iniciada' "
                                       "AND entity_id = :p"), {"p": str(row.processo_id)}).scalar()
        assert faturas == len(robot_faturas) and status == "AGUARDANDO_APROVACAO" and starts == 1
    # one robot job per run: nothing was started twice on the robots' side
    assert sim_call(cluster, "/_sim/stats")["jobs_created"]["download"] == robot_jobs_before + len(runs)
    # nginx sends everyone to the survivor
    assert all(requests.get(f"{cluster.url}/healthz", timeout=5).headers["X-Instance"] == "B" for _ in range(4))
