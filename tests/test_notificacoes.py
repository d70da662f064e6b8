"""Notifications: grouping, choices, the channels against real servers, retries, no duplicates, cleanup."""
from datetime import timedelta

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from apps.auth.models import Role
from apps.core.queues import get_queue
from apps.core.types import db, utcnow
from apps.notificacoes import delivery, events, grouping, jobs, preferences
from apps.notificacoes.models import Contato, Grupo, Mensagem, StatusMensagem
from apps.processos.models import StatusExecucao
from tests.conftest import actions, count_queries, make_user
from tests.support.fake_providers import FakeTelegram, FakeTwilio, WebhookReceiver, smtp_server

LATER = timedelta(seconds=61)


@pytest.fixture
def settings(app):
    """settings(KEY=value, ...) changes app settings for one test."""
    saved = {}

    def _set(**values):
        for key, value in values.items():
            saved.setdefault(key, app.config.get(key))
            app.config[key] = value

    yield _set
    app.config.update(saved)


@pytest.fixture
def telegram(settings):
    server = FakeTelegram()
    settings(TELEGRAM_BOT_TOKEN=server.token, TELEGRAM_API_URL=server.url, TELEGRAM_WEBHOOK_SECRET="segredo-tg-1")
    yield server
    server.close()


@pytest.fixture
def twilio(settings):
    server = FakeTwilio()
    settings(WHATSAPP_ACCOUNT_SID=server.sid, WHATSAPP_AUTH_TOKEN=server.token, WHATSAPP_FROM_NUMBER="+15550001111",
             WHATSAPP_API_URL=server.url)
    yield server
    server.close()


def messages(**where):
    db.session.expire_all()
    query = select(Mensagem).order_by(Mensagem.created_at)
    for key, value in where.items():
        query = query.where(getattr(Mensagem, key) == value)
    return list(db.session.scalars(query))


def close_windows():
    """Move the clock past the grouping window and close it, as the tick job does."""
    return jobs.tick(now=utcnow() + LATER)


def send_all():
    """Run the delivery of every PENDENTE outgoing message in this process (what a worker does)."""
    return [delivery.deliver(m.id) for m in messages(status=StatusMensagem.PENDENTE, direcao="SAIDA")]


def with_channel(user, canal, **contact):
    if contact:
        preferences.set_contacts(user, **contact)
    preferences.set_choices(user, {e: [canal] for e in events.ALL})
    db.session.commit()


# --- grouping ------------------------------------------------------------------------------------

def test_312_items_for_one_approver_become_one_message_with_the_count(app):
    approver = make_user(Role.OPERADOR, "aprovador")
    for i in range(312):
        events.notify(events.APROVACAO_ATRIBUIDA, [approver], text=f"Processo {i} aguarda sua aprovação",
                      link=f"/processos/{i}")
    db.session.commit()
    assert jobs.tick() == {"mensagens": 0, "presas": 0, "reenfileiradas": 0}  # the window is still open
    assert messages() == []
    assert close_windows()["mensagens"] == 1
    [mensagem] = messages()
    [job] = get_queue().get_jobs()  # its delivery is queued, by the message's id
    assert job.func_name == delivery.DELIVER and job.args == (str(mensagem.id),)
    assert mensagem.conteudo == "312 processos aguardam sua aprovação"
    assert (mensagem.canal, mensagem.quantidade, mensagem.link) == ("mock", 312, "/aprovacoes")
    assert db.session.scalar(select(func.count()).select_from(Grupo)) == 0
    assert send_all() == ["enviada"]
    assert messages()[0].status == StatusMensagem.ENVIADA


def test_one_item_keeps_its_own_text_and_link_and_a_new_window_opens_after(app):
    user = make_user(Role.OPERADOR, "um")
    events.notify(events.EXECUCAO_FALHOU, [user], text="Execução de ACME falhou", link="/processos/1")
    db.session.commit()
    close_windows()
    events.notify(events.EXECUCAO_FALHOU, [user], text="Execução de BETA falhou", link="/processos/2")
    db.session.commit()
    close_windows()
    assert [(m.conteudo, m.link) for m in messages()] == [("Execução de ACME falhou", "/processos/1"),
                                                          ("Execução de BETA falhou", "/processos/2")]


def test_notify_for_many_users_is_a_few_statements(app):
    people = [make_user(Role.OPERADOR, f"op{i}") for i in range(40)]
    with count_queries() as statements:
        events.notify(events.MES_ABERTO, people, text="Competência aberta", link="/processos")
    assert len(statements) <= 5, statements
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Grupo)) == 40


def test_notify_refuses_unknown_events_and_outside_links(app):
    with pytest.raises(ValueError):
        events.notify("nao_existe", [], text="x")
    with pytest.raises(ValueError):
        events.notify(events.MES_ABERTO, [], text="x", link="https://evil.example/")


# --- choices and defaults ------------------------------------------------------------------------

def test_defaults_mock_everywhere_and_email_for_the_important_ones_when_smtp_is_set(app, settings):
    user = make_user(Role.ADMIN, "padrao")
    assert preferences.choices([user.id])[user.id][events.MES_ABERTO] == ["mock"]
    settings(SMTP_URL="smtp://u:p@smtp.exemplo.com.br:587", SMTP_FROM="rpa@exemplo.com.br")
    chosen = preferences.choices([user.id])[user.id]
    assert chosen[events.EXECUCAO_FALHOU] == ["mock", "email"] and chosen[events.MES_ABERTO] == ["mock"]
    settings(NOTIFICACOES_MOCK=False)
    assert preferences.targets(events.TOKEN_EXPIRANDO, [user.id]) == [(user.id, "email")]


def test_saved_choices_win_and_a_channel_without_address_or_settings_gets_nothing(app, telegram):
    user = make_user(Role.OPERADOR, "escolhe")
    preferences.set_choices(user, {events.EXECUCAO_FALHOU: ["telegram", "whatsapp"], events.MES_ABERTO: []})
    db.session.commit()
    assert preferences.targets(events.EXECUCAO_FALHOU, [user.id]) == []  # no chat linked, WhatsApp off
    preferences.set_contacts(user, telegram_chat_id="5551234")
    assert preferences.targets(events.EXECUCAO_FALHOU, [user.id]) == [(user.id, "telegram")]
    assert preferences.targets(events.MES_ABERTO, [user.id]) == []
    with pytest.raises(preferences.PreferenciaError):
        preferences.set_choices(user, {events.MES_ABERTO: ["pombo"]})


def test_inactive_users_are_not_told(app):
    user = make_user(Role.OPERADOR, "inativo")
    user.ativo = False
    db.session.commit()
    events.notify(events.MES_ABERTO, [user], text="x")
    db.session.commit()
    assert close_windows()["mensagens"] == 0


# --- channels against real servers ---------------------------------------------------------------

def test_email_through_a_real_smtp_server(app, settings):
    user = make_user(Role.ADMIN, "carta")
    with smtp_server() as (host, port, keeper):
        settings(SMTP_URL=f"smtp+plain://{host}:{port}", SMTP_FROM="rpa@exemplo.com.br")
        with_channel(user, "email")
        events.notify(events.EXECUCAO_FALHOU, [user], text="Execução de ACME falhou", link="/processos/9")
        db.session.commit()
        close_windows()
        assert send_all() == ["enviada"]
        [mail] = keeper.messages
    assert mail["to"] == [user.email] and "Execução de ACME falhou" in mail["data"]
    assert "http://127.0.0.1:5050/processos/9" in mail["data"]
    [mensagem] = messages()
    assert mensagem.provider_id.startswith("<") and mensagem.provider_id.strip("<>") in mail["data"]


def test_smtp_url_with_starttls_refuses_a_server_without_it_and_sends_nothing(app, settings):
    user = make_user(Role.ADMIN, "semtls")
    with smtp_server() as (host, port, keeper):
        settings(SMTP_URL=f"smtp://user:senha@{host}:{port}", SMTP_FROM="rpa@exemplo.com.br")
        with_channel(user, "email")
        events.notify(events.EXECUCAO_FALHOU, [user], text="x")
        db.session.commit()
        close_windows()
        assert send_all() == ["falhou"]
        assert keeper.messages == []
    [mensagem] = messages()
    assert mensagem.status == StatusMensagem.FALHOU and "STARTTLS" in mensagem.ultimo_erro


def test_telegram_429_waits_retry_after_then_sends(app, telegram):
    user = make_user(Role.OPERADOR, "tg")
    with_channel(user, "telegram", telegram_chat_id="777")
    telegram.answer_next(FakeTelegram.too_many(retry_after=7))
    events.notify(events.EXECUCAO_FALHOU, [user], text="Falhou", link="/processos")
    db.session.commit()
    close_windows()
    before = utcnow()
    assert send_all() == ["nova tentativa em 7 s"]
    [mensagem] = messages()
    assert mensagem.status == StatusMensagem.PENDENTE and mensagem.tentativas == 1 and "429" in mensagem.ultimo_erro
    assert abs((mensagem.proxima_tentativa_em - before).total_seconds() - 7) < 2
    scheduled = ScheduledJobRegistry(queue=get_queue())
    [job_id] = scheduled.get_job_ids()
    assert 5 <= scheduled.get_expiration_time(get_queue().fetch_job(job_id)).timestamp() - before.timestamp() <= 9
    assert delivery.deliver(mensagem.id) == "enviada"
    [mensagem] = messages()
    assert (mensagem.status, mensagem.tentativas, mensagem.provider_id) == (StatusMensagem.ENVIADA, 2, "1001")
    assert [r["chat_id"] for r in telegram.received] == ["777", "777"]
    assert telegram.received[1]["text"] == "Falhou\nhttp://127.0.0.1:5050/processos"


def test_telegram_backoff_grows_and_gives_up_after_the_last_attempt(app, telegram, settings):
    settings(NOTIFICACOES_MAX_TENTATIVAS=3, NOTIFICACOES_BACKOFF_BASE=2)
    user = make_user(Role.OPERADOR, "tg2")
    with_channel(user, "telegram", telegram_chat_id="778")
    error = (500, {}, {"ok": False, "error_code": 500, "description": "Internal"})
    telegram.answer_next(error, error, error)
    events.notify(events.EXECUCAO_FALHOU, [user], text="x")
    db.session.commit()
    close_windows()
    [mensagem] = messages()
    assert [delivery.deliver(mensagem.id) for _ in range(3)] == ["nova tentativa em 2 s", "nova tentativa em 4 s",
                                                                "falhou"]
    assert messages()[0].status == StatusMensagem.FALHOU and len(telegram.received) == 3


def test_whatsapp_through_twilio_honours_retry_after(app, twilio):
    user = make_user(Role.OPERADOR, "zap")
    with_channel(user, "whatsapp", whatsapp="+55 (11) 98765-4321")
    twilio.answer_next(FakeTwilio.too_many(retry_after=3))
    events.notify(events.EXECUCAO_FALHOU, [user], text="Falhou")
    db.session.commit()
    close_windows()
    assert send_all() == ["nova tentativa em 3 s"]
    assert send_all() == ["enviada"]
    assert twilio.received[-1]["To"] == "whatsapp:+5511987654321" and twilio.received[-1]["From"] == "whatsapp:+15550001111"
    assert messages()[0].provider_id.startswith("SM")


def test_twilio_refusal_is_final(app, twilio, settings):
    settings(WHATSAPP_AUTH_TOKEN="errado")
    user = make_user(Role.OPERADOR, "zap2")
    with_channel(user, "whatsapp", whatsapp="+5511900000000")
    events.notify(events.MES_ABERTO, [user], text="x")
    db.session.commit()
    close_windows()
    assert send_all() == ["falhou"]
    assert "401" in messages()[0].ultimo_erro and "errado" not in messages()[0].ultimo_erro


def test_webhook_is_signed_per_standard_webhooks(app, settings):
    settings(NOTIFICACOES_WEBHOOK_ALLOW_PRIVATE=True)
    user = make_user(Role.OPERADOR, "gancho")
    receiver = WebhookReceiver()
    try:
        with_channel(user, "webhook", webhook_url=receiver.url + "/hook")
        receiver.secret = preferences.contato_of(user.id).webhook_secret
        events.notify(events.EXECUCAO_FALHOU, [user], text="Falhou", link="/processos")
        db.session.commit()
        close_windows()
        assert send_all() == ["enviada"]
        [got] = receiver.received
        assert got["data"]["texto"] == "Falhou" and got["type"] == "notificacao.execucao_falhou"
        assert got["id"] == f"msg_{messages()[0].id}"
        receiver.secret = preferences.new_webhook_secret()  # the receiver expects another secret now
        events.notify(events.EXECUCAO_FALHOU, [user], text="De novo")
        db.session.commit()
        close_windows()
        assert send_all() == ["falhou"] and receiver.refused == 1
    finally:
        receiver.close()


def test_webhook_urls_go_through_the_ssrf_guard(app, settings):
    user = make_user(Role.OPERADOR, "ssrf")
    with pytest.raises(preferences.PreferenciaError, match="endereço interno"):
        preferences.set_contacts(user, webhook_url="http://127.0.0.1:9/hook")
    settings(NOTIFICACOES_WEBHOOK_ALLOW_PRIVATE=True)
    with_channel(user, "webhook", webhook_url="http://127.0.0.1:9/hook")
    settings(NOTIFICACOES_WEBHOOK_ALLOW_PRIVATE=False)  # checked again right before each send
    events.notify(events.MES_ABERTO, [user], text="x")
    db.session.commit()
    close_windows()
    assert send_all() == ["falhou"]
    assert "endereço interno" in messages()[0].ultimo_erro


# --- never twice ---------------------------------------------------------------------------------

def test_a_retried_job_or_a_second_worker_never_sends_twice(app, telegram):
    user = make_user(Role.OPERADOR, "unico")
    with_channel(user, "telegram", telegram_chat_id="900")
    events.notify(events.MES_ABERTO, [user], text="Uma vez")
    db.session.commit()
    close_windows()
    [mensagem] = messages()
    assert [delivery.deliver(mensagem.id) for _ in range(3)] == ["enviada", "ignorada", "ignorada"]
    assert len(telegram.received) == 1


def test_a_claim_left_by_a_dead_worker_is_failed_as_unknown_never_resent(app, telegram):
    user = make_user(Role.OPERADOR, "caiu")
    with_channel(user, "telegram", telegram_chat_id="901")
    events.notify(events.MES_ABERTO, [user], text="Talvez")
    db.session.commit()
    close_windows()
    [mensagem] = messages()
    assert delivery.claim(mensagem.id)  # the worker claimed it, then died before recording the outcome
    assert delivery.deliver(mensagem.id) == "ignorada"
    assert delivery.reconcile()["presas"] == 0  # not yet: it may still be sending
    assert delivery.reconcile(now=utcnow() + timedelta(seconds=delivery.STUCK_SECONDS + 1))["presas"] == 1
    [mensagem] = messages()
    assert mensagem.status == StatusMensagem.FALHOU and "não reenviada" in mensagem.ultimo_erro
    assert telegram.received == []


def test_a_message_whose_job_was_lost_is_queued_again(app):
    user = make_user(Role.OPERADOR, "perdida")
    events.notify(events.MES_ABERTO, [user], text="x")
    db.session.commit()
    close_windows()
    get_queue().empty()
    assert delivery.reconcile(now=utcnow() + timedelta(seconds=delivery.LOST_SECONDS + 5))["reenfileiradas"] == 1
    assert get_queue().count == 1


# --- daily jobs and the events wired today -------------------------------------------------------

def test_cleanup_deletes_messages_older_than_the_retention(app):
    user = make_user(Role.OPERADOR, "velha")
    events.notify(events.MES_ABERTO, [user], text="x")
    db.session.commit()
    close_windows()
    assert jobs.cleanup(now=utcnow() + timedelta(days=29)) == 0
    assert jobs.cleanup(now=utcnow() + timedelta(days=31)) == 1
    assert messages() == []


def test_token_expiring_tells_the_admins_once_a_day(app, settings):
    import jwt

    admin = make_user(Role.ADMIN, "dono")
    make_user(Role.OPERADOR, "naoadmin")
    now = utcnow()
    token = jwt.encode({"exp": int((now + timedelta(days=10)).timestamp()), "sub": "x"},
                       "chave-de-teste-longa-o-bastante-para-hs256", algorithm="HS256")
    settings(API_EXTERNA_TOKEN=token)
    assert jobs.check_token(now=now - timedelta(days=6)) is False  # 16 days left
    assert jobs.check_token(now=now) is True
    assert jobs.check_token(now=now + timedelta(hours=1)) is False  # once a day
    close_windows()
    [mensagem] = messages()
    assert mensagem.usuario_id == admin.id and "expira em 10 dia(s)" in mensagem.conteudo


def test_a_failed_run_tells_its_creator_and_the_admins(app):
    from apps.rpa.runs import end_run
    from tests.factories import ExecucaoFactory

    admin, creator = make_user(Role.ADMIN, "chefe"), make_user(Role.OPERADOR, "criador")
    make_user(Role.OPERADOR, "outro")
    execucao = ExecucaoFactory(criado_por_id=creator.id, status=StatusExecucao.EXECUTANDO)
    assert end_run(execucao, error="robô sem resposta")
    db.session.rollback()  # end_run itself writes nothing more: the notification is a job of its own
    [job] = [j for j in get_queue().get_jobs() if j.func_name == events.NOTIFY_JOB]
    assert job.perform() == 2
    close_windows()
    assert {m.usuario_id for m in messages()} == {admin.id, creator.id}
    assert "robô sem resposta" in messages()[0].conteudo


def test_the_month_opening_tells_admins_and_operators(app, monkeypatch):
    from apps.processos import schedule
    from tests.factories import ClienteFactory

    make_user(Role.ADMIN, "a1"), make_user(Role.OPERADOR, "o1"), make_user(Role.VISUALIZADOR, "v1")
    ClienteFactory()
    monkeypatch.setattr(schedule, "due_competencia", lambda now: "2026-12")
    assert schedule.monthly_job()["executado"]
    close_windows()
    assert sorted(m.usuario.username for m in messages()) == ["a1", "o1"]
    assert "processo(s) criado(s)" in messages()[0].conteudo


def test_contacts_are_one_per_user(app):
    a, b = make_user(Role.OPERADOR, "ca"), make_user(Role.OPERADOR, "cb")
    preferences.set_contacts(a, whatsapp="+5511911112222")
    db.session.commit()
    with pytest.raises(preferences.PreferenciaError, match="outro usuário"):
        preferences.set_contacts(b, whatsapp="+55 11 91111-2222")
    with pytest.raises(preferences.PreferenciaError, match="formato internacional"):
        preferences.set_contacts(b, whatsapp="11 91111")
    db.session.rollback()
    assert db.session.get(Contato, a.id).whatsapp == "+5511911112222"
    assert actions("notificacoes_contatos")
    assert grouping.message_text(events.PRAZO_HOJE, 2, "x") == "2 aprovações vencem hoje"


def test_the_demo_seed_leaves_the_admin_a_mock_message(app, monkeypatch):
    from apps.core import demo

    admin = make_user(Role.ADMIN, "demo")
    monkeypatch.setattr(demo, "due_competencia", lambda now=None: "2026-12")
    assert demo.seed_demo(n_clientes=3)["processos"] == 3
    close_windows()
    [mensagem] = messages(usuario_id=admin.id)  # the demo approver, an Operador, is told too
    assert mensagem.canal == "mock"
    assert mensagem.conteudo == "Competência 2026-12 aberta: 3 processo(s) criado(s)."


def test_cron_runs_the_tick_often_and_the_daily_jobs(app):
    from rq.cron import CronScheduler

    from apps.core.queues import get_redis
    from tests.conftest import repo_root

    scheduler = CronScheduler(connection=get_redis())
    scheduler.load_config_from_file(str(repo_root() / "apps" / "cron.py"))
    intervals = {job.func_name: job.interval for job in scheduler.get_jobs()}
    assert intervals["apps.notificacoes.jobs.tick"] <= 15
    assert intervals["apps.notificacoes.jobs.check_token"] <= 24 * 3600  # acts once a day (Redis key per day)
    assert intervals["apps.notificacoes.jobs.cleanup"] == 24 * 3600


def test_thousands_of_items_in_one_transaction_cost_one_statement_each(app):
    approver = make_user(Role.OPERADOR, "muitos")
    with count_queries() as statements:
        for i in range(3000):
            events.notify(events.APROVACAO_ATRIBUIDA, [approver], text=f"Processo {i} aguarda sua aprovação")
    assert len(statements) <= 3000 + 3  # the choices are read once per transaction
    db.session.commit()
    preferences.set_choices(approver, {events.APROVACAO_ATRIBUIDA: []})  # a saved choice is seen at once
    events.notify(events.APROVACAO_ATRIBUIDA, [approver], text="mais um")
    db.session.commit()
    close_windows()
    [mensagem] = messages()
    assert mensagem.conteudo == "3000 processos aguardam sua aprovação"
