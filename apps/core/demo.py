"""Demo data: the four operators and a few dozen clients with valid CNPJs (both forms)."""
import random

from sqlalchemy import select

from apps.clientes.cnpj import check_digits
from apps.clientes.models import Cliente
from apps.core.clock import current_competencia
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos.services import gerar_processos

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


def seed_demo(n_clientes: int = 40, seed: int = 2026) -> dict:
    """Idempotent: existing operadoras and CNPJs are kept; returns what was created."""
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
    db.session.commit()
    result = gerar_processos(current_competencia())
    created["processos"] = result["criados"]
    return created
