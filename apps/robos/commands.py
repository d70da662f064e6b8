"""`flask robos ...`: register a robot from a script (`make run` registers its simulators) and probe them now."""
import click
from flask.cli import AppGroup
from sqlalchemy import select

from apps.core.errors import ServiceError
from apps.core.types import db, utcnow
from apps.robos import heartbeat, services
from apps.robos.models import Robo

robos_cli = AppGroup("robos", help="Robôs (servidores da API RPA).")


@robos_cli.command("registrar")
@click.option("--url", required=True, help="URL base do servidor da API RPA.")
@click.option("--nome", required=True)
@click.option("--tags", default="*", show_default=True, help="Códigos de operadora, SAT ou *, separados por vírgula.")
@click.option("--capacidade", default=1, show_default=True, type=int)
def registrar(url, nome, tags, capacidade):
    """Create the robot of this URL, or update the one already registered (idempotent), then probe it once. A robot
    of this name at another URL has moved (`make run`'s simulator on another port when 8000 is taken): it is
    updated to the new URL, not refused as a second robot of the same name."""
    url = url.strip().rstrip("/")
    robo = (db.session.scalar(select(Robo).where(Robo.url == url))
            or db.session.scalar(select(Robo).where(Robo.nome == nome)))
    values = {"nome": nome, "url": url, "tags": tags, "capacidade": capacidade}
    try:
        if robo is None:
            robo = services.create_robo(values, by=None)
            action = "cadastrado"
        else:
            services.update_robo(robo, values, by=None)
            action = "atualizado"
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(" ".join([exc.message, *exc.fields.values()])) from exc
    heartbeat.apply(robo, heartbeat.probe([robo])[robo.id], utcnow())
    db.session.commit()
    click.echo(f"Robô {robo.nome} {action}: {robo.url} ({robo.status}, capacidade {robo.capacidade}).")


@robos_cli.command("sondar")
def sondar():
    """Run the heartbeat now (once per period, like the scheduled job)."""
    click.echo(heartbeat.run())


def init_app(app):
    app.cli.add_command(robos_cli)
