"""`flask processos ...`: create the month's processos, reconcile robot runs."""
import click
from flask.cli import AppGroup
from redis import RedisError

from apps.core import clock
from apps.core.queues import QueueUnavailable
from apps.processos.schedule import due_competencia
from apps.processos.services import enfileirar_downloads, gerar_processos
from apps.processos.state import ProcessoError
from apps.processos.totais import recount
from apps.rpa.jobs import reconcile

processos_cli = AppGroup("processos", help="Processos mensais e execuções do robô.")


@processos_cli.command("gerar-mensal")
@click.option("--competencia", default=None, metavar="AAAA-MM",
              help="Competência a gerar (padrão: mês atual em America/Sao_Paulo).")
@click.option("--se-devido", "se_devido", is_flag=True,
              help="Só gera se o agendamento mensal estiver devido (dia e hora passados, competência ainda não gerada).")
@click.option("--executar", "executar", is_flag=True,
              help="Também enfileira os downloads, respeitando o limite de robôs simultâneos de cada operadora.")
def gerar_mensal(competencia, se_devido, executar):
    """Create one processo per active cliente for the month (idempotent)."""
    if se_devido:
        if competencia:
            raise click.UsageError("Use --competencia ou --se-devido, não os dois.")
        try:
            competencia = due_competencia()
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        if competencia is None:
            click.echo("Nada a fazer: a criação mensal não está devida agora.")
            return
    try:
        result = gerar_processos(competencia or clock.current_competencia())
    except ProcessoError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Competência {result['competencia']}: {result['criados']} processo(s) criado(s), "
               f"{result['existentes']} já existente(s).")
    if executar:
        try:
            queued = enfileirar_downloads(result["competencia"])
        except (ProcessoError, QueueUnavailable) as exc:
            raise click.ClickException(getattr(exc, "message", str(exc))) from exc
        click.echo(f"Downloads: {queued['enfileiradas']} na fila, {queued['iniciadas']} iniciado(s) agora; "
                   "os demais aguardam vaga na sua operadora.")


@processos_cli.command("recontar-totais")
def recontar_totais():
    """Rebuild the processo counts (processo_totais) from the processos themselves."""
    click.echo(f"Totais refeitos: {recount()} processo(s) contados.")


@processos_cli.command("reconciliar")
def reconciliar():
    """Resume following active runs whose follower is gone; fail those past the time limit."""
    try:
        result = reconcile()
    except (QueueUnavailable, RedisError) as exc:
        raise click.ClickException(QueueUnavailable.MESSAGE) from exc
    click.echo(f"Execuções retomadas: {result['retomadas']}; marcadas como falha: {result['falhas']}.")


def init_app(app):
    app.cli.add_command(processos_cli)
