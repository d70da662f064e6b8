"""Helpers of the aprovações tests: approvers, processos waiting for approval, the moved clock, a notify spy."""
from datetime import UTC, datetime
from decimal import Decimal

from apps.aprovacoes import tarefas
from apps.auth.models import Role
from apps.core.types import db
from apps.processos.models import StatusProcesso
from tests.factories import FaturaFactory, ProcessoFactory, UserFactory

SP_OFFSET = 3  # America/Sao_Paulo is UTC-3 (no daylight saving since 2019)


def at(year, month, day, hour=10, minute=0) -> datetime:
    """A local São Paulo moment as an aware UTC datetime."""
    return datetime(year, month, day, hour + SP_OFFSET, minute, tzinfo=UTC)


class Clock:
    """The approval clock, moved by tests (apps.aprovacoes.prazo.agora reads it)."""

    def __init__(self, monkeypatch, now):
        self.now = now
        monkeypatch.setattr("apps.aprovacoes.prazo.utcnow", lambda: self.now)

    def set(self, now):
        self.now = now


def make_clock(monkeypatch) -> Clock:
    return Clock(monkeypatch, at(2026, 10, 30))  # a Friday; Monday 2 Nov is Finados


def spy_notify(monkeypatch) -> list:
    """Every notify call: (event, [usernames], text, link)."""
    calls = []

    def spy(event, users, *, text, link=None):
        calls.append((event, sorted(u.username for u in users), text, link))

    monkeypatch.setattr("apps.notificacoes.events.notify", spy)
    return calls


def approver(username, role=Role.OPERADOR, ausente_ate=None):
    user = UserFactory(username=username, role=role)
    if ausente_ate is not None:
        user.ausente_ate = ausente_ate
        db.session.commit()
    return user


def group(operadora, *users):
    tarefas.definir_aprovadores(operadora, [u.id for u in users], by=None)
    db.session.commit()


def waiting(operadora, nome=None, total="100.00", competencia="2026-10", open_task=True, **fields):
    """A processo of `operadora` waiting for approval with one fatura of `total`; its task opened unless told."""
    kwargs = {"cliente__operadora": operadora, "competencia": competencia, "status": StatusProcesso.AGUARDANDO_APROVACAO}
    if nome:
        kwargs["cliente__nome"] = nome
    processo = ProcessoFactory(**kwargs, **fields)
    FaturaFactory(processo=processo, valor=Decimal(total), numero=f"F-{competencia}")
    if open_task:
        tarefas.abrir([processo.id])
        db.session.commit()
    return processo


def history(cliente, competencia, total):
    """A past month of the cliente, with its invoices (approved and sent)."""
    processo = ProcessoFactory(cliente=cliente, competencia=competencia, status=StatusProcesso.UPLOAD_REALIZADO)
    FaturaFactory(processo=processo, valor=Decimal(total), numero=f"H-{competencia}")
    return processo
