"""Forms of the global token page."""
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired, Length, Optional

from apps.rpa.token import TokenError, check_token


class GlobalTokenForm(FlaskForm):
    """Paste a new token; a password field, so a refused token is never echoed back."""

    # The length is checked by check_token, not by Length(): its maxlength attribute would make the
    # browser cut a longer paste silently and we would store a truncated token.
    token = PasswordField("Novo token", validators=[DataRequired(message="Cole o token.")])
    motivo = StringField("Motivo", validators=[Optional(), Length(max=200, message="No máximo 200 caracteres.")])

    def validate_token(self, field):
        try:
            field.data = check_token(field.data)
        except TokenError as exc:
            raise ValidationError(str(exc)) from None
