"""Turning what a form or an API client sent into a validated ``PatientInput``.

Every field is checked and every problem reported at once (an ``Invalid`` listing each field), so
a receptionist fixes the whole form in one go and an API client gets one 422. Text such as
``<script>`` is accepted as data: templates always escape it, and it is never interpreted.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.time import EARLIEST_DAY
from clinic_app.patients.models import NAME_MAX

PHONE_TYPES = ("mobile", "home", "work", "other")
SEX_CHOICES: dict[str, str] = {
    "female": "Female",
    "male": "Male",
    "intersex": "Intersex",
    "not_stated": "Prefer not to say",
}
ADDRESS_PARTS = ("line1", "line2", "suburb", "state", "postcode", "country")
EMERGENCY_PARTS = ("name", "relationship", "phone")
FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "preferred_name",
        "date_of_birth",
        "sex",
        "gender",
        "phones",
        "email",
        "address",
        "emergency_contact",
        "notes",
        "external_ids",
    }
)
NOTES_MAX = 5000
PART_MAX = 200
GENDER_MAX = 100
EMAIL_MAX = 254
EXTERNAL_ID_MAX = 100
MAX_PHONES = 10
# A date of birth is not in the future and not before the first day the app accepts at all.
EARLIEST_BIRTH = EARLIEST_DAY

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SYSTEM = re.compile(r"[a-z][a-z0-9_]{0,30}")
_PHONE_LIKE = re.compile(r"\+?[\d\s().\-]+")
# Line and paragraph separators, surrogates and C0/C1 controls have no place in a name.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_MULTILINE_ALLOWED = frozenset("\n\t")


@dataclass(frozen=True)
class Phone:
    type: str  # one of PHONE_TYPES
    number: str  # E.164, e.g. "+61412345678"

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "number": self.number}


@dataclass(frozen=True)
class PatientInput:
    """Validated values. ``provided`` names the fields to write (all of them for a create or a
    full form; those present in the request for a partial API update)."""

    first_name: str = ""
    last_name: str = ""
    preferred_name: str | None = None
    date_of_birth: date | None = None
    sex: str | None = None
    gender: str | None = None
    phones: tuple[Phone, ...] = ()
    email: str | None = None
    address: dict[str, str] | None = None
    emergency_contact: dict[str, str] | None = None
    notes: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    provided: frozenset[str] = FIELDS


def name_key(value: str | None) -> str:
    """The search and sort form of a name: accents dropped, case folded, apostrophes removed,
    hyphens and runs of spaces made one space ("O'Brien-Zoë" → "obrien zoe")."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    plain = re.sub("['\u2019`]", "", plain).replace("-", " ").replace(",", " ")
    return " ".join(plain.split())[:NAME_MAX]


def normalise_email(value: str) -> str:
    """The blind-index form of an address: trimmed and lower-cased."""
    return value.strip().lower()


def parse_phone(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    """A valid number read in the organization's region (local or international format), or None."""
    if not value or len(value) > 40:
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def to_e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(query: str) -> bool:
    return bool(_PHONE_LIKE.fullmatch(query.strip())) and sum(ch.isdigit() for ch in query) >= 6


@functools.lru_cache(maxsize=4096)
def format_phone(e164: str) -> str:
    """A stored number for people to read, in international format (+61 412 345 678)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


class _Checker:
    """Collects every field's problem while the values are read."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def text(
        self, value: Any, name: str, *, limit: int, required: str | None = None, multiline: bool = False
    ) -> str | None:
        """Trimmed text or None; a message when it is not text, too long, or holds control characters."""
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(name, required)
            return None
        if not isinstance(value, str):
            self.fail(name, "Enter text.")
            return None
        text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
        allowed = _MULTILINE_ALLOWED if multiline else frozenset()
        if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES and ch not in allowed for ch in text):
            what = "control characters" if multiline else "line breaks, tabs or other control characters"
            self.fail(name, f"Remove the {what}.")
            return None
        if len(text) > limit:
            self.fail(name, f"Use at most {limit} characters (this has {len(text)}).")
            return None
        return text

    def date_of_birth(self, value: Any, today: date) -> date | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, date):
            candidate = value
        else:
            text = value.strip() if isinstance(value, str) else ""
            if not _ISO_DATE.fullmatch(text):
                self.fail("date_of_birth", "Enter the date of birth as YYYY-MM-DD, for example 1971-03-04.")
                return None
            try:
                candidate = date.fromisoformat(text)
            except ValueError:
                self.fail("date_of_birth", f"{text} is not a real date.")
                return None
        if candidate > today:
            self.fail("date_of_birth", "The date of birth cannot be in the future.")
            return None
        if candidate < EARLIEST_BIRTH:
            self.fail("date_of_birth", f"The date of birth cannot be before {EARLIEST_BIRTH.year}.")
            return None
        return candidate

    def phone_number(self, value: Any, name: str, *, required: bool = True) -> phonenumbers.PhoneNumber | None:
        text = self.text(value, name, limit=40, required="Enter a phone number." if required else None)
        if text is None:
            return None
        number = parse_phone(text, self.region)
        if number is None:
            self.fail(name, f"Enter a valid phone number, for example {_example(self.region)}.")
        return number

    def phones(self, value: Any) -> tuple[Phone, ...]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            self.fail("phones", "Give a list of phone numbers.")
            return ()
        if len(value) > MAX_PHONES:
            self.fail("phones", f"Give at most {MAX_PHONES} phone numbers.")
            return ()
        phones: list[Phone] = []
        for index, entry in enumerate(value):
            if not isinstance(entry, Mapping):
                self.fail(f"phones.{index}", "Give each phone as an object with a type and a number.")
                continue
            kind = entry.get("type") or None
            if kind is not None and kind not in PHONE_TYPES:
                self.fail(f"phones.{index}.type", f"Choose one of: {', '.join(PHONE_TYPES)}.")
                continue
            number = self.phone_number(entry.get("number"), f"phones.{index}.number")
            if number is None:
                continue
            if kind is None:
                kind = "mobile" if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE else "other"
            e164 = to_e164(number)
            if all(p.number != e164 for p in phones):
                phones.append(Phone(kind, e164))
        # Mobile numbers first: the first phone is the one the list shows and reminders use.
        return tuple(sorted(phones, key=lambda p: p.type != "mobile"))

    def email(self, value: Any) -> str | None:
        text = self.text(value, "email", limit=EMAIL_MAX)
        if text is None:
            return None
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            self.fail("email", "Enter a valid e-mail address, for example name@example.com.")
            return None

    def parts(self, value: Any, name: str, parts: tuple[str, ...]) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.fail(name, f"Give the {name.replace('_', ' ')} as an object.")
            return None
        result: dict[str, str] = {}
        for part in parts:
            if part == "phone":
                number = self.phone_number(value.get(part), f"{name}.{part}", required=False)
                if number is not None:
                    result[part] = to_e164(number)
                continue
            text = self.text(value.get(part), f"{name}.{part}", limit=PART_MAX)
            if text:
                result[part] = text
        return result or None

    def external_ids(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail("external_ids", 'Give external ids as an object, for example {"cliniko": "123"}.')
            return {}
        result: dict[str, str] = {}
        for system, identifier in value.items():
            if not isinstance(system, str) or not _SYSTEM.fullmatch(system):
                self.fail("external_ids", "Name each system in lower case, for example cliniko.")
                continue
            text = self.text(identifier, f"external_ids.{system}", limit=EXTERNAL_ID_MAX)
            if text:
                result[system] = text
        return result


def _example(region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "+61 412 345 678"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)


def validate_patient_input(
    raw: Mapping[str, Any], region: str, *, partial: bool = False, today: date | None = None
) -> PatientInput:
    """Check every field of ``raw`` and return the validated values.

    ``region`` (the organization's, e.g. "AU") reads local phone numbers. With ``partial`` only
    the fields present in ``raw`` are checked and marked as provided (a partial API update).
    Raises ``Invalid`` listing every field's problem; nothing is returned half-checked.
    """
    check = _Checker(region)
    today = today or date.today()
    provided = frozenset(name for name in FIELDS if name in raw) if partial else FIELDS
    values: dict[str, Any] = {}
    for name in ("first_name", "last_name"):
        if name in provided:
            label = name.replace("_", " ")
            values[name] = check.text(raw.get(name), name, limit=NAME_MAX, required=f"Enter the {label}.") or ""
    if "preferred_name" in provided:
        values["preferred_name"] = check.text(raw.get("preferred_name"), "preferred_name", limit=NAME_MAX)
    if "date_of_birth" in provided:
        values["date_of_birth"] = check.date_of_birth(raw.get("date_of_birth"), today)
    if "sex" in provided:
        sex = raw.get("sex") or None
        if sex is not None and sex not in SEX_CHOICES:
            check.fail("sex", f"Choose one of: {', '.join(SEX_CHOICES)}.")
            sex = None
        values["sex"] = sex
    if "gender" in provided:
        values["gender"] = check.text(raw.get("gender"), "gender", limit=GENDER_MAX)
    if "phones" in provided:
        values["phones"] = check.phones(raw.get("phones"))
    if "email" in provided:
        values["email"] = check.email(raw.get("email"))
    if "address" in provided:
        values["address"] = check.parts(raw.get("address"), "address", ADDRESS_PARTS)
    if "emergency_contact" in provided:
        values["emergency_contact"] = check.parts(raw.get("emergency_contact"), "emergency_contact", EMERGENCY_PARTS)
    if "notes" in provided:
        values["notes"] = check.text(raw.get("notes"), "notes", limit=NOTES_MAX, multiline=True)
    if "external_ids" in provided:
        values["external_ids"] = check.external_ids(raw.get("external_ids"))
    if check.errors:
        raise Invalid(errors=check.errors)
    return PatientInput(**values, provided=provided)
