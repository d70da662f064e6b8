"""Notifications seen from outside: /perfil, /mensagens, the API and the inbound webhooks."""
import re

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from apps.aprovacoes import tarefas
from apps.auth.models import Role
from apps.core.audit import AuditLog
from apps.core.types import db
from apps.notificacoes import delivery, events, preferences
from apps.notificacoes.models import Contato, Mensagem, StatusMensagem
from apps.processos.models import StatusProcesso
from tests.conftest import actions
from tests.factories import ClienteFactory, OperadoraFactory, ProcessoFactory
from tests.test_notificacoes import close_windows, messages, settings, telegram, twilio  # noqa: F401 (fixtures)

SECRET = "segredo-tg-1"  # noqa: S105 (the fixture's webhook secret)


def tg_update(chat_id, text):
    return {"update_id": 1, "message": {"message_id": 5, "chat": {"id": chat_id, "type": "private"}, "text": text,
                                        "from": {"id": chat_id, "is_bot": False, "first_name": "Ana"}}}


def post_tg(client, body, secret=SECRET, header=SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header is not None else {}
    return client.post(f"/webhooks/telegram/{secret}", json=body, headers=headers)


# --- /perfil -------------------------------------------------------------------------------------

def test_profile_shows_each_channel_and_says_which_are_off_without_settings(app, users, login):
    client = login(users[Role.OPERADOR])
    html = client.get("/perfil").get_data(as_text=True)
    assert "desativado: defina TELEGRAM_BOT_TOKEN" in html
    assert "desativado: defina WHATSAPP_ACCOUNT_SID, WHATSAPP_AUTH_TOKEN, WHATSAPP_FROM_NUMBER" in html
    assert "desativado: defina SMTP_URL, SMTP_FROM" in html
    assert 'name="mes_aberto__telegram"' in html and "disabled" in html


def test_profile_saves_choices_and_contacts_with_clear_errors(app, users, login, twilio):  # noqa: F811
    user = users[Role.OPERADOR]
    client = login(user)
    response = client.post("/perfil/preferencias", data={"mes_aberto__whatsapp": "y", "execucao_falhou__mock": "y"})
    assert response.status_code == 302
    assert preferences.choices([user.id])[user.id][events.MES_ABERTO] == ["whatsapp"]
    bad = client.post("/perfil/contatos", data={"whatsapp": "1234", "webhook_url": ""})
    assert bad.status_code == 422 and "formato internacional" in bad.get_data(as_text=True)
    assert client.post("/perfil/contatos", data={"whatsapp": "+55 11 98765-4321", "webhook_url": ""}).status_code == 302
    assert db.session.get(Contato, user.id).whatsapp == "+5511987654321"
    ssrf = client.post("/perfil/contatos", data={"whatsapp": "+5511987654321", "webhook_url": "http://10.0.0.1/x"})
    assert ssrf.status_code == 422 and "endereço interno" in ssrf.get_data(as_text=True)


def test_profile_forms_need_csrf(app, users, login):
    client = login(users[Role.OPERADOR])
    assert client.post("/perfil/preferencias", data={}, no_csrf=True).status_code == 400
    assert client.post("/perfil/telegram/codigo", data={}, no_csrf=True).status_code == 400


# --- Telegram: linking and commands --------------------------------------------------------------

def test_start_code_from_the_profile_links_the_chat_then_pendentes_answers_with_a_link(app, users, login,
                                                                                       telegram):  # noqa: F811
    user = users[Role.OPERADOR]
    client = login(user)
    html = client.post("/perfil/telegram/codigo", data={}).get_data(as_text=True)
    code = re.search(r"/start ([0-9A-F]{8})", html).group(1)
    assert post_tg(app.test_client(), tg_update(4242, f"/start {code}")).status_code == 200
    assert db.session.get(Contato, user.id, populate_existing=True).telegram_chat_id == "4242"
    assert post_tg(app.test_client(), tg_update(99, f"/start {code}")).status_code == 200  # spent: no second link
    assert db.session.scalar(select(Contato).where(Contato.telegram_chat_id == "99")) is None

    operadora = OperadoraFactory(codigo="VIVO")
    tarefas.definir_aprovadores(operadora, [user.id], by=None)  # the user approves VIVO: the tasks are theirs
    waiting = [ProcessoFactory(status=StatusProcesso.AGUARDANDO_APROVACAO, cliente=ClienteFactory(operadora=operadora))
               for _ in range(2)]
    tarefas.abrir([p.id for p in waiting])
    db.session.commit()
    assert post_tg(app.test_client(), tg_update(4242, "/pendentes")).status_code == 200
    [entrada] = messages(direcao="ENTRADA", conteudo="/pendentes")
    assert entrada.status == StatusMensagem.RECEBIDA and entrada.usuario_id == user.id
    [reply] = [m for m in messages(direcao="SAIDA") if m.conteudo.startswith("2 processo(s) aguardam sua aprovação")]
    assert "http://127.0.0.1:5050/aprovacoes\n" in reply.conteudo
    for processo in waiting:  # each one with the link to its review, behind login
        assert f"{processo.cliente_nome} (VIVO)" in reply.conteudo
        assert f"http://127.0.0.1:5050/aprovacoes/{processo.id}/revisar" in reply.conteudo
    assert delivery.deliver(reply.id) == "enviada"
    assert telegram.received[-1]["chat_id"] == "4242"

    assert post_tg(app.test_client(), tg_update(4242, "/status")).status_code == 200
    status_reply = messages(direcao="SAIDA")[-1]
    assert status_reply.conteudo.startswith("Competência ") and "Aguardando aprovação" in status_reply.conteudo


def test_telegram_refuses_a_bad_secret_in_the_path_or_the_header(app, telegram):  # noqa: F811
    client = app.test_client()
    assert post_tg(client, tg_update(1, "/status"), secret="errado").status_code == 403
    assert post_tg(client, tg_update(1, "/status"), header="errado").status_code == 403
    assert post_tg(client, tg_update(1, "/status"), header=None).status_code == 403
    assert messages() == []


def test_telegram_webhook_is_not_there_without_its_settings(app, settings):  # noqa: F811
    settings(TELEGRAM_WEBHOOK_SECRET="", TELEGRAM_BOT_TOKEN="")
    assert post_tg(app.test_client(), tg_update(1, "x"), secret="x", header="x").status_code == 404


def test_an_unknown_sender_gets_nothing_but_an_audit_line(app, telegram):  # noqa: F811
    assert post_tg(app.test_client(), tg_update(31337, "/pendentes")).status_code == 200
    assert messages() == [] and telegram.received == []
    [entry] = actions("notificacao_remetente_desconhecido")
    assert "31337" in entry.detail


def test_inbound_webhooks_are_rate_limited(app, telegram, settings):  # noqa: F811
    settings(NOTIFICACOES_INBOUND_LIMIT="3 per minute")
    client = app.test_client()
    codes = [post_tg(client, tg_update(1, "x"), secret="errado").status_code for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]


# --- WhatsApp (Twilio) ---------------------------------------------------------------------------

def signed_whatsapp(client, form, token, url="http://127.0.0.1:5050/webhooks/whatsapp"):
    signature = RequestValidator(token).compute_signature(url, form)
    return client.post("/webhooks/whatsapp", data=form, headers={"X-Twilio-Signature": signature}, no_csrf=True)


def test_whatsapp_checks_the_signature_and_answers_a_linked_number(app, users, twilio):  # noqa: F811
    user = users[Role.ADMIN]
    preferences.set_contacts(user, whatsapp="+5511987650000")
    db.session.commit()
    form = {"From": "whatsapp:+5511987650000", "To": "whatsapp:+15550001111", "Body": "/status", "MessageSid": "SM1"}
    client = app.test_client()
    assert signed_whatsapp(client, form, "outro-token").status_code == 403
    assert signed_whatsapp(client, form, twilio.token, url="http://outro.host/webhooks/whatsapp").status_code == 403
    response = signed_whatsapp(client, form, twilio.token)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    [reply] = messages(direcao="SAIDA")
    assert reply.canal == "whatsapp" and reply.destino == "+5511987650000" and "Competência" in reply.conteudo
    assert delivery.deliver(reply.id) == "enviada"
    assert twilio.received[-1]["To"] == "whatsapp:+5511987650000"


def test_whatsapp_from_an_unknown_number_is_audited_only(app, twilio):  # noqa: F811
    form = {"From": "whatsapp:+5511900000001", "Body": "/pendentes"}
    assert signed_whatsapp(app.test_client(), form, twilio.token).status_code == 200
    assert messages() == []
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "notificacao_remetente_desconhecido"))


# --- /mensagens and the API ----------------------------------------------------------------------

def test_mensagens_page_filters_and_paginates(app, users, login):
    for i in range(30):
        events.notify(events.MES_ABERTO, [users[Role.OPERADOR]], text=f"aviso {i}")
        db.session.commit()
        close_windows()
    client = login(users[Role.ADMIN])
    html = client.get("/mensagens?usuario=operador&canal=mock&status=PENDENTE").get_data(as_text=True)
    assert html.count("data-mensagem=") == app.config["ITEMS_PER_PAGE"] and "30 registro(s)" in html
    assert "Nenhuma mensagem" in client.get("/mensagens?status=ENVIADA").get_data(as_text=True)
    assert "não encontrado" in client.get("/mensagens?usuario=ninguem", follow_redirects=True).get_data(as_text=True)


def test_api_sends_and_lists_messages(app, users, admin, viewer):
    target = users[Role.OPERADOR]
    response = app.test_client().post("/api/v1/mensagens", headers=admin,
                                      json={"usuario_id": str(target.id), "canal": "mock", "conteudo": "Olá"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "PENDENTE" and body["destino"] == target.username
    assert delivery.deliver(body["id"]) == "enviada"
    listed = app.test_client().get(f"/api/v1/mensagens?usuario_id={target.id}&canal=mock&status=ENVIADA",
                                   headers=admin).get_json()
    assert listed["total"] == 1 and listed["items"][0]["provider_id"] == f"mock-{body['id']}"
    off = app.test_client().post("/api/v1/mensagens", headers=admin,
                                 json={"usuario_id": str(target.id), "canal": "telegram", "conteudo": "Olá"})
    assert off.status_code == 422 and "desativado" in off.get_json()["error"]
    assert app.test_client().get("/api/v1/mensagens?canal=pombo", headers=admin).status_code == 400
    assert app.test_client().get("/api/v1/mensagens", headers=viewer).status_code == 403


def test_user_json_reads_and_writes_contacts_and_choices(app, users, admin):
    target = users[Role.OPERADOR]
    url = f"/api/v1/usuarios/{target.id}"
    got = app.test_client().get(url, headers=admin).get_json()
    assert got["telegram_chat_id"] is None and got["notificacoes"][events.MES_ABERTO] == ["mock"]
    changed = app.test_client().patch(url, headers=admin, json={
        "whatsapp": "+55 21 99999-0000", "telegram_chat_id": "12345",
        "notificacoes": {"mes_aberto": ["email", "telegram"]}}).get_json()
    assert changed["whatsapp"] == "+5521999990000" and changed["telegram_chat_id"] == "12345"
    assert changed["notificacoes"]["mes_aberto"] == ["email", "telegram"]
    assert changed["notificacoes"]["execucao_falhou"] == ["mock"]  # the others kept
    bad = app.test_client().patch(url, headers=admin, json={"notificacoes": {"mes_aberto": ["pombo"]}})
    assert bad.status_code == 422 and "mes_aberto" in bad.get_json()["fields"]


def test_api_message_to_a_user_without_address_is_refused(app, users, admin, telegram):  # noqa: F811
    response = app.test_client().post("/api/v1/mensagens", headers=admin, json={
        "usuario_id": str(users[Role.OPERADOR].id), "canal": "telegram", "conteudo": "x"})
    assert response.status_code == 422 and "não tem endereço" in response.get_json()["error"]
    assert db.session.scalars(select(Mensagem)).all() == []


def test_the_telegram_secret_never_reaches_the_request_log(app, telegram, caplog):  # noqa: F811
    import logging

    with caplog.at_level(logging.INFO, logger="apps.request"):
        post_tg(app.test_client(), tg_update(1, "x"), secret="palpite-errado")
        post_tg(app.test_client(), tg_update(1, "x"))
    logged = " ".join(r.getMessage() + str(getattr(r, "path", "")) for r in caplog.records)
    assert "/webhooks/telegram/<secret>" in logged
    assert SECRET not in logged and "palpite-errado" not in logged


def test_the_webhook_secret_is_shown_once_then_masked(app, users, login, settings):  # noqa: F811
    settings(NOTIFICACOES_WEBHOOK_ALLOW_PRIVATE=True)
    user = users[Role.OPERADOR]
    client = login(user)
    first = client.post("/perfil/contatos", data={"whatsapp": "", "webhook_url": "http://127.0.0.1:9/hook"})
    secret = db.session.get(Contato, user.id, populate_existing=True).webhook_secret
    assert first.status_code == 200 and secret in first.get_data(as_text=True)
    page = client.get("/perfil").get_data(as_text=True)
    assert secret not in page and secret[-6:] in page  # masked
    rotated = client.post("/perfil/webhook/segredo", data={}).get_data(as_text=True)
    new = db.session.get(Contato, user.id, populate_existing=True).webhook_secret
    assert new != secret and new in rotated and new.startswith("whsec_")
