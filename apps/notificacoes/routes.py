"""/perfil (a user's addresses and choices) and /mensagens (every message, for admins)."""
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from apps.auth.forms import ConfirmForm
from apps.auth.models import User
from apps.auth.policy import SIGNED_IN, requires
from apps.core.pagination import paginate
from apps.core.types import db, parse_uuid
from apps.notificacoes import preferences
from apps.notificacoes.blueprint import bp
from apps.notificacoes.channels import registry
from apps.notificacoes.forms import ContatosForm, PreferenciasForm, field_name
from apps.notificacoes.kinds import ALL
from apps.notificacoes.models import CANAIS, CANAL_LABELS, Mensagem, StatusMensagem


def _me():
    return current_user._get_current_object()


def _page(contatos_form=None, preferencias_form=None, codigo=None, segredo=None, status=200):
    user = _me()
    contato = preferences.contato_of(user.id)
    chosen = preferences.choices([user.id])[user.id]
    if preferencias_form is None:
        preferencias_form = PreferenciasForm(formdata=None)
        for evento in ALL:
            for canal in CANAIS:
                getattr(preferencias_form, field_name(evento, canal)).data = canal in chosen[evento]
    if contatos_form is None:
        contatos_form = ContatosForm(formdata=None, obj=contato)
    config = current_app.config
    canais = [{"name": c, "label": CANAL_LABELS[c], "enabled": registry.get(c).enabled(config),
               "status": registry.get(c).status_text(config),
               "address": preferences.address(user, contato, c)} for c in CANAIS]
    return render_template("notificacoes/perfil.html", user=user, contato=contato, canais=canais,
                           eventos=[(e, preferences.EVENT_LABELS[e]) for e in ALL], field_name=field_name,
                           contatos_form=contatos_form, preferencias_form=preferencias_form, codigo=codigo,
                           segredo=segredo,
                           confirm_form=ConfirmForm(),
                           defined=bool(contato and contato.preferencias_definidas)), status


@bp.route("/perfil")
@requires(SIGNED_IN)
def perfil():
    """My addresses and on which channels I hear each event."""
    return _page()


@bp.route("/perfil/contatos", methods=["POST"])
@requires(SIGNED_IN)
def perfil_contatos():
    """Save my WhatsApp number and webhook URL."""
    form = ContatosForm()
    if form.validate_on_submit():
        had_secret = bool(getattr(preferences.contato_of(_me().id), "webhook_secret", None))
        try:
            contato = preferences.set_contacts(_me(), whatsapp=form.whatsapp.data, webhook_url=form.webhook_url.data)
            db.session.commit()
        except preferences.PreferenciaError as exc:
            db.session.rollback()
            for name in exc.fields or {"whatsapp": None}:
                if hasattr(form, name):
                    getattr(form, name).errors = [exc.message]
        else:
            flash("Contatos salvos.", "success")
            if contato.webhook_secret and not had_secret:  # shown once, in this answer only
                return _page(segredo=contato.webhook_secret)
            return redirect(url_for("notificacoes.perfil"))
    return _page(contatos_form=form, status=422)


@bp.route("/perfil/preferencias", methods=["POST"])
@requires(SIGNED_IN)
def perfil_preferencias():
    """Save on which channels I hear each event."""
    form = PreferenciasForm()
    if not form.validate_on_submit():
        abort(400)
    preferences.set_choices(_me(), form.chosen())
    db.session.commit()
    flash("Preferências de notificação salvas.", "success")
    return redirect(url_for("notificacoes.perfil"))


@bp.route("/perfil/telegram/codigo", methods=["POST"])
@requires(SIGNED_IN)
def perfil_telegram_codigo():
    """A one-time code to send to the bot as /start <código>."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    codigo = preferences.new_link_code(_me())
    db.session.commit()
    return _page(codigo=codigo)


@bp.route("/perfil/telegram/desligar", methods=["POST"])
@requires(SIGNED_IN)
def perfil_telegram_desligar():
    """Unlink my Telegram chat."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    preferences.set_contacts(_me(), telegram_chat_id=None)
    db.session.commit()
    flash("Telegram desligado.", "info")
    return redirect(url_for("notificacoes.perfil"))


@bp.route("/perfil/webhook/segredo", methods=["POST"])
@requires(SIGNED_IN)
def perfil_webhook_segredo():
    """A new signing secret for my webhook, shown once."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    secret = preferences.rotate_webhook_secret(_me())
    db.session.commit()
    return _page(segredo=secret)  # shown once, in this answer only (never in a flash kept in the cookie)


def mensagens_query(usuario_id=None, canal=None, status=None):
    query = select(Mensagem).order_by(Mensagem.created_at.desc(), Mensagem.id.desc())
    if usuario_id is not None:
        query = query.where(Mensagem.usuario_id == usuario_id)
    if canal:
        query = query.where(Mensagem.canal == canal)
    if status:
        query = query.where(Mensagem.status == status)
    return query


@bp.route("/mensagens")
@requires("mensagem.ler")
def mensagens():
    """Every message sent or received, newest first, filtered by user, channel and status."""
    usuario = (request.args.get("usuario") or "").strip()
    canal = request.args.get("canal") if request.args.get("canal") in CANAIS else ""
    status = request.args.get("status") if request.args.get("status") in StatusMensagem.ALL else ""
    user_id = None
    if usuario:
        user_id = parse_uuid(usuario) or db.session.scalar(select(User.id).where(User.username == usuario))
        if user_id is None:
            flash(f"Usuário {usuario} não encontrado.", "warning")
    query = mensagens_query(user_id, canal, status).options(joinedload(Mensagem.usuario))
    if usuario and user_id is None:
        query = query.where(Mensagem.id.is_(None))
    return render_template("notificacoes/mensagens.html", pagination=paginate(query),
                           filters={"usuario": usuario, "canal": canal, "status": status},
                           canais=CANAL_LABELS, statuses=StatusMensagem.LABELS)
