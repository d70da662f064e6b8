"""The Filas page: queue depth, workers and failed jobs from a real RQ run; requeue and delete."""
import re

import pytest
from rq import SimpleWorker, Worker
from rq.job import Job
from sqlalchemy import select

from apps import create_app
from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.queues import get_queue, get_redis
from apps.core.types import db
from tests.conftest import PASSWORD, CSRFClient


def _run_failing_jobs(*bad_inputs) -> list[str]:
    """Enqueue int(<bad input>) for each input and let a SimpleWorker fail them in a burst."""
    queue = get_queue()
    jobs = [queue.enqueue("builtins.int", value, failure_ttl=3600) for value in bad_inputs]
    SimpleWorker([queue], connection=get_redis()).work(burst=True, logging_level="WARNING")
    return [job.id for job in jobs]


def _audit_actions():
    query = select(AuditLog).where(AuditLog.action.like("fila_%")).order_by(AuditLog.created_at)
    return [a.action for a in db.session.scalars(query)]


def test_page_lists_queue_depth_and_failed_job_with_its_last_error_line_escaped(admin_client):
    (job_id,) = _run_failing_jobs("<b>x</b>")
    get_queue().enqueue("builtins.int", "7")  # waiting, never run

    page = admin_client.get("/filas").get_data(as_text=True)

    row = re.search(r'<tr data-fila="rpa">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-registro="queued">1<', row)
    assert re.search(r'data-registro="failed">1<', row)
    assert job_id in page
    last_line = "ValueError: invalid literal for int() with base 10: &#39;&lt;b&gt;x&lt;/b&gt;&#39;"
    assert f"<span class=\"text-danger\" data-erro>{last_line}</span>" in page
    assert "Traceback (most recent call last)" in page  # the full trace, in the collapsible <pre>
    assert "<b>x</b>" not in page


def test_page_lists_registered_workers_with_state_and_heartbeat(admin_client):
    worker = Worker([get_queue()], connection=get_redis(), name="worker-teste-1")
    worker.register_birth()
    worker.set_state("busy")
    worker.heartbeat()
    try:
        page = admin_client.get("/filas").get_data(as_text=True)
    finally:
        worker.register_death()
    row = re.search(r'<tr data-worker="worker-teste-1">(.*?)</tr>', page, re.S).group(1)
    assert "Ocupado" in row and "rpa" in row


def test_requeue_one_puts_the_job_back_and_is_audited(admin_client):
    first, second = _run_failing_jobs("a", "b")

    response = admin_client.post(f"/filas/falhas/{first}/reenfileirar", follow_redirects=True)

    assert "reenfileirada na fila rpa" in response.get_data(as_text=True)
    queue = get_queue()
    assert queue.job_ids == [first]
    assert queue.failed_job_registry.get_job_ids() == [second]
    assert _audit_actions() == ["fila_job_reenfileirado"]


def test_requeue_all_and_delete(admin_client):
    first, second, third = _run_failing_jobs("a", "b", "c")
    queue = get_queue()

    response = admin_client.post(f"/filas/falhas/{third}/excluir", follow_redirects=True)
    assert "Tarefa excluída" in response.get_data(as_text=True)
    assert not Job.exists(third, connection=get_redis())

    response = admin_client.post("/filas/falhas/reenfileirar-todas", follow_redirects=True)
    assert "2 tarefa(s) com falha reenfileirada(s)." in response.get_data(as_text=True)
    assert sorted(queue.job_ids) == sorted([first, second])
    assert queue.failed_job_registry.count == 0
    assert _audit_actions() == ["fila_job_excluido", "fila_jobs_reenfileirados"]


@pytest.mark.parametrize("job_id, message", [
    ("nao-existe-123", "A tarefa não existe mais"),
    ("inválido!", "Identificador de tarefa inválido."),
])
def test_requeue_of_an_unknown_job_says_so_and_changes_nothing(admin_client, job_id, message):
    response = admin_client.post(f"/filas/falhas/{job_id}/reenfileirar", follow_redirects=True)
    assert message in response.get_data(as_text=True)
    assert _audit_actions() == []


def test_a_job_that_is_not_failed_cannot_be_deleted_from_the_page(admin_client):
    job = get_queue().enqueue("builtins.int", "1")
    response = admin_client.post(f"/filas/falhas/{job.id}/excluir", follow_redirects=True)
    assert "não está entre as falhas" in response.get_data(as_text=True)
    assert Job.exists(job.id, connection=get_redis())


def test_actions_need_the_csrf_token(admin_client):
    (job_id,) = _run_failing_jobs("x")
    response = admin_client.post(f"/filas/falhas/{job_id}/excluir", no_csrf=True)
    assert response.status_code == 400
    assert Job.exists(job_id, connection=get_redis())


@pytest.mark.parametrize("role", [Role.OPERADOR, Role.VISUALIZADOR])
def test_non_admins_are_refused(client, users, login, role):
    (job_id,) = _run_failing_jobs("x")
    login(users[role])
    assert client.get("/filas").status_code == 403
    assert client.post(f"/filas/falhas/{job_id}/excluir").status_code == 403
    assert client.post("/filas/falhas/reenfileirar-todas").status_code == 403
    assert get_queue().failed_job_registry.count == 1


def test_page_renders_a_clear_message_when_redis_is_down(app_config, users):
    down = create_app(dict(app_config, REDIS_URL="redis://127.0.0.1:1/0",
                           RATELIMIT_STORAGE_URI=app_config["REDIS_URL"]))
    down.test_client_class = CSRFClient
    client = down.test_client()
    assert client.post("/login", data={"login": users[Role.ADMIN].username, "password": PASSWORD}).status_code == 302

    response = client.get("/filas")
    assert response.status_code == 200
    assert "O Redis não respondeu" in response.get_data(as_text=True)

    response = client.post("/filas/falhas/reenfileirar-todas", follow_redirects=True)
    assert "A fila de tarefas (Redis) está indisponível" in response.get_data(as_text=True)
