from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import EqualTo, InputRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=256)])


class SetPasswordForm(FlaskForm):
    new_password = PasswordField("New password", validators=[InputRequired(), Length(max=256)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("new_password", message="The passwords differ.")],
    )
