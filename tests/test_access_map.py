"""Walk the URL map: every route declares an access level, and every role gets what it should."""
import uuid

import pytest

from apps.auth.models import Role
from apps.auth.policy import ADMIN, LEVELS, OPERATE, PUBLIC, VIEW, view_level
from apps.core.errors import BEARER_ONLY

# Sensitive endpoints pinned here, so a route whose level is lowered by mistake fails.
PINNED = {
    "auth.users": ADMIN, "auth.user_create": ADMIN, "auth.user_edit": ADMIN,
    "auth.user_reset_password": ADMIN, "auth.user_deactivate": ADMIN,
    "rpa.token": ADMIN, "auth.login": PUBLIC, "api.auth_token": PUBLIC, "api.auth_refresh": PUBLIC,
    "home.index": VIEW, "home.dados": VIEW, "home.filas": ADMIN, "home.filas_requeue": ADMIN,
    "home.filas_requeue_all": ADMIN, "home.filas_delete": ADMIN, "auditoria.list": ADMIN,
    "healthz": PUBLIC, "readyz": PUBLIC, "metrics": PUBLIC,
    "notificacoes.perfil": VIEW, "notificacoes.perfil_preferencias": VIEW, "notificacoes.mensagens": ADMIN,
    "api.api_mensagens_list": ADMIN, "api.api_mensagens_send": ADMIN,
    "notificacoes.telegram_webhook": PUBLIC, "notificacoes.whatsapp_webhook": PUBLIC,  # each checks its own proof
    "aprovacoes.inbox": OPERATE, "aprovacoes.revisar": OPERATE, "aprovacoes.aprovar": OPERATE,
    "aprovacoes.rejeitar": OPERATE, "aprovacoes.assumir": OPERATE, "aprovacoes.atribuir": ADMIN,
    "aprovacoes.confirmar": OPERATE, "aprovacoes.aprovar_selecionados": OPERATE, "aprovacoes.comentar": OPERATE,
    "api.api_aprovacoes_list": OPERATE, "api.api_aprovacao_atribuir": OPERATE, "api.api_comentarios_list": VIEW,
    "api.api_comentarios_create": OPERATE,
    # Robôs: everyone with view rights sees them; only an Admin changes the registry.
    "robos.list": VIEW, "robos.fragmento": VIEW, "api.robos_list": VIEW, "api.robos_get": VIEW,
    **{f"robos.{name}": ADMIN for name in ("create", "edit", "delete", "activate", "deactivate", "drain", "versao_ativa")},
    **{f"api.robos_{name}": ADMIN for name in ("create", "update", "delete", "drain", "versao_ativa")},
    "artefatos.download": VIEW, "api.api_artefato_download": VIEW, "api.api_execucao_artefatos": VIEW,
    "portal.index": VIEW, "portal.solicitar": VIEW, "portal.solicitacoes": VIEW, "portal.execucao": VIEW,
    "portal.ao_vivo": VIEW, "portal.cancelar": OPERATE, "portal.dominios": ADMIN, "portal.dominio_editar": ADMIN,
    "portal.servicos": ADMIN, "portal.servico_novo": ADMIN, "portal.servico_editar": ADMIN,
    "api.api_dominios_list": VIEW, "api.api_dominios_create": ADMIN, "api.api_servicos_list": VIEW,
    "api.api_servicos_create": ADMIN, "api.api_servicos_get": VIEW, "api.api_servicos_update": ADMIN,
    "api.api_servicos_executar": VIEW, "api.api_servicos_execucoes": VIEW,
    "auth.oidc_login": PUBLIC, "auth.oidc_callback": PUBLIC, "auth.github_login": PUBLIC,
    "auth.github_callback": PUBLIC,
    # Lotes: anyone signed in follows them; creating one (page or API) is an Operador's.
    "lotes.list": VIEW, "lotes.detalhe": VIEW, "lotes.progresso": VIEW, "lotes.relatorio": VIEW, "lotes.modelo": VIEW,
    "lotes.novo": OPERATE, "lotes.previa": OPERATE, "lotes.previa_erros": OPERATE, "lotes.confirmar": OPERATE,
    "api.lotes_criar": OPERATE, "api.lotes_detalhe": VIEW, "api.lotes_lista": VIEW,
}
# Public to the session policy but guarded by a token of their own: refused to every role without it.
OWN_GUARD = {"metrics"}
ROLE_ALLOWS = {
    None: {PUBLIC},
    Role.VISUALIZADOR: {PUBLIC, VIEW},
    Role.OPERADOR: {PUBLIC, VIEW, OPERATE},
    Role.ADMIN: {PUBLIC, VIEW, OPERATE, ADMIN},
}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule


def _url(rule):
    values = {arg: str(uuid.uuid4()) for arg in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def test_every_route_declares_a_known_access_level(app):
    with app.test_request_context():
        missing = [r.endpoint for r in _routes(app) if view_level(r.endpoint) not in LEVELS]
    assert missing == [], f"rotas sem @access(...): {missing}"


def test_pinned_levels(app):
    with app.test_request_context():
        for endpoint, level in PINNED.items():
            assert view_level(endpoint) == level, endpoint


@pytest.mark.parametrize("role", [None, Role.VISUALIZADOR, Role.OPERADOR, Role.ADMIN])
def test_each_role_is_refused_exactly_where_its_level_says(app, users, role):
    client = app.test_client()
    headers = {}
    if role is not None:
        response = client.post("/login", data={"login": users[role].username, "password": "Senha-de-Teste-9"})
        assert response.status_code == 302
        token = client.post("/api/v1/auth/token", json={"username": users[role].username,
                                                        "password": "Senha-de-Teste-9"}).get_json()["access"]
        headers = {"Authorization": f"Bearer {token}"}
    checked = 0
    for rule in _routes(app):
        if rule.endpoint in ("auth.logout", "api.auth_revogar_tokens"):
            continue  # would end the session (or revoke the token) used for the rest of the walk
        with app.test_request_context():
            level = view_level(rule.endpoint)
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        url = _url(rule)
        kwargs = {"headers": headers} if url.startswith(BEARER_ONLY) else {}
        response = client.open(url, method=method, buffered=False, **kwargs)
        status = response.status_code
        response.close()
        if rule.endpoint in OWN_GUARD:
            assert status in (401, 403), f"{rule.endpoint} sem o token próprio: {status}"
        elif level in ROLE_ALLOWS[role]:
            assert status not in (401, 403), f"{role} deveria acessar {method} {url} ({rule.endpoint}): {status}"
        elif role is None:
            assert status in (302, 401), f"anônimo em {method} {url}: {status}"
            if status == 302:
                assert "/login" in response.headers["Location"]
        else:
            assert status == 403, f"{role} não deveria acessar {method} {url} ({rule.endpoint}): {status}"
        checked += 1
    assert checked >= 10
