"""Login and user forms."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

from apps.auth.roles import assignable_choices
from apps.auth.services import authenticate, login_failed_message

EMAIL_RULES = [DataRequired(message="Informe o e-mail."), Email(message="E-mail inválido.", check_deliverability=False)]


class LoginForm(FlaskForm):
    """Validates the credentials itself and keeps the user it found."""

    login = StringField("Usuário ou e-mail", validators=[DataRequired(message="Informe o usuário.")])
    password = PasswordField("Senha", validators=[DataRequired(message="Informe a senha.")])
    remember = BooleanField("Lembrar de mim")

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        self.user = authenticate(self.login.data, self.password.data)
        if self.user is None:
            self.password.errors.append(login_failed_message())
            return False
        return True


class _RoleChoices:
    """The role select offers the built-in roles and the active custom ones (and the one a user holds)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = assignable_choices(getattr(kwargs.get("obj"), "role", None))


class UserCreateForm(_RoleChoices, FlaskForm):
    username = StringField("Usuário", validators=[
        DataRequired(message="Informe o usuário."), Length(max=80),
        Regexp(r"^[A-Za-z0-9_.-]+$", message="Use letras, números, ponto, hífen ou sublinhado."),
    ])
    nome = StringField("Nome", validators=[Optional(), Length(max=120)])
    email = EmailField("E-mail", validators=EMAIL_RULES)
    role = SelectField("Perfil")
    password = PasswordField("Senha", validators=[DataRequired(message="Informe a senha.")])
    confirm = PasswordField("Confirmar senha", validators=[EqualTo("password", message="As senhas não conferem.")])


class UserEditForm(_RoleChoices, FlaskForm):
    nome = StringField("Nome", validators=[Optional(), Length(max=120)])
    email = EmailField("E-mail", validators=EMAIL_RULES)
    role = SelectField("Perfil")
    ativo = BooleanField("Ativo")
    ausente_ate = DateField("Ausente até (inclusive)", validators=[Optional()])

    def validate_ausente_ate(self, field):
        if field.raw_data and field.raw_data[0].strip() and field.data is None:
            raise ValueError("Data inválida.")
    break_glass = BooleanField("Acesso de emergência (break-glass)")


class PasswordResetForm(FlaskForm):
    password = PasswordField("Nova senha", validators=[DataRequired(message="Informe a senha.")])
    confirm = PasswordField("Confirmar senha", validators=[EqualTo("password", message="As senhas não conferem.")])


class ConfirmForm(FlaskForm):
    """An empty form: a CSRF-protected button."""


class PapelForm(FlaskForm):
    """A custom role: code (fixed once created), name, description, active flag and its permissions."""

    codigo = StringField("Código", validators=[DataRequired(message="Informe o código."), Length(max=20)],
                         filters=[lambda v: (v or "").strip().upper()])
    nome = StringField("Nome", validators=[DataRequired(message="Informe o nome."), Length(max=80)])
    descricao = TextAreaField("Descrição", validators=[Optional(), Length(max=500)])
    ativo = BooleanField("Ativo", default=True)
