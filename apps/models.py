"""Every model, imported in one place so Alembic and the app see the whole schema."""
from apps.aprovacoes.models import Comentario, TarefaAprovacao, aprovadores  # noqa: F401
from apps.artefatos.models import Artefato  # noqa: F401
from apps.auth.identities import ExternalIdentity  # noqa: F401
from apps.auth.models import Role, User  # noqa: F401
from apps.clientes.importacao import Importacao, ImportacaoErro  # noqa: F401
from apps.clientes.models import Cliente  # noqa: F401
from apps.core.audit import AuditLog  # noqa: F401
from apps.home.models import ExecucaoDia, ExecucaoDuracao, ExecucaoDuracaoFaixa, ExecucaoHora  # noqa: F401
from apps.lotes.models import Lote, LoteLinha  # noqa: F401
from apps.notificacoes.models import Contato, Grupo, Mensagem, Preferencia  # noqa: F401
from apps.operadoras.models import Operadora  # noqa: F401
from apps.portal.models import Dominio, Servico  # noqa: F401
from apps.processos.models import Execucao, ExecucaoLog, Fatura, Processo  # noqa: F401
from apps.robos.models import Robo, RoboVersao, VersaoAtiva  # noqa: F401
