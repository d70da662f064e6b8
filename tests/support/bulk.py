"""Many rows at once, through Core inserts (the factories commit one by one)."""
import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import insert

from apps.clientes.models import Cliente
from apps.core.types import db, utcnow
from apps.processos.models import Fatura, Processo, StatusProcesso
from tests.factories import CNPJ_RANGE, valid_cnpj

_counter = [500_000]


def waiting_many(operadora, n, prefix, competencia="2026-10", total=Decimal("100.00")) -> list:
    """`n` clientes of `operadora`, each with a processo waiting for approval and one fatura; their ids."""
    now = utcnow()
    clientes, processos, faturas = [], [], []
    for i in range(n):
        _counter[0] += 1
        cid, pid = uuid.uuid4(), uuid.uuid4()
        nome = f"{prefix} {i:05d}"
        clientes.append({"id": cid, "nome": nome, "cnpj": valid_cnpj(_counter[0], CNPJ_RANGE), "operadora_id": operadora.id,
                         "ativo": True, "created_at": now, "updated_at": now})
        processos.append({"id": pid, "cliente_id": cid, "competencia": competencia, "cliente_nome": nome,
                          "status": StatusProcesso.AGUARDANDO_APROVACAO, "created_at": now, "updated_at": now})
        faturas.append({"id": uuid.uuid4(), "processo_id": pid, "numero": f"F{i}", "valor": total,
                        "vencimento": date(2026, 11, 10), "arquivo": f"x/{pid.hex}.pdf", "sha256": "0" * 64,
                        "tamanho": 1, "rejeitada": False, "created_at": now, "updated_at": now})
    db.session.execute(insert(Cliente), clientes)
    db.session.execute(insert(Processo), processos)
    db.session.execute(insert(Fatura), faturas)
    db.session.commit()
    return [p["id"] for p in processos]
