from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, StringField
from wtforms.validators import InputRequired, Length

from clinic_app.orgs.service import TWO_FACTOR_ADMINS, TWO_FACTOR_EVERYONE, TWO_FACTOR_OFF


class TotpConfirmForm(FlaskForm):
    code = StringField(
        "Code from the app",
        validators=[InputRequired(message="Enter the 6-digit code your app shows."), Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )


class PasswordAgainForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[InputRequired(message="Enter your password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class TwoFactorPolicyForm(FlaskForm):
    policy = RadioField(
        "Require two-factor sign-in of",
        choices=[
            (TWO_FACTOR_OFF, "Nobody (each person chooses)"),
            (TWO_FACTOR_ADMINS, "Owners and practice admins"),
            (TWO_FACTOR_EVERYONE, "Everyone in the organization"),
        ],
        validators=[InputRequired(message="Choose who must use two-factor sign-in.")],
    )
