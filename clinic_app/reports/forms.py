"""Forms of the report pages. They parse (and carry the CSRF token); the reports service decides
what is valid, and its field errors are put back on these fields."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField, TextAreaField

BLANK_SECTION_ROWS = 3


class GenerateForm(FlaskForm):
    session = HiddenField()
    template_id = SelectField("Report template", choices=[], validate_choice=False)
    additional_notes = TextAreaField(
        "Additional notes", render_kw={"rows": 3, "placeholder": "Anything the draft should mention (optional)"}
    )
    patient_progress = TextAreaField(
        "Patient progress", render_kw={"rows": 2, "placeholder": "How the patient is doing since last time (optional)"}
    )


class SignForm(FlaskForm):
    password = PasswordField("Your password", render_kw={"autocomplete": "current-password", "required": True})


class TemplateForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": 120, "required": True})
    description = TextAreaField("Description", render_kw={"rows": 2, "maxlength": 500})
    is_default = BooleanField("Use this template for new reports unless another is chosen")


def template_form_sections(form: MultiDict[str, str]) -> list[dict[str, str]]:
    """The section rows posted by the template editor (``sections-<n>-title`` …), in the order
    given by their "position" field (then as posted); rows left entirely blank are dropped."""
    rows: list[tuple[float, int, dict[str, str]]] = []
    indexes = sorted(
        {int(name.split("-")[1]) for name in form if name.startswith("sections-") and name.split("-")[1].isdigit()}
    )
    for posted, index in enumerate(indexes):
        row = {part: form.get(f"sections-{index}-{part}", "").strip() for part in ("key", "title", "guidance")}
        if not row["title"] and not row["guidance"]:
            continue
        try:
            position = float(form.get(f"sections-{index}-position", "") or posted + 1)
        except ValueError:
            position = posted + 1
        rows.append((position, posted, row))
    return [row for _, _, row in sorted(rows, key=lambda item: (item[0], item[1]))]


def section_rows_for_editor(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The editor's rows: the template's sections, then a few blank ones to add more."""
    rows = [dict(section, position=index + 1) for index, section in enumerate(sections)]
    start = len(rows)
    rows.extend({"key": "", "title": "", "guidance": "", "position": start + n + 1} for n in range(BLANK_SECTION_ROWS))
    return rows
