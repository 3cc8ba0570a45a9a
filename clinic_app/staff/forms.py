from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Optional

from clinic_app.core.permissions import RECEPTIONIST

# Roles are offered per viewer (only owners see "Owner") but checked by the service, the one
# place that decides who may give which role: these forms only parse.


class MemberForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])
    display_name = StringField("Name", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", default=RECEPTIONIST, validate_choice=False, validators=[InputRequired()])


class RoleForm(FlaskForm):
    role = StringField("Role", validators=[InputRequired(message="Choose a role.")])


class JoinForm(FlaskForm):
    """A new person accepting an invitation: their name and the password they choose."""

    display_name = StringField("Your name", validators=[InputRequired(message="Enter your name."), Length(max=120)])
    new_password = PasswordField("Choose a password", validators=[InputRequired(), Length(max=256)])
    confirm = PasswordField(
        "Repeat the password",
        validators=[InputRequired(), EqualTo("new_password", message="The passwords differ.")],
    )
