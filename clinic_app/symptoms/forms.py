from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField

from clinic_app.symptoms.catalogue import CATEGORIES, DEFAULT_CUSTOM_CATEGORY
from clinic_app.symptoms.service import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH

# The service decides what is valid (one rule for the page and the API): this form only parses.


class CustomSymptomForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": NAME_MAX_LENGTH, "autocomplete": "off"})
    description = TextAreaField("Description (optional)", render_kw={"maxlength": DESCRIPTION_MAX_LENGTH, "rows": 3})
    category = SelectField(
        "Group", choices=list(CATEGORIES.items()), default=DEFAULT_CUSTOM_CATEGORY, validate_choice=False
    )
