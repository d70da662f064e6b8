"""Artefatos pages: downloading one (access follows its processo's), and the list the processo page includes."""
from flask import abort
from flask_login import current_user

from apps.artefatos import download, services
from apps.artefatos.blueprint import bp
from apps.artefatos.models import Artefato
from apps.auth.policy import requires
from apps.core.records import get_or_404


@bp.route("/artefatos/<artefato_id>/download", endpoint="download")
@requires("artefato.ler")
def baixar(artefato_id):
    """An artefato's file (PDFs and texts shown inline, anything else as an attachment; CSP sandbox)."""
    artefato = get_or_404(Artefato, artefato_id)
    if not services.can_read(current_user._get_current_object(), artefato):
        abort(404)
    return download.send_artefato(artefato)


@bp.app_template_global("artefatos_do_processo")
def artefatos_do_processo(processo):
    """For templates: a processo's artefatos, newest first."""
    return services.of_processo(processo)
