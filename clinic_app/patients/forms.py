"""The registration and edit form. It only parses (and carries the CSRF token): the service
validates, and its field errors are put back on these fields."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TelField, TextAreaField

from clinic_app.core.crypto import Unreadable
from clinic_app.core.errors import FieldError
from clinic_app.core.web import put_errors
from clinic_app.patients.validation import EARLIEST_BIRTH, NAME_MAX, NOTES_MAX, PART_MAX, SEX_CHOICES

TEXT_FIELDS = ("first_name", "last_name", "preferred_name", "date_of_birth", "sex", "gender", "email", "notes")
PHONE_FIELDS = {"mobile_phone": "mobile", "home_phone": "home", "work_phone": "work", "other_phone": "other"}
ADDRESS_FIELDS = {
    "address_line1": "line1",
    "address_line2": "line2",
    "suburb": "suburb",
    "state": "state",
    "postcode": "postcode",
    "country": "country",
}
EMERGENCY_FIELDS = {"emergency_name": "name", "emergency_relationship": "relationship", "emergency_phone": "phone"}


def _max(limit: int) -> dict[str, Any]:
    return {"maxlength": limit}


class PatientForm(FlaskForm):
    first_name = StringField("First name", render_kw={**_max(NAME_MAX), "autocomplete": "off"})
    last_name = StringField("Last name", render_kw={**_max(NAME_MAX), "autocomplete": "off"})
    preferred_name = StringField("Preferred name", render_kw=_max(NAME_MAX))
    date_of_birth = StringField("Date of birth", render_kw={"type": "date", "min": EARLIEST_BIRTH.isoformat()})
    sex = SelectField("Sex", choices=[("", "Not recorded"), *SEX_CHOICES.items()], default="", validate_choice=False)
    gender = StringField("Gender identity", render_kw=_max(100))
    mobile_phone = TelField("Mobile phone", render_kw={"autocomplete": "off", "inputmode": "tel"})
    home_phone = TelField("Home phone", render_kw={"autocomplete": "off", "inputmode": "tel"})
    work_phone = TelField("Work phone", render_kw={"autocomplete": "off", "inputmode": "tel"})
    other_phone = TelField("Other phone", render_kw={"autocomplete": "off", "inputmode": "tel"})
    email = EmailField("E-mail address", render_kw={"autocomplete": "off"})
    address_line1 = StringField("Address", render_kw=_max(PART_MAX))
    address_line2 = StringField("Address line 2", render_kw=_max(PART_MAX))
    suburb = StringField("Suburb or town", render_kw=_max(PART_MAX))
    state = StringField("State", render_kw=_max(PART_MAX))
    postcode = StringField("Postcode", render_kw=_max(PART_MAX))
    country = StringField("Country", render_kw=_max(PART_MAX))
    emergency_name = StringField("Name", render_kw=_max(PART_MAX))
    emergency_relationship = StringField("Relationship", render_kw=_max(PART_MAX))
    emergency_phone = TelField("Phone", render_kw={"inputmode": "tel"})
    notes = TextAreaField("Notes", render_kw={**_max(NOTES_MAX), "rows": 5})
    cliniko_id = StringField("Cliniko patient id", render_kw=_max(100))

    def raw(self, current: Any = None) -> tuple[dict[str, Any], dict[int, str]]:
        """The submitted values in the service's shape, and which form field each phone came from
        (so ``phones.N`` errors land on the right box).

        With ``current`` (the record being edited) nothing the form cannot show is lost: a field
        that could not be decrypted is left out when left blank (so saving does not erase it),
        and phones or external ids beyond the form's boxes are kept.
        """
        raw: dict[str, Any] = {name: getattr(self, name).data for name in TEXT_FIELDS}
        phones, origins = [], {}
        for field_name, kind in PHONE_FIELDS.items():
            number = (getattr(self, field_name).data or "").strip()
            if number:
                origins[len(phones)] = field_name
                phones.append({"type": kind, "number": number})
        raw["phones"] = phones + [p.as_dict() for p in unplaced_phones(current)]
        raw["address"] = {part: getattr(self, name).data for name, part in ADDRESS_FIELDS.items()}
        raw["emergency_contact"] = {part: getattr(self, name).data for name, part in EMERGENCY_FIELDS.items()}
        # Ids of systems the form does not show are kept as they are.
        external_ids = dict(_readable(getattr(current, "external_ids", None)) or {})
        external_ids.pop("cliniko", None)
        cliniko = (self.cliniko_id.data or "").strip()
        raw["external_ids"] = external_ids | ({"cliniko": cliniko} if cliniko else {})
        for name in getattr(current, "unreadable_fields", ()):
            if _blank(raw.get(name)):
                raw.pop(name, None)
        return raw, origins

    def show_errors(self, errors: list[FieldError], phone_origins: dict[int, str]) -> None:
        """Attach the service's field errors to the form fields they are about."""
        renames = {problem.field: self._field_for(problem.field, phone_origins).name for problem in errors}
        put_errors(self, errors, renames=renames)

    def _field_for(self, name: str, phone_origins: dict[int, str]) -> Any:
        parts = name.split(".")
        if parts[0] == "phones" and len(parts) > 1 and parts[1].isdigit():
            return getattr(self, phone_origins.get(int(parts[1]), "mobile_phone"))
        if parts[0] == "phones":
            return self.mobile_phone
        if parts[0] == "address" and len(parts) > 1:
            reverse = {part: field for field, part in ADDRESS_FIELDS.items()}
            return getattr(self, reverse.get(parts[1], "address_line1"))
        if parts[0] == "emergency_contact" and len(parts) > 1:
            reverse = {part: field for field, part in EMERGENCY_FIELDS.items()}
            return getattr(self, reverse.get(parts[1], "emergency_name"))
        if parts[0] == "external_ids":
            return self.cliniko_id
        return getattr(self, parts[0], None) or self.first_name

    def fill(self, view: Any) -> None:
        """Put a decrypted record into the form (unreadable values stay empty)."""
        self.first_name.data = view.first_name
        self.last_name.data = view.last_name
        self.preferred_name.data = view.preferred_name or ""
        born = _readable(view.date_of_birth)
        self.date_of_birth.data = born.isoformat() if born else ""
        self.sex.data = _readable(view.sex) or ""
        self.gender.data = _readable(view.gender) or ""
        self.email.data = _readable(view.email) or ""
        self.notes.data = _readable(view.notes) or ""
        for field_name, phone in _placed_phones(view).items():
            getattr(self, field_name).data = phone.number
        address = _readable(view.address) or {}
        for field_name, part in ADDRESS_FIELDS.items():
            getattr(self, field_name).data = address.get(part, "")
        contact = _readable(view.emergency_contact) or {}
        for field_name, part in EMERGENCY_FIELDS.items():
            getattr(self, field_name).data = contact.get(part, "")
        self.cliniko_id.data = (_readable(view.external_ids) or {}).get("cliniko", "")


def _readable(value: Any) -> Any:
    return None if isinstance(value, Unreadable) else value


def _placed_phones(view: Any) -> dict[str, Any]:
    """The first phone of each type, by the form box that shows it."""
    placed: dict[str, Any] = {}
    for phone in _readable(getattr(view, "phones", None)) or ():
        field_name = next(f for f, kind in PHONE_FIELDS.items() if kind == phone.type)
        placed.setdefault(field_name, phone)
    return placed


def unplaced_phones(view: Any) -> list[Any]:
    """Phones of the record that have no box in the form (a second mobile, say)."""
    placed = {phone.number for phone in _placed_phones(view).values()}
    return [p for p in _readable(getattr(view, "phones", None)) or () if p.number not in placed]


def _blank(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_blank(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return value is None or (isinstance(value, str) and not value.strip())
