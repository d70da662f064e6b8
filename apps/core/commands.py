"""`flask` commands: users, demo data, and each domain's own groups."""
import secrets

import click
from flask.cli import AppGroup

from apps.artefatos import commands as artefatos_commands
from apps.auth.models import Role
from apps.auth.services import UserError, create_user, find_by_login
from apps.core.demo import seed_demo
from apps.core.types import db
from apps.processos import commands as processos_commands
from apps.robos import commands as robos_commands

users_cli = AppGroup("users", help="Gerenciar usuários.")
demo_cli = AppGroup("demo", help="Dados de demonstração.")


@users_cli.command("create-admin")
@click.option("--username", envvar="ADMIN_USERNAME", default="admin", show_default=True)
@click.option("--email", envvar="ADMIN_EMAIL", default=None)
@click.option("--password", envvar="ADMIN_PASSWORD", default=None, help="Gerada e impressa se omitida.")
@click.option("--if-missing", is_flag=True, help="Não faz nada se o usuário já existir.")
@click.option("--break-glass", is_flag=True, envvar="ADMIN_BREAK_GLASS",
              help="Acesso de emergência: entra com senha mesmo com LOCAL_LOGIN=false.")
def create_admin(username, email, password, if_missing, break_glass):
    """Create an admin user (password generated and printed when not given)."""
    if find_by_login(username):
        if if_missing:
            click.echo(f"Usuário {username} já existe; nada a fazer.")
            return
        raise click.ClickException(f"Usuário {username} já existe.")
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        create_user(username, email or f"{username}@example.com", password, role=Role.ADMIN, nome="Administrador",
                    break_glass=break_glass)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Admin criado: {username}" + (f" / senha: {password}" if generated else ""))


@demo_cli.command("seed")
@click.option("--clientes", "n_clientes", default=40, show_default=True, help="Quantos clientes criar.")
def seed(n_clientes):
    """Create VIVO, EMBRATEL, OI and DIGITALNET, demo clientes and this month's processos."""
    created = seed_demo(n_clientes)
    click.echo(f"Demonstração: {created['operadoras']} operadora(s), {created['clientes']} cliente(s), "
               f"{created['processos']} processo(s) criados.")
    if created.get("aprovador"):
        click.echo(f"Aprovador de demonstração: {created['aprovador'][0]} / {created['aprovador'][1]}")


def init_app(app):
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    processos_commands.init_app(app)
    robos_commands.init_app(app)
    artefatos_commands.init_app(app)
