"""The profile's forms: addresses, and the matrix of events × channels."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import Length, Optional

from apps.notificacoes.kinds import ALL
from apps.notificacoes.models import CANAIS


class ContatosForm(FlaskForm):
    whatsapp = StringField("WhatsApp", validators=[Optional(), Length(max=30)])
    webhook_url = StringField("URL do webhook", validators=[Optional(), Length(max=500)])


def field_name(evento: str, canal: str) -> str:
    return f"{evento}__{canal}"


class PreferenciasForm(FlaskForm):
    """One checkbox per (event, channel)."""

    def chosen(self) -> dict:
        return {e: [c for c in CANAIS if getattr(self, field_name(e, c)).data] for e in ALL}


for _evento in ALL:
    for _canal in CANAIS:
        setattr(PreferenciasForm, field_name(_evento, _canal), BooleanField(f"{_evento} por {_canal}"))
