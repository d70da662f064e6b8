"""Robot forms: the rules live in services, the forms only carry the values."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField

from apps.operadoras.forms import WholeNumberField


class RoboForm(FlaskForm):
    """Create or edit a robot."""

    nome = StringField("Nome", render_kw={"maxlength": 120})
    url = StringField("URL do servidor (API RPA)", render_kw={"maxlength": 500, "inputmode": "url"})
    tags = StringField("Tags", default="*", render_kw={"maxlength": 500, "autocapitalize": "characters"})
    capacidade = WholeNumberField("Capacidade (execuções simultâneas)", default=1, render_kw={"min": 1, "max": 1000})
    ativo = BooleanField("Ativo", default=True)

    def values(self) -> dict:
        return {"nome": self.nome.data, "url": self.url.data, "tags": self.tags.data or "",
                "capacidade": self.capacidade.data, "ativo": bool(self.ativo.data)}


class VersaoAtivaForm(FlaskForm):
    """Pin (or, with no version chosen, unpin) the version of a tag."""

    tag = StringField("Tag", render_kw={"maxlength": 30, "autocapitalize": "characters", "placeholder": "VIVO ou SAT"})
    versao = SelectField("Versão", choices=[], validate_choice=False)
