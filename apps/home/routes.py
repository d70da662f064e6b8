"""The home dashboard, its JSON, and the admin's queues page (Filas)."""
from flask import abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from redis import RedisError

from apps.auth.forms import ConfirmForm
from apps.auth.policy import requires
from apps.core.queues import QueueUnavailable
from apps.home import filas, services
from apps.home.blueprint import bp
from apps.robos import services as robos

TIPO_LABELS = {"DOWNLOAD": "Download", "ENVIO_SAT": "Envio ao SAT"}


@bp.route("/")
@requires("painel.ler")
def index():
    """The month at a glance: status by operadora, approval backlog, runs per day, durations."""
    data = services.cached_dashboard()
    return render_template("home/index.html", **data, chart_data=services.chart_data(data),
                           tipo_labels=TIPO_LABELS, robos_disponiveis=robos.available_count(),
                           p95_resolucao=services.RESOLUCAO)


@bp.route("/dashboard.json", endpoint="dados")
@requires("painel.ler")
def dados():
    """The dashboard's figures as JSON."""
    response = jsonify(services.as_json(services.cached_dashboard()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/filas", endpoint="filas")
@requires("fila.gerenciar")
def filas_page():
    """RQ queues: depth, workers and failed jobs (with their error)."""
    return render_template("home/filas.html", overview=filas.overview(), confirm_form=ConfirmForm())



def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _act(action, success_message) -> None:
    """Run a queue action and flash its outcome in Portuguese (Redis down is a message, not a 500)."""
    try:
        result = action()
    except filas.FilaError as exc:
        flash(str(exc), "warning")
    except RedisError:
        flash(QueueUnavailable.MESSAGE, "danger")
    else:
        flash(success_message(result), "success")


@bp.route("/filas/falhas/<job_id>/reenfileirar", methods=["POST"])
@requires("fila.gerenciar")
def filas_requeue(job_id):
    """Put one failed job back on its queue."""
    _confirmed()
    _act(lambda: filas.requeue(job_id, by=current_user._get_current_object()),
         lambda job: f"Tarefa {job.id} reenfileirada na fila {job.origin}.")
    return redirect(url_for("home.filas"))


@bp.route("/filas/falhas/reenfileirar-todas", methods=["POST"])
@requires("fila.gerenciar")
def filas_requeue_all():
    """Put every failed job back on its queue."""
    _confirmed()
    _act(lambda: filas.requeue_all(by=current_user._get_current_object()),
         lambda n: f"{n} tarefa(s) com falha reenfileirada(s)." if n else "Não havia tarefas com falha.")
    return redirect(url_for("home.filas"))


@bp.route("/filas/falhas/<job_id>/excluir", methods=["POST"])
@requires("fila.gerenciar")
def filas_delete(job_id):
    """Delete one failed job for good."""
    _confirmed()
    _act(lambda: filas.delete(job_id, by=current_user._get_current_object()),
         lambda description: f"Tarefa excluída: {description}.")
    return redirect(url_for("home.filas"))
