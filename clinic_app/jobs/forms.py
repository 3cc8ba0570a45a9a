from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField
from wtforms.validators import InputRequired, NumberRange


class DemoJobForm(FlaskForm):
    steps = IntegerField("Steps", default=10, validators=[InputRequired(), NumberRange(min=1, max=50)])
    delay_seconds = DecimalField(
        "Seconds per step", default=0.5, places=1, validators=[InputRequired(), NumberRange(min=0, max=5)]
    )
