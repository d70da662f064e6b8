"""Forms of the global token page."""
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired, Length, Optional

from apps.rpa.token import MAX_TOKEN_LENGTH, TokenError, check_token


class GlobalTokenForm(FlaskForm):
    """Paste a new token; a password field, so a refused token is never echoed back."""

    token = PasswordField("Novo token", validators=[
        DataRequired(message="Cole o token."),
        Length(max=MAX_TOKEN_LENGTH, message=f"O token deve ter no máximo {MAX_TOKEN_LENGTH} caracteres."),
    ])
    motivo = StringField("Motivo", validators=[Optional(), Length(max=200, message="No máximo 200 caracteres.")])

    def validate_token(self, field):
        try:
            field.data = check_token(field.data)
        except TokenError as exc:
            raise ValidationError(str(exc)) from None
