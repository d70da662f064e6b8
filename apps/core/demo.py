"""Demo data: the four operators and a few dozen clients with valid CNPJs (both forms).

`python -m apps.core.demo_on_start` is what `make run` calls: it seeds only an empty database (or any
database with DEMO=1), and opens this month only when the schedule would have opened it.
"""
import os
import random
import secrets
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from apps.aprovacoes.tarefas import definir_aprovadores
from apps.auth.models import Role, User
from apps.auth.services import create_user
from apps.clientes.cnpj import check_digits
from apps.clientes.models import Cliente
from apps.core.clock import current_competencia
from apps.core.queues import QueueUnavailable
from apps.core.types import db
from apps.notificacoes import events
from apps.operadoras.models import Operadora
from apps.portal import catalogo
from apps.portal.models import Dominio, Servico
from apps.processos.schedule import due_competencia
from apps.processos.services import enfileirar_downloads, gerar_processos

OPERADORAS = [
    ("VIVO", "Vivo (Telefônica Brasil)", True),
    ("EMBRATEL", "Embratel", True),
    ("OI", "Oi S.A.", True),
    ("DIGITALNET", "DigitalNet Telecom", False),
]
NOMES = ["Padaria", "Transportes", "Clínica", "Construtora", "Supermercado", "Escola", "Farmácia",
         "Metalúrgica", "Hotel", "Laboratório", "Agropecuária", "Advocacia", "Contabilidade", "Logística"]
SOBRENOMES = ["Aurora", "Horizonte", "Boa Vista", "Santa Clara", "Ipiranga", "Paulista", "Atlântico",
              "Serra Azul", "Primavera", "Bandeirantes", "Continental", "Itapuã", "Pampa", "Cerrado"]


def demo_cnpj(rng: random.Random, alphanumeric: bool) -> str:
    """A valid CNPJ; alphanumeric ones use letters in the first 12 characters."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ" if alphanumeric else "0123456789"
    base = "".join(rng.choice(alphabet) for _ in range(8)) + "0001"
    return base + check_digits(base)


def seed_demo(n_clientes: int = 40, seed: int = 2026, now: datetime | None = None) -> dict:
    """Idempotent: existing operadoras and CNPJs are kept; returns what was created.

    This month's processos are opened only when the monthly schedule says it is due (its moment
    has passed and it has not run for this month): the seed never opens a month the scheduler
    would not, and never a second time.
    """
    rng = random.Random(seed)
    created = {"operadoras": 0, "clientes": 0, "processos": 0}
    operadoras = []
    for codigo, nome, possui_rpa in OPERADORAS:
        op = db.session.scalar(select(Operadora).where(Operadora.codigo == codigo))
        if op is None:
            op = Operadora(codigo=codigo, nome=nome, possui_rpa=possui_rpa)
            db.session.add(op)
            created["operadoras"] += 1
        operadoras.append(op)
    db.session.flush()
    existing = set(db.session.scalars(select(Cliente.cnpj)))
    for i in range(n_clientes):
        cnpj = demo_cnpj(rng, alphanumeric=(i % 5 == 4))
        nome = f"{rng.choice(NOMES)} {rng.choice(SOBRENOMES)} {'Ltda' if i % 2 else 'S.A.'}"
        codigo = f"{rng.randint(10**7, 10**8 - 1)}"  # drawn even when skipped: the sequence stays fixed
        if cnpj in existing:
            continue
        existing.add(cnpj)
        db.session.add(Cliente(nome=nome, cnpj=cnpj, codigo=codigo,
                               operadora=operadoras[i % len(operadoras)]))
        created["clientes"] += 1
    created["aprovador"] = seed_aprovador(operadoras)
    db.session.commit()
    created["servicos"] = seed_portal()
    competencia = due_competencia(now)
    if competencia is not None:
        created["processos"] = gerar_processos(competencia)["criados"]
        if created["processos"]:  # as the monthly job does: the demo users see it in /mensagens (Mock)
            events.notify(events.MES_ABERTO, events.operators(), link="/processos",
                          text=f"Competência {competencia} aberta: {created['processos']} processo(s) criado(s).")
            db.session.commit()
    return created


APROVADOR = "aprovador"


def seed_aprovador(operadoras) -> tuple | None:
    """The demo approver (an Operador in every demo operadora's group of approvers): (username, password)
    when created now, None when it existed. The password is DEMO_APROVADOR_PASSWORD, or generated and kept
    in instance/aprovador_password (0600), like the first admin's."""
    user = db.session.scalar(select(User).where(User.username == APROVADOR))
    password = None
    if user is None:
        saved = Path(current_app.config["INSTANCE_DIR"]) / "aprovador_password"
        password = os.environ.get("DEMO_APROVADOR_PASSWORD") or secrets.token_urlsafe(12)
        user = create_user(APROVADOR, "aprovador@example.com", password, role=Role.OPERADOR, nome="Aprovador (demo)")
        if not os.environ.get("DEMO_APROVADOR_PASSWORD"):
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(password + "\n")
            saved.chmod(0o600)
    for op in operadoras:
        ids = {u.id for u in op.aprovadores} | {user.id}
        definir_aprovadores(op, sorted(ids), by=None)
    return (APROVADOR, password) if password else None


def seed_portal() -> int:
    """The portal's demo domínio and its serviços mapped to the simulator's tasks (kept when they exist)."""
    dominio = db.session.scalar(select(Dominio).where(Dominio.slug == catalogo.DOMINIO["slug"]))
    if dominio is None:
        dominio = Dominio(**catalogo.DOMINIO)
        db.session.add(dominio)
        db.session.flush()
    names = set(db.session.scalars(select(Servico.nome).where(Servico.dominio_id == dominio.id)))
    novos = [Servico(dominio_id=dominio.id, ativo=True, **definition) for definition in catalogo.SERVICOS
             if definition["nome"] not in names]
    db.session.add_all(novos)
    db.session.commit()
    return len(novos)


def database_is_empty() -> bool:
    """No operadora and no cliente yet: a fresh install, where demo data is welcome."""
    return (db.session.scalar(select(Operadora.id).limit(1)) is None
            and db.session.scalar(select(Cliente.id).limit(1)) is None)


def wanted(env=os.environ) -> bool:
    """DEMO=1 seeds even a database that already has data."""
    return (env.get("DEMO") or "").strip().lower() in {"1", "true", "yes", "on", "sim"}


def seed_if_empty(force: bool = False, now: datetime | None = None, baixar: bool = False) -> dict | None:
    """seed_demo() on an empty database (or when forced); None when it was left alone. `baixar`: queue the
    opened month's downloads too, so the demo approver finds them in /aprovacoes when the robots finish."""
    if not force and not database_is_empty():
        return None
    created = seed_demo(now=now)
    if baixar and created["processos"]:
        try:
            created["downloads"] = enfileirar_downloads(due_competencia(now) or current_competencia())["enfileiradas"]
        except (QueueUnavailable, ValueError):  # no Redis (or none configured): the month is open; Executar runs it
            created["downloads"] = 0
    return created
