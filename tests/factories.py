"""Test data: one factory_boy factory per model, committed through the app's session.

Each factory commits, as the helpers it replaced did, so what a test makes is visible to the
requests, threads and worker processes it then starts. Sequences keep CNPJs, names and usernames
unique across the session; the CNPJs live in their own range (770…) so they never meet the
`cnpj_for(n)` numbers tests type by hand.
"""
from datetime import date, timedelta
from decimal import Decimal

import factory
from factory.alchemy import SQLAlchemyModelFactory

from apps.auth.models import Role, User
from apps.auth.services import create_user
from apps.clientes.cnpj import check_digits
from apps.clientes.models import Cliente
from apps.core.types import db, utcnow
from apps.operadoras.models import Operadora
from apps.processos import storage
from apps.processos.models import Execucao, ExecucaoLog, Fatura, Processo, StatusExecucao, StatusProcesso, TipoExecucao
from apps.robos.models import Robo, StatusRobo

PASSWORD = "Senha-de-Teste-9"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
CNPJ_RANGE = 77_000_000


def valid_cnpj(n: int, first=0) -> str:
    """A valid 14-digit CNPJ from a number: base `first + n`, branch 0001, computed check digits."""
    base = f"{first + n:08d}0001"
    return base + check_digits(base)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session = db.session
        sqlalchemy_session_persistence = "commit"


class OperadoraFactory(BaseFactory):
    """An operadora with a robot; an existing `codigo` is reused, as one code is one operadora."""

    class Meta:
        model = Operadora
        sqlalchemy_get_or_create = ("codigo",)

    class Params:
        # An outsourced robot at a public address (tests resolve robo.exemplo.com.br to a public IP).
        terceirizada = factory.Trait(rpa_terceirizado=True, url_endpoint_rpa="https://robo.exemplo.com.br/api")

    codigo = "VIVO"
    nome = factory.LazyAttribute(lambda o: o.codigo.title())
    possui_rpa = True

    @factory.post_generation
    def clientes(operadora, create, extracted, **fields):
        """OperadoraFactory(clientes=3): also that many of its clientes, named "<codigo> 0", "<codigo> 1"…"""
        for i in range(extracted or 0):
            ClienteFactory(operadora=operadora, nome=f"{operadora.codigo} {i}", **fields)


class ClienteFactory(BaseFactory):
    class Meta:
        model = Cliente

    nome = factory.Sequence(lambda n: f"Cliente {n:04d}")
    cnpj = factory.Sequence(lambda n: valid_cnpj(n, CNPJ_RANGE))
    operadora = factory.SubFactory(OperadoraFactory)


class ProcessoFactory(BaseFactory):
    class Meta:
        model = Processo

    cliente = factory.SubFactory(ClienteFactory)
    competencia = "2026-05"
    status = StatusProcesso.AGUARDANDO_DOWNLOAD


class ExecucaoFactory(BaseFactory):
    """A run that started three minutes ago and, unless active, took 65 s.

    `fim` (with `segundos`, default 60) dates a finished run instead: it ended at `fim` after
    `segundos`, and was created five seconds before it started.
    """

    class Meta:
        model = Execucao

    class Params:
        fim = None
        segundos = 60.0

    processo = factory.SubFactory(ProcessoFactory)
    tipo = TipoExecucao.DOWNLOAD
    status = StatusExecucao.FALHOU
    job_id = None
    data_inicio = factory.LazyAttribute(
        lambda o: o.fim - timedelta(seconds=o.segundos) if o.fim else utcnow() - timedelta(minutes=3))
    data_fim = factory.LazyAttribute(
        lambda o: o.fim or (None if o.status in StatusExecucao.ACTIVE else o.data_inicio + timedelta(seconds=65)))
    created_at = factory.Maybe(
        "fim", yes_declaration=factory.LazyAttribute(lambda o: o.fim - timedelta(seconds=o.segundos + 5)))


class ExecucaoLogFactory(BaseFactory):
    class Meta:
        model = ExecucaoLog

    execucao = factory.SubFactory(ExecucaoFactory, status=StatusExecucao.EXECUTANDO)
    seq = factory.Sequence(lambda n: n + 1)
    level = "INFO"
    message = factory.LazyAttribute(lambda o: f"linha {o.seq}")

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        execucao = kwargs.pop("execucao")  # the log has a column, not a relationship
        kwargs.setdefault("execucao_id", execucao.id)
        return kwargs


class FaturaFactory(BaseFactory):
    """An invoice whose PDF (`data`) is stored the way the app stores it (storage.save)."""

    class Meta:
        model = Fatura

    class Params:
        data = PDF

    processo = factory.SubFactory(ProcessoFactory)
    numero = "F-1"
    valor = Decimal("123.45")
    vencimento = date(2026, 6, 10)
    emissao = date(2026, 5, 20)
    arquivo = factory.LazyAttribute(lambda o: storage.save(o.processo.id, o.data))
    sha256 = factory.LazyAttribute(lambda o: storage.sha256_hex(o.data))
    tamanho = factory.LazyAttribute(lambda o: len(o.data))

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        kwargs["valor"] = Decimal(str(kwargs["valor"]))  # tests write amounts as text: "1234.5"
        return kwargs


class RoboFactory(BaseFactory):
    """A connected robot serving every tag (`*`), seen a moment ago; `url` defaults to a unique public name."""

    class Meta:
        model = Robo

    nome = factory.Sequence(lambda n: f"robo-{n:03d}")
    url = factory.Sequence(lambda n: f"https://robo{n}.exemplo.com.br")
    tags = "*"
    capacidade = 2
    status = StatusRobo.DISPONIVEL
    ultimo_contato = factory.LazyFunction(utcnow)


class UserFactory(BaseFactory):
    """An active user made by the app's own create_user (password rules, hashing, audit entry)."""

    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"usuario{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = Role.VISUALIZADOR
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, username, email, role, password, **fields):
        user = create_user(username, email, password, role=role, **fields)
        db.session.commit()
        return user
