"""Processo forms: approve, reject, bulk actions and the manual invoice upload."""
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import FieldList, Form, FormField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields import DateField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, StopValidation, ValidationError

from apps.core.types import parse_uuid

MAX_FATURAS = 20
VALOR_MAXIMO = Decimal("999999999999.99")  # Numeric(14, 2)


class BrDateField(DateField):
    """A date from <input type=date> (AAAA-MM-DD) or typed as DD/MM/AAAA; errors in Portuguese."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%d", "%d/%m/%Y"], **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist or not " ".join(valuelist).strip():
            self.data = None
            return
        text = " ".join(valuelist).strip()
        for fmt in self.strptime_format:
            try:
                self.data = datetime.strptime(text, fmt).date()
                return
            except ValueError:
                continue
        self.data = None
        raise ValueError("Data inválida: use DD/MM/AAAA.")


def parse_valor(text: str) -> Decimal:
    """'1.234,56', '1234,56' or '1234.56' -> Decimal('1234.56'); ValueError otherwise."""
    text = (text or "").strip().replace("R$", "").replace(" ", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d{1,2})?", text):
        raise ValueError("Informe o valor em reais, ex.: 1.234,56.")
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ValueError("Informe o valor em reais, ex.: 1.234,56.") from exc


class ValorField(StringField):
    """A BRL amount typed the Brazilian way; `data` is a Decimal."""

    def process_formdata(self, valuelist):
        self.raw_text = valuelist[0] if valuelist else ""
        self.data = None
        if self.raw_text.strip():
            self.data = parse_valor(self.raw_text)

    def _value(self):
        if self.data is None:
            return getattr(self, "raw_text", "") or ""
        return f"{self.data:.2f}".replace(".", ",")


class Required:
    """Like DataRequired, but a parse error ('Data inválida') is kept instead of replaced."""

    field_flags = {"required": True}

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if field.errors:
            raise StopValidation()
        if field.data is None:
            raise StopValidation(self.message)


def valor_positivo(form, field):
    if field.data is not None and not (Decimal("0") < field.data <= VALOR_MAXIMO):
        raise ValidationError("O valor deve ser maior que zero.")


class FaturaManualForm(Form):
    """One invoice of the manual upload (a sub-form: the parent carries the CSRF token)."""

    arquivo = FileField("Arquivo PDF", validators=[FileRequired(message="Escolha o arquivo PDF da fatura.")],
                        render_kw={"accept": "application/pdf,.pdf"})
    numero = StringField("Número da fatura", validators=[
        DataRequired(message="Informe o número da fatura."), Length(max=80, message="No máximo 80 caracteres.")])
    valor = ValorField("Valor (R$)", validators=[Required("Informe o valor."), valor_positivo],
                       render_kw={"inputmode": "decimal", "placeholder": "0,00"})
    vencimento = BrDateField("Vencimento", validators=[Required("Informe o vencimento.")],
                             render_kw={"type": "date"})
    emissao = BrDateField("Emissão (opcional)", validators=[Optional()], render_kw={"type": "date"})


class EnviarFaturasForm(FlaskForm):
    """The manual upload: one or more invoices, each with its PDF."""

    faturas = FieldList(FormField(FaturaManualForm), min_entries=1)  # no max_entries: it drops extras silently
    max_faturas = MAX_FATURAS

    def validate_faturas(self, field):
        if len(field.entries) > MAX_FATURAS:
            raise ValidationError(f"Envie no máximo {MAX_FATURAS} faturas por vez.")


class AprovarForm(FlaskForm):
    comentario = TextAreaField("Comentário (opcional)", validators=[
        Optional(), Length(max=1000, message="O comentário pode ter no máximo 1000 caracteres.")],
        render_kw={"rows": 3})


class RejeitarForm(FlaskForm):
    motivo = TextAreaField("Motivo da rejeição", validators=[
        DataRequired(message="Informe o motivo da rejeição."),
        Length(max=1000, message="O motivo pode ter no máximo 1000 caracteres.")],
        render_kw={"rows": 3, "required": True})


class BulkForm(FlaskForm):
    """Approve or run many processos at once; ids are the checked boxes."""

    action = StringField("Ação", validators=[AnyOf(["aprovar", "executar"], message="Escolha Aprovar ou Executar.")])
    ids = SelectMultipleField("Processos", validate_choice=False)

    def validate_ids(self, field):
        parsed = [parse_uuid(value) for value in field.data or []]
        if not parsed:
            raise ValidationError("Selecione pelo menos um processo.")
        if any(uid is None for uid in parsed):
            raise ValidationError("Seleção inválida.")
        self.uuids = list(dict.fromkeys(parsed))
