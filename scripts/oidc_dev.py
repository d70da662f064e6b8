"""A local OpenID Connect provider for development: oidc-provider-mock on 127.0.0.1:PORT (default 9400).

    .venv/bin/python scripts/oidc_dev.py [--port 9400]

It prints the settings to put in .env (or the environment) before `make run`; the login page then shows
"Entrar com Provedor local". On the provider's form, pick one of the predefined people (their `roles` claim
maps to Admin, Operador, or nothing: Visualizador) or type any subject. Ctrl-C stops it. For development and
tests only: it signs in whoever is typed.
"""
import argparse
import os

import oidc_provider_mock
import werkzeug.serving

PEOPLE = [
    ("admin@exemplo.com.br", {"email": "admin@exemplo.com.br", "email_verified": True, "name": "Ana Admin",
                              "preferred_username": "ana.admin", "roles": ["RPA.Admin"]}),
    ("operador@exemplo.com.br", {"email": "operador@exemplo.com.br", "email_verified": True, "name": "Otávio Operador",
                                 "preferred_username": "otavio.operador", "roles": ["RPA.Operador"]}),
    ("visualizador@exemplo.com.br", {"email": "visualizador@exemplo.com.br", "email_verified": True,
                                     "name": "Vera Visualizadora", "preferred_username": "vera", "roles": []}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9400)
    args = parser.parse_args()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the provider's own check: plain HTTP on localhost only
    app = oidc_provider_mock.app(require_nonce=True, user_claims=[
        oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in PEOPLE])
    issuer = f"http://127.0.0.1:{args.port}"
    print("Provedor OpenID Connect local em", issuer)
    print("Coloque no .env (ou no ambiente) e rode `make run`:\n")
    print(f"OIDC_ISSUER={issuer}")
    print("OIDC_CLIENT_ID=rpa-dashboard-dev")
    print("OIDC_CLIENT_SECRET=segredo-de-desenvolvimento")
    print("OIDC_ROLE_CLAIM=roles")
    print("OIDC_ROLE_MAP=RPA.Admin=ADMIN,RPA.Operador=OPERADOR")
    print("OIDC_PROVIDER_NAME=Provedor local\n")
    werkzeug.serving.run_simple("127.0.0.1", args.port, app, threaded=True)


if __name__ == "__main__":
    main()
