"""API v1 of aprovações: the list's shape and filters, atribuir, comments, and the operadora and user fields."""
from datetime import date
from decimal import Decimal

import pytest

from apps.aprovacoes.models import TarefaAprovacao
from apps.auth.models import Role
from apps.core.types import db
from tests.factories import PASSWORD, OperadoraFactory
from tests.support.aprovacoes import approver, at, group, make_clock, spy_notify, waiting


@pytest.fixture
def clock(monkeypatch):
    return make_clock(monkeypatch)


@pytest.fixture(autouse=True)
def told(monkeypatch):
    return spy_notify(monkeypatch)


def bearer(client, user):
    token = client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}).get_json()
    return {"Authorization": f"Bearer {token['access']}"}


@pytest.fixture
def cena(clock, users):
    vivo, oi = OperadoraFactory(codigo="VIVO"), OperadoraFactory(codigo="OI")
    ana = approver("ana")
    group(vivo, ana)
    clock.set(at(2026, 10, 26))
    velho = waiting(vivo, "Velho", total="250.50")
    clock.set(at(2026, 10, 30))
    novo = waiting(oi, "Novo")
    return {"ana": ana, "vivo": vivo, "oi": oi, "velho": velho, "novo": novo}


def test_list_shape_and_filters(cena, client, admin):
    body = client.get("/api/v1/aprovacoes", headers=admin).get_json()
    assert body["total"] == 2 and body["page"] == 1 and body["pages"] == 1
    first = body["items"][0]
    assert first["processo_id"] == str(cena["velho"].id) and first["responsavel_id"] == str(cena["ana"].id)
    assert (first["prazo"], first["vencida"], first["total"], first["variacao"]) == ("2026-10-28", True, "250.50", None)
    assert body["items"][1]["responsavel_id"] is None and body["items"][1]["vencida"] is False

    ana = bearer(client, cena["ana"])
    mine = client.get("/api/v1/aprovacoes?responsavel=me", headers=ana).get_json()
    assert [i["processo_id"] for i in mine["items"]] == [str(cena["velho"].id)]
    by_id = client.get(f"/api/v1/aprovacoes?responsavel={cena['ana'].id}", headers=admin).get_json()
    assert by_id["total"] == 1
    assert client.get("/api/v1/aprovacoes?vencidas=false", headers=admin).get_json()["total"] == 1
    assert client.get(f"/api/v1/aprovacoes?operadora_id={cena['oi'].id}", headers=admin).get_json()["items"][0][
        "processo_id"] == str(cena["novo"].id)
    bad = client.get("/api/v1/aprovacoes?responsavel=ninguem", headers=admin)
    assert bad.status_code == 400 and "responsavel" in bad.get_json()["fields"]


def test_viewers_cannot_list(cena, client, viewer):
    assert client.get("/api/v1/aprovacoes", headers=viewer).status_code == 403


def test_atribuir(cena, client, admin, users):
    novo = cena["novo"]
    url = f"/api/v1/aprovacoes/{novo.id}/atribuir"
    done = client.post(url, json={"usuario_id": str(cena["ana"].id)}, headers=admin)
    assert done.status_code == 200 and done.get_json()["responsavel_id"] == str(cena["ana"].id)
    refused = client.post(url, json={"usuario_id": str(users[Role.VISUALIZADOR].id)}, headers=admin)
    assert refused.status_code == 422 and "usuario_id" in refused.get_json()["fields"]
    assert client.post(url, json={}, headers=admin).status_code == 422
    assert client.post(url, json={"usuario_id": "x", "extra": 1}, headers=admin).status_code == 422
    # an Operador may not give it to someone else, and may take it only when it is free or its owner is away
    op = bearer(client, users[Role.OPERADOR])
    assert client.post(url, json={"usuario_id": str(cena["ana"].id)}, headers=op).status_code == 403
    outside = client.post(url, json={"usuario_id": str(users[Role.OPERADOR].id)}, headers=op)
    assert outside.status_code == 403 and "grupo" in outside.get_json()["error"]
    group(cena["oi"], users[Role.OPERADOR])
    taken = client.post(url, json={"usuario_id": str(users[Role.OPERADOR].id)}, headers=op)
    assert taken.status_code == 409 and "não está ausente" in taken.get_json()["error"]
    gone = client.post(f"/api/v1/aprovacoes/{cena['velho'].id}/atribuir", json={"usuario_id": str(cena["ana"].id)},
                       headers=admin)
    assert gone.status_code == 200
    missing = client.post("/api/v1/aprovacoes/00000000-0000-0000-0000-000000000000/atribuir",
                          json={"usuario_id": str(cena["ana"].id)}, headers=admin)
    assert missing.status_code == 404


def test_comments(cena, client, admin, viewer):
    url = f"/api/v1/processos/{cena['velho'].id}/comentarios"
    created = client.post(url, json={"texto": "Conferir a linha 3"}, headers=admin)
    assert created.status_code == 201 and created.get_json()["texto"] == "Conferir a linha 3"
    assert client.post(url, json={"texto": ""}, headers=admin).get_json()["fields"] == {"texto": "Escreva o comentário."}
    assert client.post(url, json={"texto": 3}, headers=admin).status_code == 422
    assert client.post(url, json={"texto": "oi"}, headers=viewer).status_code == 403
    listed = client.get(url, headers=viewer).get_json()
    assert [c["texto"] for c in listed["items"]] == ["Conferir a linha 3"]


def test_operadora_json_and_patch(cena, client, admin, op):
    vivo = cena["vivo"]
    body = client.get(f"/api/v1/operadoras/{vivo.id}", headers=admin).get_json()
    assert body["aprovadores"] == [str(cena["ana"].id)]
    assert (body["prazo_aprovacao_dias_uteis"], body["valor_dupla_aprovacao"], body["variacao_alerta_pct"]) == (
        2, None, 25)
    changed = client.patch(f"/api/v1/operadoras/{vivo.id}", headers=admin, json={
        "aprovadores": [], "valor_dupla_aprovacao": "5000.5", "prazo_aprovacao_dias_uteis": 3})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["aprovadores"] == [] and changed.get_json()["valor_dupla_aprovacao"] == "5000.50"
    db.session.expire_all()
    assert vivo.valor_dupla_aprovacao == Decimal("5000.50")
    for bad in ({"valor_dupla_aprovacao": "muito"}, {"prazo_aprovacao_dias_uteis": 31}, {"aprovadores": ["x"]},
                {"variacao_alerta_pct": 0}):
        response = client.patch(f"/api/v1/operadoras/{vivo.id}", headers=admin, json=bad)
        assert response.status_code == 422, (bad, response.get_json())
        assert set(response.get_json()["fields"]) == set(bad)
    assert client.patch(f"/api/v1/operadoras/{vivo.id}", headers=admin, json={"aprovadores": "x"}).status_code == 400
    refused = client.patch(f"/api/v1/operadoras/{vivo.id}", headers=op, json={"valor_dupla_aprovacao": None})
    assert refused.status_code == 403


def test_usuario_ausente_ate(cena, client, admin):
    ana = cena["ana"]
    url = f"/api/v1/usuarios/{ana.id}"
    assert client.get(url, headers=admin).get_json()["ausente_ate"] is None
    done = client.patch(url, headers=admin, json={"ausente_ate": "2026-11-06"})
    assert done.status_code == 200 and done.get_json()["ausente_ate"] == "2026-11-06"
    db.session.refresh(ana)
    assert ana.ausente_ate == date(2026, 11, 6)
    assert client.patch(url, headers=admin, json={"ausente_ate": "06/11/2026"}).status_code == 422
    assert client.patch(url, headers=admin, json={"ausente_ate": "2020-01-01"}).status_code == 422
    assert client.patch(url, headers=admin, json={"ausente_ate": None}).get_json()["ausente_ate"] is None
    assert db.session.query(TarefaAprovacao).count() == 2
