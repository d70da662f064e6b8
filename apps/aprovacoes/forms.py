"""Aprovações forms: approve or reject from the review view, take or reassign a task, comment, bulk."""
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from apps.aprovacoes.comentarios import MAX_TEXTO
from apps.core.types import parse_uuid


class AprovarForm(FlaskForm):
    comentario = TextAreaField("Comentário (opcional)", id="aprovar-comentario", validators=[Optional(), Length(max=2000)],
                               render_kw={"rows": 2, "maxlength": 2000})


class RejeitarForm(FlaskForm):
    motivo = TextAreaField("Motivo da rejeição", id="rejeitar-motivo", validators=[DataRequired(message="Informe o motivo."),
                                                             Length(max=2000)],
                           render_kw={"rows": 2, "maxlength": 2000})


class ComentarioForm(FlaskForm):
    texto = TextAreaField("Novo comentário", id="comentario-texto", validators=[
        DataRequired(message="Escreva o comentário."),
        Length(max=MAX_TEXTO, message=f"No máximo {MAX_TEXTO} caracteres.")],
        render_kw={"rows": 3, "maxlength": MAX_TEXTO})


class AtribuirForm(FlaskForm):
    usuario_id = SelectField("Responsável", validate_choice=False)

    def validate_usuario_id(self, field):
        self.uuid = parse_uuid(field.data)
        if self.uuid is None:
            raise ValidationError("Escolha um usuário.")


class SelecaoForm(FlaskForm):
    """The inbox's checked rows."""

    ids = SelectMultipleField("Processos", validate_choice=False)

    def validate_ids(self, field):
        parsed = [parse_uuid(value) for value in field.data or []]
        if not parsed:
            raise ValidationError("Selecione pelo menos um processo.")
        if any(uid is None for uid in parsed):
            raise ValidationError("Seleção inválida.")
        if len(parsed) > 500:
            raise ValidationError("No máximo 500 processos por vez.")
        self.uuids = list(dict.fromkeys(parsed))
