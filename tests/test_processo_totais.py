"""processo_totais, the counts the processo list and the dashboard read, stay equal to the processos
whatever writes them (triggers, on both databases), and the list's sort key follows a renamed cliente."""
import threading
import time

import pytest
from sqlalchemy import delete, select, text, update

from apps.clientes import services as clientes_services
from apps.core.types import db
from apps.processos import services, state, totais
from apps.processos.models import Processo, ProcessoTotal
from apps.processos.models import StatusProcesso as S
from tests.conftest import USING_POSTGRES
from tests.test_state_machine import make_cliente, make_operadora, make_processo


def stored() -> dict:
    return {(c, s, o): n for c, s, o, n in db.session.execute(
        select(ProcessoTotal.competencia, ProcessoTotal.status, ProcessoTotal.operadora_id, ProcessoTotal.total)
        .where(ProcessoTotal.total != 0))}


def counted() -> dict:
    return {(c, s, o): n for c, s, o, n in db.session.execute(totais.actual())}


def assert_in_step():
    db.session.expire_all()
    assert stored() == counted()


def test_the_months_insert_select_and_single_inserts_are_counted(app):
    vivo, oi = make_operadora("VIVO"), make_operadora("OI")
    for _ in range(3):
        make_cliente(operadora=vivo)
    make_cliente(operadora=oi)
    make_cliente(operadora=oi, ativo=False)
    db.session.commit()
    assert services.gerar_processos("2026-05")["criados"] == 4
    assert services.gerar_processos("2026-05")["criados"] == 0  # nothing counted twice either
    make_processo(competencia="2026-04", cliente=make_cliente(operadora=oi))
    assert_in_step()
    assert totais.total("2026-05") == 4
    assert totais.total("2026-05", operadora_id=vivo.id) == 3
    assert totais.total("2026-05", status=S.AGUARDANDO_APROVACAO) == 0
    assert totais.by_status("2026-05") == {S.AGUARDANDO_DOWNLOAD: 4, S.AGUARDANDO_APROVACAO: 0,
                                           S.AGUARDANDO_ENVIO_SAT: 0, S.UPLOAD_REALIZADO: 0}
    assert totais.total() == 5
    assert totais.competencias() == ["2026-05", "2026-04"]


def test_status_moves_are_counted_out_of_one_status_and_into_the_next(app, users):
    processo = make_processo(status=S.AGUARDANDO_DOWNLOAD)
    other = make_processo(status=S.AGUARDANDO_APROVACAO)
    state.move(processo, "download_concluido")
    db.session.commit()
    state.move(other, "rejeitar", by=users["OPERADOR"], comentario="fatura errada")
    db.session.commit()
    assert_in_step()
    assert totais.total("2026-05", status=S.AGUARDANDO_APROVACAO) == 1
    assert totais.total("2026-05", status=S.AGUARDANDO_DOWNLOAD) == 1
    # An update that changes no counted column leaves the counts alone.
    db.session.execute(update(Processo).values(protocolo_sat="SAT-1"))
    db.session.commit()
    assert_in_step()


def test_a_cliente_moved_to_another_operadora_takes_its_counts_along(app, users):
    vivo, oi = make_operadora("VIVO"), make_operadora("OI")
    cliente = make_cliente(operadora=vivo)
    make_processo(competencia="2026-04", cliente=cliente, status=S.UPLOAD_REALIZADO)
    make_processo(competencia="2026-05", cliente=cliente)
    make_processo(competencia="2026-05", cliente=make_cliente(operadora=vivo))
    clientes_services.update_cliente(cliente, {"operadora_id": str(oi.id)}, by=users["ADMIN"])
    assert_in_step()
    assert totais.total("2026-05", operadora_id=oi.id) == 1
    assert totais.total("2026-05", operadora_id=vivo.id) == 1
    assert totais.total("2026-04", operadora_id=oi.id) == 1


def test_deleted_processos_are_counted_out(app):
    make_processo()
    gone = make_processo()
    db.session.execute(delete(Processo).where(Processo.id == gone.id))
    db.session.commit()
    assert_in_step()
    assert totais.total("2026-05") == 1


def test_recount_rebuilds_counts_that_went_wrong(app):
    make_processo()
    make_processo(status=S.AGUARDANDO_ENVIO_SAT)
    db.session.execute(update(ProcessoTotal).values(total=42))
    db.session.commit()
    assert totais.total() == 84
    assert totais.recount() == 2
    assert_in_step()


def test_a_renamed_cliente_is_renamed_in_its_processos(app, users, login):
    cliente = make_cliente(nome="Zeta Comércio")
    renamed = make_processo(cliente=cliente)
    updated_at = renamed.updated_at
    make_processo(cliente=make_cliente(nome="Beta Serviços"))
    assert db.session.scalar(select(Processo.cliente_nome).where(Processo.cliente_id == cliente.id)) == "Zeta Comércio"
    clientes_services.update_cliente(cliente, {"nome": "Alfa Comércio"}, by=users["ADMIN"])
    db.session.expire_all()
    assert db.session.scalar(select(Processo.cliente_nome).where(Processo.cliente_id == cliente.id)) == "Alfa Comércio"
    assert db.session.get(Processo, renamed.id).updated_at == updated_at  # the processo itself did not change
    body = login(users["VISUALIZADOR"]).get("/processos?competencia=2026-05").get_data(as_text=True)
    assert body.index("Alfa Comércio") < body.index("Beta Serviços")


@pytest.mark.skipif(not USING_POSTGRES, reason="SQLite has one writer at a time: no row locks to order")
def test_opposite_moves_at_the_same_moment_neither_deadlock_nor_lose_a_count(app):
    """Downloads done (AGUARDANDO_DOWNLOAD → APROVACAO) and rejections (APROVACAO → DOWNLOAD) in the
    same operadora and month, at the same moment, each transaction held open a while after its update:
    every statement takes its counter rows in one order, so all of them commit (no deadlock error)."""
    vivo = make_operadora("VIVO")
    moves = [(make_processo(status=S.AGUARDANDO_DOWNLOAD, operadora=vivo).id, S.AGUARDANDO_APROVACAO)
             for _ in range(4)]
    moves += [(make_processo(status=S.AGUARDANDO_APROVACAO, operadora=vivo).id, S.AGUARDANDO_DOWNLOAD)
              for _ in range(4)]
    engine, barrier, errors = db.engine, threading.Barrier(len(moves)), []

    def move(processo_id, target):
        try:
            with engine.begin() as conn:
                barrier.wait(10)
                conn.execute(update(Processo).where(Processo.id == processo_id).values(status=target))
                time.sleep(0.3)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=pair) for pair in moves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert_in_step()
    assert totais.total("2026-05", status=S.AGUARDANDO_DOWNLOAD) == 4


def test_the_triggers_exist_after_the_migrations(app):
    if USING_POSTGRES:
        names = set(db.session.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
    else:
        names = set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
    assert {"trg_processos_totais_insert", "trg_processos_totais_update", "trg_processos_totais_delete",
            "trg_clientes_totais_operadora"} <= names
