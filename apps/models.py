"""Every model, imported in one place so Alembic and the app see the whole schema."""
from apps.auth.models import Role, User  # noqa: F401
from apps.clientes.importacao import Importacao, ImportacaoErro  # noqa: F401
from apps.clientes.models import Cliente  # noqa: F401
from apps.core.audit import AuditLog  # noqa: F401
from apps.lotes.models import Lote, LoteLinha  # noqa: F401
from apps.operadoras.models import Operadora  # noqa: F401
from apps.processos.models import Execucao, ExecucaoLog, Fatura, Processo  # noqa: F401
