"""Roles as named sets of permissions: the built-in ones do what their help says, admins make others at /papeis."""
import pytest
from flask import g
from sqlalchemy import event, select, update

from apps.auth import roles
from apps.auth.models import Papel, Role, User
from apps.auth.permissions import BUILTIN_ROLES, PERMISSIONS, READ, role_summary
from apps.auth.tokens import issue_access
from apps.core.types import db
from apps.processos.models import Execucao
from apps.processos.models import StatusProcesso as S
from tests.conftest import PASSWORD, actions, make_user
from tests.factories import FaturaFactory, OperadoraFactory, ProcessoFactory

FATURISTA = ["painel.ler", "processo.ler", "processo.aprovar"]


def _lower_first(text):
    return text[0].lower() + text[1:]


def _papel(codigo="FATURISTA", permissoes=FATURISTA, nome=None):
    papel = roles.create_papel(codigo, nome or codigo.title(), "Confere faturas", permissoes)
    db.session.commit()
    return papel


def _bearer(client, user):
    token = client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}).get_json()
    return {"Authorization": f"Bearer {token['access']}"}


# --- what the help says is what the role can do -------------------------------------------------------------

@pytest.mark.parametrize("code", list(BUILTIN_ROLES))
def test_a_roles_summary_names_exactly_what_its_permissions_allow(code):
    role = BUILTIN_ROLES[code]
    summary = role_summary(role.permissions)
    for perm in PERMISSIONS.values():
        if perm.code in READ:
            continue  # read permissions are summed up in one phrase every built-in role shares
        said = _lower_first(perm.descricao) in summary
        assert said == (perm.code in role.permissions), f"{role.nome}: {perm.code} ({'dito' if said else 'omitido'})"


def test_operador_may_not_create_or_deactivate_operadoras_as_the_help_says(client, users, login):
    """The issue's example: the help said only Admin manages operadoras while an Operador could."""
    summary = role_summary(BUILTIN_ROLES[Role.OPERADOR].permissions)
    assert "reativar operadoras" not in summary and "operadora.gerenciar" not in BUILTIN_ROLES[Role.OPERADOR].permissions
    assert "reativar operadoras" in role_summary(BUILTIN_ROLES[Role.MANTENEDOR].permissions)
    operadora = OperadoraFactory(codigo="OI")
    op = login(users[Role.OPERADOR])
    assert op.get("/operadoras/nova").status_code == 403
    assert op.post(f"/operadoras/{operadora.id}/desativar").status_code == 403
    assert client.post("/api/v1/operadoras", json={"codigo": "X", "nome": "X"},
                       headers=_bearer(client, users[Role.OPERADOR])).status_code == 403
    assert "Nova operadora" not in op.get("/operadoras").get_data(as_text=True)
    db.session.refresh(operadora)
    assert operadora.ativo


def test_the_user_form_shows_each_roles_generated_help(users, login):
    html = login(users[Role.ADMIN]).get("/usuarios/novo").get_data(as_text=True)
    for role in BUILTIN_ROLES.values():
        assert f'data-papel="{role.code}">{role_summary(role.permissions)}' in html.replace("&#39;", "'")
    assert "Admin: também usuários, operadoras e token global" not in html


def test_papeis_page_lists_every_role_with_its_permissions_for_any_signed_in_user(users, login):
    _papel()
    html = login(users[Role.VISUALIZADOR]).get("/papeis").get_data(as_text=True)
    for role in [*BUILTIN_ROLES.values()]:
        assert f'data-papel="{role.code}"' in html
    assert 'data-papel="FATURISTA"' in html and "Confere faturas" in html
    assert "Novo papel" not in html and "/papeis/FATURISTA/editar" not in html  # read-only for them


# --- built-in roles do what their set says --------------------------------------------------------------------

def test_aprovador_approves_but_does_not_run_robots(users, login, enqueued):
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo)
    aprovador = login(users[Role.APROVADOR])
    html = aprovador.get(f"/processos/{processo.id}").get_data(as_text=True)
    assert 'data-action="aprovar"' in html
    assert aprovador.post(f"/processos/{processo.id}/aprovar", data={"comentario": "ok"}).status_code == 302
    db.session.refresh(processo)
    assert processo.status == S.AGUARDANDO_ENVIO_SAT
    assert 'data-action="enviar-sat"' not in aprovador.get(f"/processos/{processo.id}").get_data(as_text=True)
    assert aprovador.post(f"/processos/{processo.id}/executar").status_code == 403
    assert aprovador.post("/processos/acoes", data={"action": "executar", "ids": [str(processo.id)]}).status_code == 403
    assert enqueued == []


def test_mantenedor_keeps_registries_and_the_schedule_but_runs_nothing(users, login):
    mantenedor = login(users[Role.MANTENEDOR])
    assert mantenedor.get("/operadoras/nova").status_code == 200
    assert mantenedor.get("/clientes/novo").status_code == 200
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    assert mantenedor.post(f"/processos/{processo.id}/aprovar", data={}).status_code == 403
    assert mantenedor.get("/usuarios").status_code == 403


# --- custom roles ------------------------------------------------------------------------------------------

def test_admin_creates_a_custom_role_on_the_page_and_it_is_audited(users, login):
    admin = login(users[Role.ADMIN])
    assert admin.get("/papeis/novo").status_code == 200
    response = admin.post("/papeis/novo", data={"codigo": "faturista", "nome": "Faturista", "descricao": "Confere",
                                                "permissoes": FATURISTA})
    assert response.status_code == 302
    papel = db.session.scalar(select(Papel).where(Papel.codigo == "FATURISTA"))
    assert papel.permissoes == FATURISTA and papel.ativo
    assert [e.detail for e in actions("papel_criado")] == [f"codigo=FATURISTA; permissoes={','.join(FATURISTA)}"]
    assert "Faturista" in admin.get("/usuarios/novo").get_data(as_text=True)  # now offered to users


@pytest.mark.parametrize("data,message", [
    ({"codigo": "VISUALIZADOR", "nome": "Outro"}, "Código já usado."),
    ({"codigo": "X Y", "nome": "Outro"}, "Use A-Z, 0-9 e _"),
    ({"codigo": "OUTRO", "nome": "Admin"}, "Nome já usado."),
    ({"codigo": "OUTRO", "nome": "Outro", "permissoes": ["processo.voar"]}, "Permissões desconhecidas: processo.voar."),
])
def test_the_page_refuses_a_bad_role(users, login, data, message):
    response = login(users[Role.ADMIN]).post("/papeis/novo", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(Papel).where(Papel.codigo == "OUTRO")) is None


def test_a_custom_role_grants_its_set_and_changes_take_effect_at_the_next_request(app, client, users, login):
    _papel()
    faturista = make_user("FATURISTA", username="faturista")
    processo = ProcessoFactory(status=S.AGUARDANDO_APROVACAO)
    FaturaFactory(processo=processo)
    headers = _bearer(client, faturista)
    assert client.get("/api/v1/processos", headers=headers).status_code == 200
    assert client.get("/api/v1/clientes", headers=headers).status_code == 403
    session = login(faturista)
    assert session.get("/processos").status_code == 200
    assert session.get("/clientes").status_code == 403
    assert "Clientes" not in session.get("/").get_data(as_text=True).split('id="sidebar"')[1].split("</nav>")[0]

    # Another browser: the test's app context outlives requests, so Flask-Login's cached user must go.
    g.pop("_login_user", None)
    admin = app.test_client()
    admin.post("/login", data={"login": users[Role.ADMIN].username, "password": PASSWORD})
    papel = roles.get_custom("FATURISTA")
    edited = admin.post("/papeis/FATURISTA/editar", data={"nome": "Faturista", "permissoes": ["painel.ler", "processo.ler"],
                                                 "ativo": "y"})
    assert edited.status_code == 302, edited.get_data(as_text=True)[-3000:]
    db.session.refresh(papel)
    assert papel.permissoes == ["painel.ler", "processo.ler"]
    assert client.post(f"/api/v1/processos/{processo.id}/aprovar", json={}, headers=headers).status_code == 403
    assert [e.detail for e in actions("papel_alterado")] == ["-processo.aprovar"]

    roles.update_papel(papel, nome=papel.nome, descricao=None, permissoes=papel.permissoes, ativo=False)
    db.session.commit()
    assert client.get("/api/v1/processos", headers=headers).status_code == 403  # inactive: grants nothing


def test_a_role_in_use_cannot_be_deleted_and_built_ins_cannot_be_touched(client, users, login):
    _papel()
    faturista = make_user("FATURISTA", username="faturista")
    admin = login(users[Role.ADMIN])
    response = admin.post("/papeis/FATURISTA/excluir", follow_redirects=True)
    assert "está atribuído a 1 usuário(s)" in response.get_data(as_text=True)
    assert roles.get_custom("FATURISTA") is not None
    assert admin.get("/papeis/ADMIN/editar").status_code == 403
    assert admin.post("/papeis/OPERADOR/excluir").status_code == 403
    faturista.role = Role.VISUALIZADOR
    db.session.commit()
    assert admin.post("/papeis/FATURISTA/excluir").status_code == 302
    assert roles.get_custom("FATURISTA") is None
    assert len(actions("papel_excluido")) == 1


def test_an_unknown_role_code_grants_nothing(client, users):
    user = users[Role.VISUALIZADOR]
    user.role = "SUMIU"  # e.g. left behind by a restore
    db.session.commit()
    assert roles.permissions_of(user) == frozenset()
    headers = {"Authorization": f"Bearer {issue_access(user)}"}
    assert client.get("/api/v1/processos", headers=headers).status_code == 403


def test_a_custom_role_is_read_once_per_request_whatever_the_checks(users, login):
    _papel(permissoes=[*FATURISTA, "cliente.ler", "operadora.ler"])
    session = login(make_user("FATURISTA", username="faturista"))
    for i in range(3):
        ProcessoFactory(status=S.AGUARDANDO_APROVACAO, cliente__nome=f"Cliente {i}")
    statements = []

    def count(conn, cursor, statement, *args):
        if "FROM papeis" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        html = session.get("/processos").get_data(as_text=True)  # the menu and every row ask can(...)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert "Aprovar selecionados" in html
    assert len(statements) == 1


def test_a_custom_role_with_sat_only_cannot_start_a_download(users, login, enqueued):
    """The run route takes either run permission; the service asks for the one the status calls for."""
    _papel("ENVIO_SAT", ["painel.ler", "processo.ler", "processo.enviar_sat"], nome="Envio SAT")
    session = login(make_user("ENVIO_SAT", username="sat"))
    processo = ProcessoFactory(status=S.AGUARDANDO_DOWNLOAD)
    response = session.post(f"/processos/{processo.id}/executar", follow_redirects=True)
    assert "Você não tem permissão para esta ação." in response.get_data(as_text=True)
    assert db.session.scalars(select(Execucao)).all() == [] and enqueued == []


# --- API ----------------------------------------------------------------------------------------------------

def test_api_lists_roles_and_the_catalogue(client, viewer):
    _papel()
    items = client.get("/api/v1/papeis", headers=viewer).get_json()["items"]
    assert [i["codigo"] for i in items] == [*BUILTIN_ROLES, "FATURISTA"]
    admin_role = items[list(BUILTIN_ROLES).index(Role.ADMIN)]
    assert admin_role["builtin"] and set(admin_role["permissoes"]) == set(PERMISSIONS)
    assert items[-1]["permissoes"] == FATURISTA and not items[-1]["builtin"]
    catalogue = client.get("/api/v1/permissoes", headers=viewer).get_json()["items"]
    assert [p["codigo"] for p in catalogue] == list(PERMISSIONS)


def test_api_custom_role_crud_with_the_pages_rules(client, users, admin, viewer):
    body = {"codigo": "FATURISTA", "nome": "Faturista", "permissoes": ["processo.aprovar", "processo.ler"]}
    assert client.post("/api/v1/papeis", json=body, headers=viewer).status_code == 403
    created = client.post("/api/v1/papeis", json=body, headers=admin)
    assert created.status_code == 201 and created.headers["Location"].endswith("/api/v1/papeis/FATURISTA")
    assert created.get_json()["permissoes"] == ["processo.ler", "processo.aprovar"]  # catalogue order
    assert client.post("/api/v1/papeis", json=body, headers=admin).status_code == 409
    bad = client.post("/api/v1/papeis", json={**body, "codigo": "OUTRO", "nome": "Outro", "permissoes": ["x.y"]},
                      headers=admin)
    assert bad.status_code == 422 and "permissoes" in bad.get_json()["fields"]
    assert client.patch("/api/v1/papeis/ADMIN", json={"nome": "Chefe"}, headers=admin).status_code == 403

    user = client.post("/api/v1/usuarios", json={"username": "fat", "email": "fat@example.com",
                                                 "password": PASSWORD, "role": "FATURISTA"}, headers=admin)
    assert user.status_code == 201 and user.get_json()["role"] == "FATURISTA"
    assert client.post("/api/v1/usuarios", json={"username": "fat2", "email": "fat2@example.com",
                                                 "password": PASSWORD, "role": "NAO_EXISTE"},
                       headers=admin).status_code == 422
    assert client.delete("/api/v1/papeis/FATURISTA", headers=admin).status_code == 409

    patched = client.patch("/api/v1/papeis/FATURISTA", json={"ativo": False}, headers=admin)
    assert patched.status_code == 200 and patched.get_json()["ativo"] is False
    assert client.post("/api/v1/usuarios", json={"username": "fat3", "email": "fat3@example.com",
                                                 "password": PASSWORD, "role": "FATURISTA"},
                       headers=admin).status_code == 422  # an inactive role is not given to anyone new
    db.session.execute(update(User).where(User.username == "fat").values(role=Role.VISUALIZADOR))
    db.session.commit()
    assert client.delete("/api/v1/papeis/FATURISTA", headers=admin).status_code == 204
    assert client.get("/api/v1/papeis/FATURISTA", headers=admin).status_code == 404


def test_a_code_no_role_can_have_is_a_404_without_a_query(client, admin, users, login):
    for codigo in ("%00", "a%00b", "x" * 30, "minusculo"):
        assert client.get(f"/api/v1/papeis/{codigo}", headers=admin).status_code == 404
        assert client.patch(f"/api/v1/papeis/{codigo}", json={"nome": "N"}, headers=admin).status_code == 404
    assert login(users[Role.ADMIN]).get("/papeis/%00/editar").status_code == 404
