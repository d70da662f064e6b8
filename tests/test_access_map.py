"""Walk the URL map: every route names its permission, and every built-in role gets exactly what its set says."""
import uuid

import pytest

from apps.auth import roles
from apps.auth.models import Role
from apps.auth.permissions import BUILTIN_ROLES, PERMISSIONS
from apps.auth.policy import MARKERS, PUBLIC, SIGNED_IN, view_permissions
from apps.core.errors import BEARER_ONLY
from apps.core.types import db
from tests.conftest import PASSWORD, make_user

# Endpoints pinned here, so a route whose permission is changed by mistake fails. Every route of today is
# pinned (the catalogue names what each does); a new route must be added here with its permission.
PINNED = {
    "auth.login": PUBLIC, "auth.logout": SIGNED_IN,
    "auth.users": "usuario.gerenciar", "auth.user_create": "usuario.gerenciar", "auth.user_edit": "usuario.gerenciar",
    "auth.user_reset_password": "usuario.gerenciar", "auth.user_deactivate": "usuario.gerenciar",
    "auth.papeis": "papel.ler", "auth.papel_create": "papel.gerenciar", "auth.papel_edit": "papel.gerenciar",
    "auth.papel_delete": "papel.gerenciar",
    "home.index": "painel.ler", "home.dados": "painel.ler", "home.filas": "fila.gerenciar",
    "home.filas_requeue": "fila.gerenciar", "home.filas_requeue_all": "fila.gerenciar",
    "home.filas_delete": "fila.gerenciar",
    "auditoria.list": "auditoria.ler", "auditoria.export": "auditoria.ler",
    "rpa.token": "token.gerenciar", "rpa.token_refresh": "token.gerenciar", "rpa.token_test": "token.gerenciar",
    "operadoras.list": "operadora.ler", "operadoras.create": "operadora.gerenciar",
    "operadoras.edit": "operadora.gerenciar", "operadoras.deactivate": "operadora.gerenciar",
    "operadoras.reactivate": "operadora.gerenciar",
    "clientes.list": "cliente.ler", "clientes.create": "cliente.gerenciar", "clientes.edit": "cliente.gerenciar",
    "clientes.deactivate": "cliente.gerenciar", "clientes.reactivate": "cliente.gerenciar",
    "clientes.importar": "cliente.importar", "clientes.importar_previa": "cliente.importar",
    "clientes.importar_previa_relatorio": "cliente.importar", "clientes.importar_confirmar": "cliente.importar",
    "clientes.importacao": "cliente.importar", "clientes.importacao_json": "cliente.importar",
    "clientes.importacao_relatorio": "cliente.importar",
    "processos.list": "processo.ler", "processos.detail": "processo.ler", "processos.fragmento": "processo.ler",
    "processos.ao_vivo": "processo.ler", "processos.fatura_pdf": "processo.ler",
    "processos.em_execucao": "processo.ler", "processos.exportar": "processo.ler",
    "processos.agendamentos": "processo.ler", "processos.agendamentos_executar": "agenda.gerenciar",
    "processos.cancelar_execucao": "processo.executar",
    "processos.executar": {"processo.executar", "processo.enviar_sat"},
    "processos.aprovar": "processo.aprovar", "processos.rejeitar": "processo.aprovar",
    "processos.enviar_faturas": "processo.enviar_faturas",
    "processos.bulk": {"processo.aprovar", "processo.executar", "processo.enviar_sat"},
    "processos.reexecutar_falhas_confirmar": {"processo.executar", "processo.enviar_sat"},
    "processos.reexecutar_falhas": {"processo.executar", "processo.enviar_sat"},
    "realtime.stream_logs": "processo.ler", "realtime.stream_execucoes": "processo.ler",
    "realtime.log_txt": "processo.ler", "realtime.em_execucao_fragmento": "processo.ler",
    "api.auth_token": PUBLIC, "api.auth_refresh": PUBLIC, "api.auth_revogar_tokens": SIGNED_IN,
    "api.openapi": PUBLIC, "api.docs": "painel.ler",
    "api.api_usuarios_list": "usuario.gerenciar", "api.api_usuarios_create": "usuario.gerenciar",
    "api.api_usuario_get": "usuario.gerenciar", "api.api_usuario_update": "usuario.gerenciar",
    "api.api_permissoes_list": "papel.ler", "api.api_papeis_list": "papel.ler", "api.api_papel_get": "papel.ler",
    "api.api_papeis_create": "papel.gerenciar", "api.api_papel_update": "papel.gerenciar",
    "api.api_papel_delete": "papel.gerenciar",
    "api.operadoras_list": "operadora.ler", "api.operadoras_get": "operadora.ler",
    "api.operadoras_create": "operadora.gerenciar", "api.operadoras_update": "operadora.gerenciar",
    "api.operadoras_delete": "operadora.gerenciar",
    "api.clientes_list": "cliente.ler", "api.clientes_get": "cliente.ler", "api.clientes_create": "cliente.gerenciar",
    "api.clientes_update": "cliente.gerenciar", "api.clientes_delete": "cliente.gerenciar",
    "api.clientes_importar": "cliente.importar", "api.clientes_importacao": "cliente.importar",
    "api.api_processos_gerar": "agenda.gerenciar", "api.api_processos_list": "processo.ler",
    "api.api_processo_get": "processo.ler", "api.api_processo_executar": {"processo.executar", "processo.enviar_sat"},
    "api.api_processo_aprovar": "processo.aprovar", "api.api_processo_rejeitar": "processo.aprovar",
    "api.api_processos_acoes": {"processo.aprovar", "processo.executar", "processo.enviar_sat"},
    "api.api_processos_reexecutar_falhas": {"processo.executar", "processo.enviar_sat"},
    "api.api_processos_exportar": "processo.ler",
    "api.api_processo_faturas": "processo.ler", "api.api_fatura_pdf": "processo.ler",
    "api.api_processo_enviar_faturas": "processo.enviar_faturas",
    "api.api_execucoes_list": "processo.ler", "api.api_execucao_get": "processo.ler",
    "api.api_execucao_logs": "processo.ler", "api.api_execucao_cancelar": "processo.executar",
    "api.logs_v2_atualizar_status": "processo.executar", "api.logs_v2_status_job": "processo.ler",
    "api.logs_v2_teste_conexao": "processo.ler",
    "api.api_token_global_get": "token.gerenciar", "api.api_token_global_put": "token.gerenciar",
    "api.api_token_global_renovar": "token.gerenciar", "api.api_token_global_testar": "token.gerenciar",
    "api.api_auditoria_list": "auditoria.ler",
    "healthz": PUBLIC, "readyz": PUBLIC, "metrics": PUBLIC,
    # Notificações: each person's own profile; messages (what was said to others) are an Admin's.
    **{f"notificacoes.{name}": SIGNED_IN for name in ("perfil", "perfil_contatos", "perfil_preferencias",
                                                       "perfil_telegram_codigo", "perfil_telegram_desligar",
                                                       "perfil_webhook_segredo")},
    "notificacoes.mensagens": "mensagem.ler", "api.api_mensagens_list": "mensagem.ler",
    "api.api_mensagens_send": "mensagem.enviar",
    "notificacoes.telegram_webhook": PUBLIC, "notificacoes.whatsapp_webhook": PUBLIC,  # each checks its own proof
    # Aprovações: approving is the work; reassigning someone else's is aprovacao.atribuir.
    **{f"aprovacoes.{name}": "processo.aprovar" for name in ("inbox", "revisar", "aprovar", "rejeitar", "assumir",
                                                              "confirmar", "aprovar_selecionados", "comentar")},
    "aprovacoes.atribuir": "aprovacao.atribuir",
    "api.api_aprovacoes_list": "processo.aprovar", "api.api_aprovacao_atribuir": "processo.aprovar",
    "api.api_comentarios_list": "processo.ler", "api.api_comentarios_create": "processo.aprovar",
    # Robôs
    "robos.list": "robo.ler", "robos.fragmento": "robo.ler", "api.robos_list": "robo.ler", "api.robos_get": "robo.ler",
    **{f"robos.{name}": "robo.gerenciar" for name in ("create", "edit", "delete", "activate", "deactivate", "drain",
                                                       "versao_ativa")},
    **{f"api.robos_{name}": "robo.gerenciar" for name in ("create", "update", "delete", "drain", "versao_ativa")},
    # Lotes
    **{f"lotes.{name}": "processo.ler" for name in ("list", "detalhe", "progresso", "relatorio", "modelo")},
    **{f"lotes.{name}": "lote.executar" for name in ("novo", "previa", "previa_erros", "confirmar")},
    "api.lotes_criar": "lote.executar", "api.lotes_detalhe": "processo.ler", "api.lotes_lista": "processo.ler",
    # Artefatos (and the processo's own access, checked inside)
    "artefatos.download": "artefato.ler", "api.api_artefato_download": "artefato.ler",
    "api.api_execucao_artefatos": "artefato.ler",
    # Portal de serviços (and each serviço's own papeis, checked inside)
    **{f"portal.{name}": "servico.executar" for name in ("index", "solicitar", "solicitacoes", "clientes", "execucao", "ao_vivo",
                                                          "cancelar")},
    **{f"portal.{name}": "servico.gerenciar" for name in ("dominios", "dominio_editar", "servicos", "servico_novo",
                                                           "servico_editar")},
    **{f"api.api_{name}": "servico.executar" for name in ("dominios_list", "servicos_list", "servicos_get",
                                                           "servicos_executar", "servicos_execucoes")},
    **{f"api.api_{name}": "servico.gerenciar" for name in ("dominios_create", "servicos_create", "servicos_update")},
    # Sign-in with a provider; GraphQL (each field checks its own permission)
    "auth.oidc_login": PUBLIC, "auth.oidc_callback": PUBLIC, "auth.github_login": PUBLIC, "auth.github_callback": PUBLIC,
    "graphql_api.graphql": "painel.ler", "graphql_api.graphiql": "painel.ler",
}
# Public to the session policy but guarded by a token of their own: refused to every role without it.
OWN_GUARD = {"metrics"}
# Would end the session (or revoke the token) used for the rest of the walk.
SKIP = {"auth.logout", "api.auth_revogar_tokens"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule


def _url(rule):
    values = {arg: str(uuid.uuid4()) for arg in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def _needed(app, endpoint):
    with app.test_request_context():
        return view_permissions(endpoint)


def _as_set(pinned):
    return {pinned} if isinstance(pinned, str) else set(pinned)


def test_every_route_names_known_permissions(app):
    bad = {r.endpoint: _needed(app, r.endpoint) for r in _routes(app)
           if not _needed(app, r.endpoint) or not _needed(app, r.endpoint) <= set(PERMISSIONS) | set(MARKERS)}
    assert bad == {}, f"rotas sem @requires(...) válido: {bad}"


def test_a_view_without_a_permission_is_refused(app, users, login, monkeypatch):
    """Fail closed: a view that names no permission answers 403, even to an Admin."""
    def sem_regra():
        return "aberta"

    monkeypatch.setitem(app.view_functions, "processos.list", sem_regra)
    response = login(users[Role.ADMIN]).get("/processos")
    assert response.status_code == 403
    assert "aberta" not in response.get_data(as_text=True)


def test_pinned_permissions(app):
    for endpoint, pinned in PINNED.items():
        assert _needed(app, endpoint) == _as_set(pinned), endpoint


def test_every_route_is_pinned(app):
    """A new route names its permission and is pinned here: none is accepted silently."""
    unpinned = sorted(r.endpoint for r in _routes(app) if r.endpoint not in PINNED)
    assert unpinned == [], f"rotas sem permissão fixada em PINNED: {unpinned}"


def _allowed(granted, needed):
    """`granted`: None for nobody, else the set of permissions the caller's role holds."""
    if PUBLIC in needed:
        return True
    if granted is None:
        return False
    return SIGNED_IN in needed or bool(needed & granted)


def _walk(app, user, granted):
    """Open every route as `user` (session for pages, Bearer for API v1): allowed → not 401/403, refused → 403."""
    client = app.test_client()
    headers = {}
    if user is not None:
        response = client.post("/login", data={"login": user.username, "password": PASSWORD})
        assert response.status_code == 302
        token = client.post("/api/v1/auth/token", json={"username": user.username,
                                                        "password": PASSWORD}).get_json()["access"]
        headers = {"Authorization": f"Bearer {token}"}
    checked = refused = 0
    for rule in _routes(app):
        if rule.endpoint in SKIP:
            continue
        needed = _needed(app, rule.endpoint)
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        url = _url(rule)
        kwargs = {"headers": headers} if url.startswith(BEARER_ONLY) else {}
        response = client.open(url, method=method, buffered=False, **kwargs)
        status = response.status_code
        response.close()
        who = user.role if user is not None else "anônimo"
        if rule.endpoint in OWN_GUARD:
            assert status in (401, 403), f"{rule.endpoint} sem o token próprio: {status}"
        elif _allowed(granted, needed):
            assert status not in (401, 403), f"{who} deveria acessar {method} {url} ({rule.endpoint}): {status}"
        elif user is None:
            assert status in (302, 401), f"anônimo em {method} {url}: {status}"
            if status == 302:
                assert "/login" in response.headers["Location"]
        else:
            assert status == 403, f"{who} não deveria acessar {method} {url} ({rule.endpoint}): {status}"
            refused += 1
        checked += 1
    assert checked >= 100
    return refused


@pytest.mark.parametrize("role", [None, *Role.ALL])
def test_each_built_in_role_is_refused_exactly_where_its_permissions_say(app, users, role):
    refused = _walk(app, users[role] if role else None, BUILTIN_ROLES[role].permissions if role else None)
    assert (refused > 0) == (role not in (None, Role.ADMIN)), f"{role} recusado em {refused} rotas"


def test_a_custom_role_is_refused_exactly_where_its_set_says(app):
    """The same walk for a role made at /papeis: a set no built-in role has (no painel.ler, a token but no users)."""
    granted = ["processo.ler", "processo.aprovar", "cliente.importar", "token.gerenciar", "auditoria.ler"]
    roles.create_papel("AUDITOR_TOKEN", "Auditor do token", None, granted)
    db.session.commit()
    refused = _walk(app, make_user("AUDITOR_TOKEN", username="auditor"), frozenset(granted))
    assert refused > 20
