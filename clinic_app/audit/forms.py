from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from clinic_app.core.audit import ALARM, DENIED, FAILURE, SUCCESS

OUTCOME_LABELS = {SUCCESS: "Success", FAILURE: "Failure", DENIED: "Denied", ALARM: "Alarm"}


class AuditFilterForm(FlaskForm):
    """The audit trail's filters, read from the query string (a GET form: no CSRF token, since it
    changes nothing). The view fills the action and actor choices from the organization's data."""

    class Meta:
        csrf = False

    action = SelectField("Action", choices=[("", "Any action")], default="")
    outcome = SelectField("Outcome", choices=[("", "Any outcome"), *OUTCOME_LABELS.items()], default="")
    actor = SelectField("Actor", choices=[("", "Anyone")], default="")
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])

    def validate_date_to(self, field: DateField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date must be on or after the start date.")

    def query_args(self) -> dict[str, Any]:
        """The filters in use, as query-string arguments (for the pagination links)."""
        values = {
            "action": self.action.data,
            "outcome": self.outcome.data,
            "actor": self.actor.data,
            "date_from": self.date_from.data.isoformat() if self.date_from.data else None,
            "date_to": self.date_to.data.isoformat() if self.date_to.data else None,
        }
        return {name: value for name, value in values.items() if value}
