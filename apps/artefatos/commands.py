"""`flask artefatos ...`: apply the retention policy; copy stored files from one backend to another."""
import click
from flask.cli import AppGroup

from apps.artefatos import retention, transfer
from apps.artefatos.storage import BACKENDS, StorageUnavailable

artefatos_cli = AppGroup("artefatos", help="Arquivos das execuções: retenção e armazenamento.")


@artefatos_cli.command("limpar")
@click.option("--dry-run", "dry_run", is_flag=True, help="Só mostra o que seria removido; não remove nada.")
def limpar(dry_run):
    """Remove the files whose retention term passed (their rows stay, marked removed)."""
    result = retention.limpar(dry_run=dry_run)
    kinds = ", ".join(f"{kind}: {n}" for kind, n in result["por_tipo"].items() if n) or "nenhum"
    verb = "seriam removidos" if dry_run else "removidos"
    click.echo(f"{result['artefatos']} artefato(s) {verb} ({kinds}); {result['bytes']} bytes "
               f"{'seriam liberados' if dry_run else 'liberados'}.")
    if result["falhas"]:
        raise click.ClickException(f"{result['falhas']} arquivo(s) não puderam ser removidos do armazenamento; "
                                   "tentados de novo na próxima vez.")


@artefatos_cli.command("copiar")
@click.option("--de", "source", type=click.Choice(BACKENDS), required=True, help="Armazenamento de origem.")
@click.option("--para", "target", type=click.Choice(BACKENDS), required=True, help="Armazenamento de destino.")
def copiar(source, target):
    """Copy every stored file (artefatos and invoices) to the other backend, verifying sha256; idempotent."""
    if source == target:
        raise click.UsageError("Origem e destino são o mesmo armazenamento.")
    try:
        result = transfer.copiar(source, target, progress=click.echo)
    except StorageUnavailable as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Copiados: {result['copiados']}; já presentes: {result['presentes']}; "
               f"ausentes na origem: {result['ausentes']}; com erro: {result['erros']}.")
    if result["erros"] or result["ausentes"]:
        raise click.ClickException("Alguns arquivos não foram copiados (veja acima).")


def init_app(app):
    app.cli.add_command(artefatos_cli)
