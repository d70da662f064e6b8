"""Cliente forms: the rules live in services, the form only carries the values."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField


class ClienteForm(FlaskForm):
    """Create or edit a cliente; operadora choices are set by the view."""

    nome = StringField("Nome ou razão social", render_kw={"maxlength": 200})
    cnpj = StringField("CNPJ", render_kw={"maxlength": 18, "placeholder": "00.000.000/0000-00",
                                          "autocapitalize": "characters"})
    codigo = StringField("Código na operadora (conta ou contrato)", render_kw={"maxlength": 60})
    operadora_id = SelectField("Operadora", validate_choice=False)

    def set_operadoras(self, operadoras, current=None):
        """Active operadoras, plus the cliente's current one when it is inactive."""
        choices = [("", "Selecione…")] + [(str(op.id), f"{op.codigo} — {op.nome}") for op in operadoras]
        if current is not None and not current.ativo:
            choices.append((str(current.id), f"{current.codigo} — {current.nome} (inativa)"))
        self.operadora_id.choices = choices

    def values(self) -> dict:
        """The submitted values, for the service."""
        return {"nome": self.nome.data, "cnpj": self.cnpj.data, "codigo": self.codigo.data,
                "operadora_id": self.operadora_id.data}
