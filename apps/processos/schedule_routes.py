"""Routes of the Agendamentos page: when the month's processos are created, and a manual run."""
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired

from apps.auth.policy import requires
from apps.core.clock import competencia_of
from apps.core.types import db
from apps.processos import schedule
from apps.processos.blueprint import bp
from apps.processos.services import gerar_processos
from apps.processos.state import ProcessoError

COUNTS = re.compile(r"(\d+) criado\(s\), (\d+) existente\(s\)")


class ExecutarForm(FlaskForm):
    """The competência to generate now."""

    competencia = StringField("Competência", validators=[DataRequired(message="Informe a competência.")],
                              render_kw={"type": "month", "placeholder": "AAAA-MM", "maxlength": 7})


def _run_rows():
    """The last generations with their counts, read back from the audit detail."""
    rows = []
    for entry in schedule.recent_runs():
        match = COUNTS.search(entry.detail or "")
        rows.append({"quando": entry.created_at, "quem": entry.username or "agendador",
                     "competencia": entry.entity_id, "criados": match and int(match[1]),
                     "existentes": match and int(match[2]), "detalhe": entry.detail})
    return rows


def _cli_decides() -> bool:
    """Does `flask processos gerar-mensal` take --se-devido (it then checks the schedule itself)?"""
    group = current_app.cli.commands.get("processos")
    command = group.commands.get("gerar-mensal") if group is not None else None
    return command is not None and any(p.name == "se_devido" for p in command.params)


def _crontab() -> dict:
    """A system-cron line for this installation, as an alternative to `rq cron`."""
    root = Path(current_app.root_path).parent
    command = f"cd {root} && FLASK_APP=apps:create_app {Path(sys.executable).with_name('flask')} processos gerar-mensal"
    if _cli_decides():
        return {"linha": f"0 * * * * {command} --se-devido >> instance/cron.log 2>&1", "se_devido": True}
    return {"linha": f"0 3 1 * * {command} >> instance/cron.log 2>&1", "se_devido": False}


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _schedule_context(now: datetime) -> dict:
    """The rule, the next run and this month's situation; a bad setting is shown, not a 500."""
    try:
        rule = schedule.current_rule()
        intervalo = _minutes(schedule.check_interval())
    except ValueError as exc:
        return {"erro": str(exc)}
    competencia = competencia_of(now, rule.tz)
    proxima = schedule.next_run(now, rule.day, rule.at, rule.tz)
    return {"regra": schedule.describe(rule), "proxima": proxima, "dia_semana": schedule.weekday_name(proxima),
            "competencia": competencia, "ultima": schedule.last_run(competencia), "intervalo": intervalo,
            "devida": schedule.due_competencia(now) is not None}


def _render(form, status=200):
    context = _schedule_context(datetime.now(UTC))
    return render_template("processos/agendamentos.html", form=form, runs=_run_rows(), crontab=_crontab(),
                           **context), status


@bp.route("/agendamentos")
@requires("processo.ler")
def agendamentos():
    """The monthly schedule, the next run and the last runs."""
    form = ExecutarForm()
    if not form.competencia.data:
        form.competencia.data = competencia_of(datetime.now(UTC), current_app.config.get("TIMEZONE"))
    return _render(form)


@bp.route("/agendamentos/executar", methods=["POST"])
@requires("agenda.gerenciar")
def agendamentos_executar():
    """Create the processos of a competência now (idempotent)."""
    form = ExecutarForm()
    if form.validate_on_submit():
        try:
            result = gerar_processos(form.competencia.data.strip(), by=current_user._get_current_object())
        except ProcessoError as exc:
            db.session.rollback()
            form.competencia.errors.append(exc.message)
        else:
            flash(f"Competência {result['competencia']}: {result['criados']} processo(s) criado(s), "
                  f"{result['existentes']} já existia(m).", "success")
            return redirect(url_for("processos.agendamentos"))
    return _render(form, 422)
