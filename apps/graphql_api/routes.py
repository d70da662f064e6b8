"""/api/graphql (Bearer JWT, read only) and /api/graphiql, the explorer served from the app itself."""
from flask import g, make_response, render_template
from flask_login import current_user
from strawberry.flask.views import GraphQLView

from apps.auth.policy import requires
from apps.auth.tokens import issue_access
from apps.core.security import CSP
from apps.graphql_api.batch import Batches
from apps.graphql_api.blueprint import bp
from apps.graphql_api.schema import schema

# GraphiQL's stylesheet carries its fonts inline (data: URLs); everything else as on every page.
GRAPHIQL_CSP = CSP.replace("font-src 'self'", "font-src 'self' data:")
EXAMPLE = """# Os 100 primeiros processos de um mês, com cliente, operadora e a última execução.
query Processos($competencia: String) {
  processos(first: 100, competencia: $competencia) {
    edges { node { id status cliente { nome operadora { codigo } } ultimaExecucao { status dataFim } } }
    pageInfo { hasNextPage endCursor }
  }
  resumoMes(competencia: $competencia) { total porStatus { rotulo total } }
}
"""


class ReadOnlyGraphQLView(GraphQLView):
    """Strawberry's Flask view; the caller is the Bearer token's user (checked before the view runs)."""

    methods = ["GET", "POST"]

    def get_context(self, request, response):
        return {"user": g.api_user, "batches": Batches(), "request": request, "response": response}


graphql_view = requires("painel.ler")(ReadOnlyGraphQLView.as_view("graphql", schema=schema, graphql_ide=None,
                                                         allow_queries_via_get=True))
bp.add_url_rule("/api/graphql", view_func=graphql_view, methods=["GET", "POST"])


@bp.get("/api/graphiql")
@requires("painel.ler")
def graphiql():
    """GraphiQL, from the npm registry like every front-end file, with a short-lived token of the person signed in."""
    response = make_response(render_template("graphql_api/graphiql.html", token=issue_access(current_user), example=EXAMPLE))
    response.headers["Content-Security-Policy"] = GRAPHIQL_CSP
    return response
