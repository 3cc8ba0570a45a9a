from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
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


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])


class ResetWithCodeForm(FlaskForm):
    """A new password with the code from the reset e-mail (the link's page is ``SetPasswordForm``)."""

    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])
    code = StringField(
        "6-digit code",
        validators=[InputRequired(), Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    new_password = PasswordField(
        "New password", validators=[InputRequired(), Length(max=256)], render_kw={"autocomplete": "new-password"}
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("new_password", message="The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )

    @property
    def typed_code(self) -> str:
        """The code as typed, without the spaces or dashes people put in to read it back."""
        return "".join((self.code.data or "").split()).replace("-", "")


class SignupForm(FlaskForm):
    """A practice signing itself up; the service checks every field (one rule for the API too)."""

    name = StringField("Your name", validators=[InputRequired(), Length(max=120)], render_kw={"autocomplete": "name"})
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=256)], render_kw={"autocomplete": "new-password"}
    )
    practice_name = StringField("Practice name", validators=[InputRequired(), Length(max=200)])
    time_zone = SelectField("Time zone", choices=[], default="Australia/Sydney")


class ConfirmEmailForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])
    code = StringField(
        "6-digit code",
        validators=[InputRequired(), Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )

    @property
    def typed_code(self) -> str:
        """The code as typed, without the spaces or dashes people put in to read it back."""
        return "".join((self.code.data or "").split()).replace("-", "")


class ResendConfirmationForm(FlaskForm):
    email = EmailField("E-mail address", validators=[InputRequired(), Length(max=254)])


class ConfirmLinkForm(FlaskForm):
    """Only the CSRF token: the link's page confirms on a button press, so a mail scanner that
    opens the link does not use it up."""


# Lifetimes an admin may pick for a new API token (days; "never" means no expiry).
API_TOKEN_EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "365 days"), ("never", "Never")]


class ApiTokenForm(FlaskForm):
    """A new organization API token. Name and scopes are checked by the service (one rule for every
    caller): the scopes offered are set per request to what the admin's role holds, and anything
    else sent is refused there with a field message rather than silently dropped here."""

    name = StringField("Name")
    scopes = SelectMultipleField("Permissions", choices=[], validate_choice=False)
    expires_in = SelectField("Expires after", choices=API_TOKEN_EXPIRY_CHOICES, default="90")

    @property
    def expires_in_days(self) -> int | None:
        return None if self.expires_in.data == "never" else int(self.expires_in.data)


class SecondFactorForm(FlaskForm):
    """The second step of a sign-in: a code from the authenticator app, or a recovery code."""

    code = StringField(
        "Code",
        validators=[InputRequired(message="Enter the code from your authenticator app."), Length(max=40)],
        render_kw={
            "inputmode": "text",
            "autocomplete": "one-time-code",
            "autocapitalize": "off",
            "spellcheck": "false",
        },
    )
