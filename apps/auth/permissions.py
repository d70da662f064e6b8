"""The catalogue of permissions (one per thing people are allowed to do) and the built-in roles.

A route names the permission it needs (`@requires("processo.aprovar")`, apps/auth/policy.py); a
role is a named set of these codes. The built-in roles live here, in code, and cannot be edited;
admins make other roles at /papeis (table `papeis`). The help text people read about a role is
generated from its set (`role_summary`), so what it says is what the role can do.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    code: str
    descricao: str   # what it lets a person do, as the role pages say it
    grupo: str


@dataclass(frozen=True)
class BuiltinRole:
    code: str
    nome: str
    descricao: str
    permissions: frozenset


GROUPS = ("Geral", "Processos", "Cadastros", "Robôs e serviços", "Mensagens e artefatos", "Administração")

_CATALOGUE = (
    Permission("painel.ler", "Ver o painel inicial e a documentação da API", "Geral"),
    Permission("papel.ler", "Ver os papéis e o que cada um permite", "Geral"),
    Permission("processo.ler", "Ver processos, execuções, logs, faturas e o agendamento; exportar a lista",
               "Processos"),
    Permission("processo.executar", "Executar e cancelar os robôs de download", "Processos"),
    Permission("processo.enviar_sat", "Executar o envio das faturas aprovadas ao SAT", "Processos"),
    Permission("processo.enviar_faturas", "Enviar faturas manualmente (operadoras sem robô)", "Processos"),
    Permission("processo.aprovar", "Aprovar ou rejeitar faturas", "Processos"),
    Permission("aprovacao.atribuir", "Atribuir e reatribuir aprovações a outras pessoas", "Processos"),
    Permission("lote.executar", "Executar lotes de processos", "Processos"),
    Permission("agenda.gerenciar", "Gerar os processos de uma competência e manter o agendamento mensal",
               "Processos"),
    Permission("cliente.ler", "Ver clientes", "Cadastros"),
    Permission("cliente.gerenciar", "Criar, editar, desativar e reativar clientes", "Cadastros"),
    Permission("cliente.importar", "Importar clientes de um CSV", "Cadastros"),
    Permission("operadora.ler", "Ver operadoras", "Cadastros"),
    Permission("operadora.gerenciar", "Criar, editar, desativar e reativar operadoras", "Cadastros"),
    Permission("operadora.configurar_robo", "Configurar o robô de uma operadora (endereço e credencial)",
               "Cadastros"),
    Permission("robo.ler", "Ver os robôs e sua situação", "Robôs e serviços"),
    Permission("robo.gerenciar", "Cadastrar, editar e desativar robôs", "Robôs e serviços"),
    Permission("servico.executar", "Solicitar serviços no portal", "Robôs e serviços"),
    Permission("servico.gerenciar", "Manter domínios e serviços do portal", "Robôs e serviços"),
    Permission("mensagem.ler", "Ver mensagens e notificações", "Mensagens e artefatos"),
    Permission("mensagem.enviar", "Enviar mensagens", "Mensagens e artefatos"),
    Permission("artefato.ler", "Ver e baixar artefatos das execuções", "Mensagens e artefatos"),
    Permission("artefato.limpar", "Apagar artefatos e aplicar a retenção", "Mensagens e artefatos"),
    Permission("usuario.gerenciar", "Criar, editar e desativar usuários", "Administração"),
    Permission("papel.gerenciar", "Criar, editar e excluir papéis personalizados", "Administração"),
    Permission("token.gerenciar", "Ver, trocar, testar e renovar o token global do RPA", "Administração"),
    Permission("fila.gerenciar", "Ver as filas e reenfileirar ou excluir jobs com falha", "Administração"),
    Permission("auditoria.ler", "Ver e exportar a trilha de auditoria", "Administração"),
)

PERMISSIONS = {p.code: p for p in _CATALOGUE}
assert len(PERMISSIONS) == len(_CATALOGUE) and all(p.grupo in GROUPS for p in _CATALOGUE)

# What every built-in role sees; the help text names only what a role adds to it.
# Messages are not in it: they hold what was said to other people (Admin only).
READ = frozenset({"painel.ler", "papel.ler", "processo.ler", "cliente.ler", "operadora.ler", "robo.ler",
                  "artefato.ler"})
READ_SUMMARY = "ver o painel, processos, clientes, operadoras, robôs e artefatos"

VISUALIZADOR, APROVADOR, OPERADOR, MANTENEDOR, ADMIN = "VISUALIZADOR", "APROVADOR", "OPERADOR", "MANTENEDOR", "ADMIN"

BUILTIN_ROLES = {r.code: r for r in (
    BuiltinRole(VISUALIZADOR, "Visualizador", "Só leitura.", READ),
    BuiltinRole(APROVADOR, "Aprovador", "Leitura e aprovação das faturas.",
                READ | {"processo.aprovar", "servico.executar"}),
    BuiltinRole(OPERADOR, "Operador", "Conduz o ciclo do mês: robôs, faturas, aprovação e clientes.",
                READ | {"processo.executar", "processo.enviar_sat", "processo.enviar_faturas", "processo.aprovar",
                        "lote.executar", "cliente.gerenciar", "cliente.importar", "servico.executar"}),
    BuiltinRole(MANTENEDOR, "Mantenedor", "Mantém os cadastros: clientes, operadoras, robôs, serviços e agenda.",
                READ | {"cliente.gerenciar", "cliente.importar", "operadora.gerenciar", "robo.gerenciar",
                        "servico.gerenciar", "servico.executar", "agenda.gerenciar"}),
    BuiltinRole(ADMIN, "Admin", "Tudo, inclusive usuários, papéis, token global, filas e auditoria.",
                frozenset(PERMISSIONS)),
)}
assert all(r.permissions <= set(PERMISSIONS) for r in BUILTIN_ROLES.values())


def grouped(codes=None):
    """[(grupo, [Permission, ...]), ...] in catalogue order; only `codes` when given."""
    return [(grupo, [p for p in _CATALOGUE if p.grupo == grupo and (codes is None or p.code in codes)])
            for grupo in GROUPS if any(p.grupo == grupo and (codes is None or p.code in codes) for p in _CATALOGUE)]


def role_summary(codes) -> str:
    """What a set of permissions lets a person do, in one sentence generated from the set itself."""
    codes = set(codes)
    reads_all = READ <= codes
    parts = [READ_SUMMARY] if reads_all else []
    parts += [p.descricao[0].lower() + p.descricao[1:] for p in _CATALOGUE
              if p.code in codes and not (reads_all and p.code in READ)]
    if not parts:
        return "Nenhuma permissão."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
