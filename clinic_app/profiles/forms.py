"""The professional-profile form. It only parses: the profiles service checks every value, so the
page and the API accept and refuse the same things with the same messages."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField


class ProfessionalProfileForm(FlaskForm):
    discipline = StringField("Discipline")
    registration_body = StringField(
        "Registration body", render_kw={"list": "registration-bodies", "autocomplete": "off"}
    )
    registration_number = StringField("Registration number")
    qualifications = TextAreaField("Qualifications", render_kw={"rows": 4})
    signature_block = TextAreaField("Signature block", render_kw={"rows": 4})
    default_report_template_id = SelectField("Start new reports from", validate_choice=False)

    def changes(self) -> dict[str, Any]:
        """Every field, as the service takes them (qualifications one per line)."""
        return {
            "discipline": self.discipline.data,
            "registration_body": self.registration_body.data,
            "registration_number": self.registration_number.data,
            "qualifications": (self.qualifications.data or "").splitlines(),
            "signature_block": self.signature_block.data,
            "default_report_template_id": self.default_report_template_id.data,
        }
