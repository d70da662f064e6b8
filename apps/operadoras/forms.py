"""Operadora forms: the rules live in services, the form only carries the values."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectMultipleField, StringField

from apps.aprovacoes.settings import APPROVAL_FIELDS, AprovadoresField
from apps.operadoras.services import CREDENTIAL_FIELD, RPA_FIELDS
from apps.processos.forms import ValorField

CREDENTIAL_INPUTS = (CREDENTIAL_FIELD, "remover_credencial")
BOTH_CREDENTIAL_CHOICES = "Informe uma nova credencial ou marque “remover credencial”, não os dois."


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
    # Write-only: PasswordField never renders the value back; blank keeps the stored one.
    credencial_rpa = PasswordField("Credencial do RPA terceirizado",
                                   render_kw={"autocomplete": "new-password", "maxlength": 4096, "spellcheck": "false"})
    remover_credencial = BooleanField("Remover credencial")
    # Approval (Admin only, like the robot settings): choices of `aprovadores` are set by the view.
    aprovadores = SelectMultipleField("Aprovadores", validate_choice=False, render_kw={"size": 6})
    prazo_aprovacao_dias_uteis = WholeNumberField("Prazo de aprovação (dias úteis)", default=2,
                                                  render_kw={"min": 0, "max": 30})
    valor_dupla_aprovacao = ValorField("Valor acima do qual a aprovação exige dois aprovadores (R$)",
                                       render_kw={"inputmode": "decimal", "placeholder": "ex.: 50.000,00"})
    variacao_alerta_pct = WholeNumberField("Alerta de variação contra a média de 3 meses (%)", default=25,
                                           render_kw={"min": 1, "max": 1000})

    def drop_rpa_fields(self):
        """Remove the robot settings and the credential (only an Admin may see them as inputs or send them)."""
        for name in (*RPA_FIELDS, *CREDENTIAL_INPUTS, *APPROVAL_FIELDS, AprovadoresField.NAME):
            delattr(self, name)

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if CREDENTIAL_FIELD in self and (self.credencial_rpa.data or "").strip() and self.remover_credencial.data:
            self.credencial_rpa.errors.append(BOTH_CREDENTIAL_CHOICES)
            return False
        return ok

    def values(self) -> dict:
        """The submitted values present in this form, for the service (the credential only when typed or removed)."""
        names = ("codigo", "nome", *RPA_FIELDS, *APPROVAL_FIELDS, AprovadoresField.NAME)
        values = {name: self[name].data for name in names if name in self}
        if CREDENTIAL_FIELD in self:
            if self.remover_credencial.data:
                values[CREDENTIAL_FIELD] = None
            elif (self.credencial_rpa.data or "").strip():
                values[CREDENTIAL_FIELD] = self.credencial_rpa.data
        return values
