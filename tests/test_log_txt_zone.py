"""log.txt tells a line's time in the office's zone (TIMEZONE), the zone the page shows, with its offset."""
from datetime import UTC, datetime

from apps.auth.models import Role
from apps.core.types import db
from tests.factories import ExecucaoFactory, ExecucaoLogFactory

MOMENT = datetime(2026, 12, 1, 22, 47, 40, 123456, tzinfo=UTC)


def _log_lines(client, execucao_id):
    response = client.get(f"/execucoes/{execucao_id}/log.txt")
    assert response.status_code == 200
    return response.get_data(as_text=True).splitlines()[1:]


def test_log_txt_is_in_sao_paulo_time_with_the_offset(client, users, login):
    execucao = ExecucaoFactory()
    ExecucaoLogFactory(execucao=execucao, seq=1, timestamp=MOMENT, message="Fatura baixada")
    login(users[Role.VISUALIZADOR])
    assert _log_lines(client, execucao.id) == ["2026-12-01 19:47:40-03:00 #1 [INFO] Fatura baixada"]


def test_log_txt_follows_the_configured_zone(app, client, users, login, monkeypatch):
    execucao = ExecucaoFactory()
    ExecucaoLogFactory(execucao=execucao, seq=1, timestamp=datetime(2026, 7, 1, 12, 0, 5, tzinfo=UTC))
    ExecucaoLogFactory(execucao=execucao, seq=2, timestamp=MOMENT)
    monkeypatch.setitem(app.config, "TIMEZONE", "America/New_York")
    login(users[Role.VISUALIZADOR])
    lines = _log_lines(client, execucao.id)
    assert lines[0].startswith("2026-07-01 08:00:05-04:00 #1 ")  # summer time there
    assert lines[1].startswith("2026-12-01 17:47:40-05:00 #2 ")


def test_log_txt_keeps_escaping_control_characters(client, users, login):
    execucao = ExecucaoFactory()
    ExecucaoLogFactory(execucao=execucao, seq=1, timestamp=MOMENT,
                       message="fim\r\n2026-12-01 19:47:41-03:00 #2 [INFO] forjada\x1b[0m")
    db.session.commit()
    login(users[Role.VISUALIZADOR])
    assert _log_lines(client, execucao.id) == [
        "2026-12-01 19:47:40-03:00 #1 [INFO] fim\\r\\n2026-12-01 19:47:41-03:00 #2 [INFO] forjada\\x1b[0m"]
