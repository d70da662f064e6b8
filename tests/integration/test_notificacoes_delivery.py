"""Delivery by real RQ worker processes against a fake Telegram over HTTP: grouping through the tick job,
Telegram's 429 retry_after honoured by a scheduled retry, and no message sent twice by two workers."""
import pytest
from sqlalchemy import select

from apps.auth.models import Role
from apps.core.queues import get_queue
from apps.core.types import db
from apps.notificacoes import delivery, events, preferences
from apps.notificacoes.models import Grupo, Mensagem, StatusMensagem
from tests.conftest import make_user
from tests.integration.conftest import wait_for
from tests.support.fake_providers import FakeTelegram


@pytest.fixture
def telegram(cycle):
    """A fake Telegram; the app and the workers it starts point at it, with a grouping window of 0 s."""
    server = FakeTelegram()
    settings = {"TELEGRAM_BOT_TOKEN": server.token, "TELEGRAM_API_URL": server.url,
                "NOTIFICACOES_AGRUPAR_SEGUNDOS": 0, "NOTIFICACOES_MOCK": False}
    cycle.configure(**settings)
    base_env = cycle.worker_env
    cycle.worker_env = lambda: {**base_env(), **{k: str(v) if not isinstance(v, bool) else "false"
                                                 for k, v in settings.items()}}
    yield server
    server.close()


def linked(username, chat_id):
    user = make_user(Role.OPERADOR, username)
    preferences.set_contacts(user, telegram_chat_id=chat_id)
    preferences.set_choices(user, {e: ["telegram"] for e in events.ALL})
    db.session.commit()
    return user


def all_sent(n):
    def check():
        rows = db.session.scalars(select(Mensagem).where(Mensagem.direcao == "SAIDA")).all()
        return rows if len(rows) == n and all(m.status != StatusMensagem.PENDENTE for m in rows) else None
    return check


def test_many_items_become_one_message_sent_by_a_worker_after_a_429(app, cycle, telegram):
    linked("aprovadora", "4001")
    for i in range(200):
        events.notify(events.APROVACAO_ATRIBUIDA, events.operators(), text=f"Processo {i} aguarda sua aprovação")
    db.session.commit()
    telegram.answer_next(FakeTelegram.too_many(retry_after=2))
    cycle.start_workers(1)
    get_queue().enqueue("apps.notificacoes.jobs.tick")
    [mensagem] = wait_for(all_sent(1), timeout=30, message="mensagem enviada")
    assert mensagem.status == StatusMensagem.ENVIADA and mensagem.tentativas == 2
    assert mensagem.conteudo == "200 processos aguardam sua aprovação"
    first, second = telegram.received
    assert first["text"] == second["text"] and first["chat_id"] == "4001"
    assert second["at"] - first["at"] >= 1.9  # retry_after honoured (scheduled, not slept)


def test_two_workers_and_repeated_jobs_send_each_message_once(app, cycle, telegram):
    users = [linked(f"u{i}", str(5000 + i)) for i in range(12)]
    for user in users:
        db.session.add(Mensagem(usuario_id=user.id, canal="telegram", destino=f"chat-{user.username}", conteudo="Uma vez só",
                                status=StatusMensagem.PENDENTE, tentativas=0))
    db.session.commit()
    ids = [m.id for m in db.session.scalars(select(Mensagem))]
    for _ in range(3):
        delivery.enqueue(ids)  # a duplicated enqueue, an RQ retry, a reconciler pass: all the same
    cycle.start_workers(2)
    rows = wait_for(all_sent(12), timeout=30, message="12 mensagens enviadas")
    assert {m.status for m in rows} == {StatusMensagem.ENVIADA}
    assert all(m.tentativas == 1 for m in rows)
    assert len(telegram.received) == 12


def test_a_run_that_fails_in_a_worker_tells_its_creator_and_the_admins(app, cycle, sim, processo):
    from apps.processos import services
    from tests.integration.helpers import finished, processo_of

    base_env = cycle.worker_env
    cycle.worker_env = lambda: {**base_env(), "NOTIFICACOES_AGRUPAR_SEGUNDOS": "0"}
    admin, creator = make_user(Role.ADMIN, "chefe"), make_user(Role.OPERADOR, "quem-executou")
    make_user(Role.OPERADOR, "outro")
    sim.set_config(failure_rate=1)
    cycle.start_workers(1)
    execucao = services.executar(processo_of(processo.id), by=creator)
    wait_for(lambda: finished(execucao.id), 15, message="execução terminar")
    wait_for(lambda: db.session.scalar(select(Grupo.id).limit(1)), 10, message="notificação contada pelo worker")
    get_queue().enqueue("apps.notificacoes.jobs.tick")
    rows = wait_for(all_sent(2), timeout=15, message="mensagens Mock enviadas")
    assert {m.usuario_id for m in rows} == {admin.id, creator.id}
    assert all(m.canal == "mock" and m.status == StatusMensagem.ENVIADA and "falhou" in m.conteudo for m in rows)
