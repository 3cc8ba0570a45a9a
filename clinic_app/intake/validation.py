"""Checking intake answers: the presenting problem and the details of each symptom.

Both the step form and the JSON API come through here, so they accept and refuse the same things.
Answers arrive flat, named as the form names them (``illness_duration_value``, ``severity``); each
check reports every problem at once as an ``Invalid`` listing the fields, and returns nothing
half-checked. Free text such as ``<script>`` is data: templates escape it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clinic_app.core.errors import FieldError, Invalid

UNITS: dict[str, str] = {"days": "days", "weeks": "weeks", "months": "months", "years": "years"}
# About 120 years in each unit: longer is a typing mistake, not a history.
UNIT_MAX = {"days": 43_800, "weeks": 6_260, "months": 1_440, "years": 120}
SEVERITIES: dict[str, str] = {"mild": "Mild", "moderate": "Moderate", "severe": "Severe"}
FREQUENCIES: dict[str, str] = {
    "constant": "Constant",
    "daily": "Daily",
    "weekly": "Weekly",
    "occasional": "Occasional",
}
INFORMANTS: dict[str, str] = {
    "self": "The patient",
    "spouse": "Spouse or partner",
    "parent": "Parent",
    "child": "Son or daughter",
    "sibling": "Brother or sister",
    "relative": "Other relative",
    "friend": "Friend",
    "carer": "Carer or support worker",
    "other": "Someone else",
}
# Words API clients of the old system send for the informant choices.
_INFORMANT_WORDS = {
    "patient": "self",
    "partner": "spouse",
    "husband": "spouse",
    "wife": "spouse",
    "mother": "parent",
    "father": "parent",
    "son": "child",
    "daughter": "child",
    "brother": "sibling",
    "sister": "sibling",
    "caregiver": "carer",
    "guardian": "carer",
}

PRESENTING_PROBLEM_MAX = 2000
NARRATIVE_MAX = 5000
REFERRED_BY_MAX = 200
INFORMANT_DETAILS_MAX = 500
TAG_MAX, TAGS_MAX = 50, 20
NOTES_MAX = 2000
ONSET_MAX = 500
TRIGGER_MAX, TRIGGERS_MAX = 100, 20
SYMPTOMS_MAX = 50

PRESENTING_FIELDS = (
    "presenting_problem",
    "informants",
    "informant_details",
    "illness_duration_value",
    "illness_duration_unit",
    "referred_by",
    "precipitating_factors",
    "precipitating_tags",
)
SYMPTOM_DETAIL_FIELDS = (
    "severity",
    "frequency",
    "duration_value",
    "duration_unit",
    "notes",
    "onset_description",
    "triggers",
)

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_WHOLE_NUMBER = re.compile(r"[0-9]{1,12}")
_SIGNED_NUMBER = re.compile(r"[-+]?[0-9]{1,12}(\.[0-9]{0,6})?")
_LIST_SEPARATORS = re.compile(r"[,;\n]")


@dataclass(frozen=True)
class Duration:
    value: int
    unit: str  # one of UNITS

    def label(self) -> str:
        unit = self.unit[:-1] if self.value == 1 else self.unit
        return f"{self.value} {unit}"


@dataclass(frozen=True)
class PresentingProblem:
    presenting_problem: str | None = None
    informants: tuple[str, ...] = ()
    informant_details: str | None = None
    illness_duration: Duration | None = None
    referred_by: str | None = None
    precipitating_factors: str | None = None
    precipitating_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SymptomDetails:
    severity: str
    frequency: str
    duration: Duration | None = None
    notes: str | None = None
    onset_description: str | None = None
    triggers: tuple[str, ...] = ()


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(is_blank(item) for item in value)
    return False


class Checks:
    """Collects each field's problem while the values are read; ``prefix`` goes before every
    field name (``symptoms.<key>.``)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str) -> None:
        self.errors.append(FieldError(self.prefix + name, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise Invalid(errors=self.errors)

    def text(self, value: Any, name: str, *, limit: int, multiline: bool = False) -> str | None:
        if is_blank(value):
            return None
        if not isinstance(value, str):
            self.fail(name, "Enter text.")
            return None
        text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
        allowed = "\n\t" if multiline else ""
        if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES and ch not in allowed for ch in text):
            self.fail(
                name,
                "Remove the line breaks or control characters." if not multiline else "Remove the control characters.",
            )
            return None
        if len(text) > limit:
            self.fail(name, f"Use at most {limit:,} characters (this has {len(text):,}).")
            return None
        return text

    def choice(self, value: Any, name: str, choices: Mapping[str, str], *, required: str | None = None) -> str | None:
        if is_blank(value):
            if required:
                self.fail(name, required)
            return None
        key = value.strip().lower() if isinstance(value, str) else None
        if key not in choices:
            self.fail(name, f"Choose one of: {', '.join(choices)}.")
            return None
        return key

    def duration(self, value: Any, unit: Any, value_name: str, unit_name: str) -> Duration | None:
        """A whole number above zero with its unit, or None when both are left empty."""
        if is_blank(value) and is_blank(unit):
            return None
        number = None
        if is_blank(value):
            self.fail(value_name, "Enter how long, as a whole number.")
        elif isinstance(value, bool) or not isinstance(value, int | str):
            self.fail(value_name, "Enter a whole number.")
        else:
            text = str(value).strip()
            if _SIGNED_NUMBER.fullmatch(text) and float(text) <= 0:
                self.fail(value_name, "Enter a number greater than 0.")
            elif not _WHOLE_NUMBER.fullmatch(text):
                self.fail(value_name, "Enter a whole number, for example 3.")
            else:
                number = int(text)
        chosen = self.choice(unit, unit_name, UNITS, required="Choose days, weeks, months or years.")
        if number is None or chosen is None:
            return None
        if number > UNIT_MAX[chosen]:
            self.fail(value_name, f"Use at most {UNIT_MAX[chosen]:,} {chosen}.")
            return None
        return Duration(number, chosen)

    def word_list(self, value: Any, name: str, *, item_limit: int, count_limit: int, what: str) -> tuple[str, ...]:
        """Short phrases given as a list, or as one string separated by commas or new lines.
        Repeats (in any case) are dropped."""
        if is_blank(value):
            return ()
        if isinstance(value, str):
            items: Iterable[Any] = _LIST_SEPARATORS.split(value)
        elif isinstance(value, list | tuple):
            items = value
        else:
            self.fail(name, f"Give the {what} as a list.")
            return ()
        kept: list[str] = []
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, str):
                self.fail(name, f"Give each of the {what} as text.")
                return ()
            text = " ".join(item.split())
            if not text:
                continue
            if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in text):
                self.fail(name, "Remove the control characters.")
                return ()
            if len(text) > item_limit:
                self.fail(name, f"Keep each of the {what} to {item_limit} characters (“{text[:20]}…” is longer).")
                return ()
            if text.casefold() not in seen:
                seen.add(text.casefold())
                kept.append(text)
        if len(kept) > count_limit:
            self.fail(name, f"Give at most {count_limit} {what} (there are {len(kept)}).")
            return ()
        return tuple(kept)

    def informants(self, value: Any, name: str) -> tuple[str, ...]:
        if is_blank(value):
            return ()
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list | tuple):
            self.fail(name, "Give the informants as a list.")
            return ()
        chosen: list[str] = []
        for item in values:
            key = item.strip().lower() if isinstance(item, str) else None
            key = _INFORMANT_WORDS.get(key or "", key)
            if key not in INFORMANTS:
                self.fail(name, f"Choose from: {', '.join(INFORMANTS)}.")
                return ()
            if key not in chosen:
                chosen.append(key)
        return tuple(chosen)


def check_presenting_problem(raw: Mapping[str, Any]) -> PresentingProblem:
    """The presenting-problem answers, every field checked. Raises Invalid naming each field."""
    check = Checks()
    problem = PresentingProblem(
        presenting_problem=check.text(
            raw.get("presenting_problem"), "presenting_problem", limit=PRESENTING_PROBLEM_MAX, multiline=True
        ),
        informants=check.informants(raw.get("informants"), "informants"),
        informant_details=check.text(raw.get("informant_details"), "informant_details", limit=INFORMANT_DETAILS_MAX),
        illness_duration=check.duration(
            raw.get("illness_duration_value"),
            raw.get("illness_duration_unit"),
            "illness_duration_value",
            "illness_duration_unit",
        ),
        referred_by=check.text(raw.get("referred_by"), "referred_by", limit=REFERRED_BY_MAX),
        precipitating_factors=check.text(
            raw.get("precipitating_factors"), "precipitating_factors", limit=NARRATIVE_MAX, multiline=True
        ),
        precipitating_tags=check.word_list(
            raw.get("precipitating_tags"), "precipitating_tags", item_limit=TAG_MAX, count_limit=TAGS_MAX, what="tags"
        ),
    )
    check.raise_if_any()
    return problem


def check_symptom_details(raw: Mapping[str, Any], prefix: str = "") -> SymptomDetails:
    """One symptom's severity, frequency, duration, notes, onset and triggers. Severity and
    frequency are required; a duration needs both its number and its unit. Raises Invalid."""
    check = Checks(prefix)
    severity = check.choice(raw.get("severity"), "severity", SEVERITIES, required="Choose how severe it is.")
    frequency = check.choice(raw.get("frequency"), "frequency", FREQUENCIES, required="Choose how often it happens.")
    details = SymptomDetails(
        severity=severity or "",
        frequency=frequency or "",
        duration=check.duration(raw.get("duration_value"), raw.get("duration_unit"), "duration_value", "duration_unit"),
        notes=check.text(raw.get("notes"), "notes", limit=NOTES_MAX, multiline=True),
        onset_description=check.text(
            raw.get("onset_description"), "onset_description", limit=ONSET_MAX, multiline=True
        ),
        triggers=check.word_list(
            raw.get("triggers"), "triggers", item_limit=TRIGGER_MAX, count_limit=TRIGGERS_MAX, what="triggers"
        ),
    )
    check.raise_if_any()
    return details


def fields_with_errors(errors: Iterable[FieldError], prefix: str = "") -> set[str]:
    """The first name part after ``prefix`` of each error's field (``symptoms.k1.notes`` → ``notes``
    for prefix ``symptoms.k1.``)."""
    names = set()
    for error in errors:
        if error.field.startswith(prefix):
            names.add(error.field[len(prefix) :].split(".", 1)[0])
    return names
