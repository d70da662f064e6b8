from datetime import timedelta
from apps.core.types import db, utcnow
from apps.processos.models import Execucao, StatusExecucao
from tests.test_state_machine import make_execucao, make_processo
from apps.rpa.jobs import reconcile
from sqlalchemy import select

def test_x(app):
    lost = make_execucao(make_processo(), status=StatusExecucao.PENDENTE)
    print(db.session.scalars(select(Execucao.status, Execucao.created_at)).all() if False else db.session.execute(select(Execucao.status, Execucao.created_at, Execucao.updated_at)).all())
    with app.app_context():
        print(db.session.execute(select(Execucao.status, Execucao.created_at)).all())
        print(reconcile())
