"""Fast bench loads: N clientes in one INSERT … SELECT over a counting CTE (no ORM objects, no rows built
in Python), so a million clientes load in seconds on SQLite and PostgreSQL alike."""
from sqlalchemy import BigInteger, String, case, cast, func, insert, literal, select

from apps.clientes.models import Cliente
from apps.core.types import db, utcnow

BASE = 10_000_000  # the nome's number has 8 digits up to 89,999,999 clientes: text order is number order


def _uuid():
    if db.engine.dialect.name == "postgresql":
        return func.gen_random_uuid()
    return func.lower(func.hex(func.randomblob(16)))


def add_clientes(start: int, stop: int, operadora_ids: list) -> None:
    """Clientes number start … stop-1: nome 'Cliente 1000000<n>', its search key, CNPJ and codigo from the
    number, operadora by n modulo the operadoras (as the ORM's bench loads did), all active."""
    if stop <= start:
        return
    numbers = select(literal(start).label("n")).cte("numeros", recursive=True)
    numbers = numbers.union_all(select(numbers.c.n + 1).where(numbers.c.n < stop - 1))
    n = numbers.c.n
    number = cast(n + BASE, String)
    operadora = case(*((n % len(operadora_ids) == k, literal(op, type_=Cliente.operadora_id.type))
                       for k, op in enumerate(operadora_ids)))
    now = literal(utcnow(), type_=Cliente.created_at.type)
    source = select(_uuid(), literal("Cliente ") + number, literal("cliente ") + number,
                    cast(cast(n, BigInteger) + literal(10 ** 13, BigInteger), String), cast(n, String), operadora, literal(True),
                    now, now)
    columns = ["id", "nome", "nome_busca", "cnpj", "codigo", "operadora_id", "ativo", "created_at", "updated_at"]
    db.session.execute(insert(Cliente.__table__).from_select(columns, source))
    db.session.commit()
