from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from clinic_app.core.permissions import RECEPTIONIST

# Roles are offered per viewer (only owners see "Owner") and checked by the service, which is
# the one place that knows who may give which role; the forms only parse.


class MemberForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])
    display_name = StringField("Name", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", default=RECEPTIONIST, validate_choice=False, validators=[InputRequired()])


class RoleForm(FlaskForm):
    role = StringField("Role", validators=[InputRequired(message="Choose a role.")])
    confirmed = HiddenField()


class ConfirmForm(FlaskForm):
    confirmed = HiddenField()
