"""Forms of the Integrations and Sync pages. They only parse (and carry the CSRF token): the sync
service decides what is valid, and its field errors are put back on these fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, RadioField, StringField
from wtforms.validators import Optional

from clinic_app.sync.models import BASIC, COMPREHENSIVE, INCREMENTAL, PATIENTS_ONLY

# What each mode does, in a sentence an admin can choose by.
MODE_CHOICES: tuple[tuple[str, str, str], ...] = (
    (
        COMPREHENSIVE,
        "Comprehensive",
        "Everything: businesses, practitioners, appointment types, every patient (archived ones too) "
        "and every appointment. Use it the first time and whenever you want to be sure.",
    ),
    (
        BASIC,
        "Basic",
        "Practitioners, appointment types and every patient, but only appointments from the last 30 days "
        "onwards: quicker, enough for today's lists.",
    ),
    (
        PATIENTS_ONLY,
        "Patients only",
        "Patient records and contact details only; appointments are not fetched.",
    ),
    (
        INCREMENTAL,
        "Changes since the last sync",
        "Only what changed in Cliniko since the last successful sync; what the hourly schedule runs.",
    ),
)
MODE_LABELS = {value: label for value, label, _ in MODE_CHOICES}


class ConnectForm(FlaskForm):
    # A password field: the browser does not keep it and the page never sends it back.
    api_key = PasswordField(
        "Cliniko API key",
        render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 200, "autocapitalize": "off"},
    )
    base_url = StringField(
        "API address (sandbox only)",
        validators=[Optional()],
        render_kw={"maxlength": 300, "placeholder": "http://127.0.0.1:5001/{shard}/v1", "spellcheck": "false"},
    )


class ScheduleForm(FlaskForm):
    enabled = BooleanField("Sync automatically (changes every interval, everything nightly at 02:00)")
    interval_minutes = IntegerField(
        "Minutes between syncs of changes", default=60, validators=[Optional()], render_kw={"min": 15, "max": 1440}
    )


class StartSyncForm(FlaskForm):
    mode = RadioField(
        "What to sync",
        choices=[(value, label) for value, label, _ in MODE_CHOICES],
        default=COMPREHENSIVE,
        validate_choice=False,
    )
