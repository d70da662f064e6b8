"""Operadora forms: the rules live in services, the form only carries the values."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField

from apps.operadoras.services import RPA_FIELDS


class WholeNumberField(IntegerField):
    """An IntegerField whose parse error is in Portuguese."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("Informe um número inteiro.") from exc


class OperadoraForm(FlaskForm):
    """Create or edit an operadora; the robot (RPA) fields are removed for non-admins."""

    codigo = StringField("Código", render_kw={"maxlength": 30, "autocapitalize": "characters"})
    nome = StringField("Nome", render_kw={"maxlength": 120})
    possui_rpa = BooleanField("Possui RPA (robô de download de faturas)", default=True)
    rpa_terceirizado = BooleanField("RPA terceirizado (robô em endpoint próprio)")
    url_endpoint_rpa = StringField("URL do endpoint do robô", render_kw={"maxlength": 500, "inputmode": "url"})
    limite_concorrencia = WholeNumberField("Execuções simultâneas permitidas", default=5,
                                           render_kw={"min": 1, "max": 100})

    def drop_rpa_fields(self):
        """Remove the robot settings (only an Admin may see them as inputs or send them)."""
        for name in RPA_FIELDS:
            delattr(self, name)

    def values(self) -> dict:
        """The submitted values present in this form, for the service."""
        names = ("codigo", "nome", *RPA_FIELDS)
        return {name: self[name].data for name in names if name in self}
