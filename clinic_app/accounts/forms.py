from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

NAME_MESSAGE = "Enter a name of 1 to 120 characters."


class ProfileForm(FlaskForm):
    display_name = StringField(
        "Your name", validators=[InputRequired(NAME_MESSAGE), Length(max=120, message=NAME_MESSAGE)]
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[InputRequired(), Length(max=256)])
    new_password = PasswordField("New password", validators=[InputRequired(), Length(max=256)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("new_password", message="The passwords differ.")],
    )
