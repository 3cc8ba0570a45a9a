from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from clinic_app.core.permissions import RECEPTIONIST

# Roles are offered per viewer (only owners see "Owner") but checked by the service, the one
# place that decides who may give which role: these forms only parse.


class MemberForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])
    display_name = StringField("Name", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", default=RECEPTIONIST, validate_choice=False, validators=[InputRequired()])


class RoleForm(FlaskForm):
    role = StringField("Role", validators=[InputRequired(message="Choose a role.")])
