"""JSON shapes of the patients API.

Request schemas check only the JSON types; the service checks the values (lengths, dates, phone
numbers, e-mail) so that one 422 lists every field's problem at once. The documented limits are in
the OpenAPI document through ``json_schema_extra`` rather than enforced twice.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.crypto import Unreadable
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.patients.search import DEFAULT_LIMIT, MAX_LIMIT, TOTAL_CAP, PatientPage
from clinic_app.patients.storage import PatientRow, PatientView
from clinic_app.patients.validation import EMAIL_MAX, GENDER_MAX, NAME_MAX, NOTES_MAX, PART_MAX, SEX_CHOICES

# The consultation history on the patient's path answered its 100 newest in one go before it paged;
# a client that sends nothing still gets those.
HISTORY_PAGE_MAX = 100

PhoneType = Literal["mobile", "home", "work", "other"]  # validation.PHONE_TYPES


def _doc(**schema: Any) -> Any:
    return Field(default=None, json_schema_extra=schema)


class PhoneIn(Schema):
    type: PhoneType | None = Field(default=None, description="Guessed from the number when left out")
    number: str = Field(description="Local (read in the organization's region) or international format")


class AddressIn(Schema):
    line1: str | None = _doc(maxLength=PART_MAX)
    line2: str | None = _doc(maxLength=PART_MAX)
    suburb: str | None = _doc(maxLength=PART_MAX)
    state: str | None = _doc(maxLength=PART_MAX)
    postcode: str | None = _doc(maxLength=PART_MAX)
    country: str | None = _doc(maxLength=PART_MAX)


class EmergencyContactIn(Schema):
    name: str | None = _doc(maxLength=PART_MAX)
    relationship: str | None = _doc(maxLength=PART_MAX)
    phone: str | None = _doc(description="Validated like the patient's phones")


class _PatientFields(Schema):
    preferred_name: str | None = _doc(maxLength=NAME_MAX)
    date_of_birth: str | None = _doc(format="date", description="YYYY-MM-DD; not in the future, not before 1900")
    sex: str | None = _doc(enum=[*SEX_CHOICES, None])
    gender: str | None = _doc(maxLength=GENDER_MAX)
    phones: list[PhoneIn] | None = _doc(description="Stored in E.164; mobile numbers first", maxItems=10)
    email: str | None = _doc(format="email", maxLength=EMAIL_MAX)
    address: AddressIn | None = None
    emergency_contact: EmergencyContactIn | None = None
    notes: str | None = _doc(maxLength=NOTES_MAX)
    external_ids: dict[str, str] | None = _doc(description='Ids in other systems, e.g. {"cliniko": "123"}')


class PatientCreate(_PatientFields):
    """A new patient. Only the names are required."""

    first_name: str = Field(json_schema_extra={"maxLength": NAME_MAX})
    last_name: str = Field(json_schema_extra={"maxLength": NAME_MAX})


class PatientUpdate(_PatientFields):
    """Fields to change: a field left out keeps its value, a field sent as null is cleared
    (names cannot be cleared)."""

    first_name: str | None = _doc(maxLength=NAME_MAX)
    last_name: str | None = _doc(maxLength=NAME_MAX)


def raw_input(body: Schema, *, partial: bool) -> dict[str, Any]:
    """The request as the plain dict the service validates (only the fields sent, when partial)."""
    return body.model_dump(exclude_unset=partial)


class PhoneOut(Schema):
    type: PhoneType
    number: str = Field(description="E.164, e.g. +61412345678")


class AddressOut(Schema):
    line1: str | None = None
    line2: str | None = None
    suburb: str | None = None
    state: str | None = None
    postcode: str | None = None
    country: str | None = None


class EmergencyContactOut(Schema):
    name: str | None = None
    relationship: str | None = None
    phone: str | None = None


class PatientOut(Schema):
    """A patient record. A field that could not be decrypted is null and named in
    ``unreadable_fields`` (the failure is an alarm in the audit trail)."""

    id: str
    first_name: str
    last_name: str
    preferred_name: str | None
    date_of_birth: date | None
    sex: str | None
    gender: str | None
    phones: list[PhoneOut] | None
    email: str | None
    address: AddressOut | None
    emergency_contact: EmergencyContactOut | None
    notes: str | None
    external_ids: dict[str, str] | None
    archived: bool
    archived_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    created_by_id: str | None
    updated_by_id: str | None
    unreadable_fields: list[str]

    @classmethod
    def of(cls, view: PatientView) -> PatientOut:
        def readable(value: Any) -> Any:
            return None if isinstance(value, Unreadable) else value

        phones = readable(view.phones)
        return cls(
            id=view.id,
            first_name=view.first_name,
            last_name=view.last_name,
            preferred_name=view.preferred_name,
            date_of_birth=readable(view.date_of_birth),
            sex=readable(view.sex),
            gender=readable(view.gender),
            phones=[PhoneOut(type=p.type, number=p.number) for p in phones] if phones is not None else None,
            email=readable(view.email),
            address=readable(view.address),
            emergency_contact=readable(view.emergency_contact),
            notes=readable(view.notes),
            external_ids=readable(view.external_ids),
            archived=view.archived,
            archived_at=view.archived_at,
            created_at=view.created_at,
            updated_at=view.updated_at,
            created_by_id=view.created_by_id,
            updated_by_id=view.updated_by_id,
            unreadable_fields=list(view.unreadable_fields),
        )


class PatientListItem(Schema):
    """A patient as lists show it: names, date of birth, the primary (mobile first) phone and e-mail."""

    id: str
    first_name: str
    last_name: str
    preferred_name: str | None
    date_of_birth: date | None
    primary_phone: str | None = Field(description="E.164")
    email: str | None
    archived: bool
    created_at: Timestamp
    unreadable_fields: list[str]

    @classmethod
    def of(cls, row: PatientRow) -> PatientListItem:
        phone = row.primary_phone
        return cls(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            preferred_name=row.preferred_name,
            date_of_birth=None if isinstance(row.date_of_birth, Unreadable) else row.date_of_birth,
            primary_phone=phone.number if phone and not isinstance(phone, Unreadable) else None,
            email=None if isinstance(row.email, Unreadable) else row.email,
            archived=row.archived,
            created_at=row.created_at,
            unreadable_fields=list(row.unreadable_fields),
        )


class PatientListOut(Schema):
    patients: list[PatientListItem]
    total_count: int | None = Field(description=f"Matching patients; null when there are more than {TOTAL_CAP:,}")
    limit: int
    next_cursor: str | None = next_cursor_field()
    has_more: bool

    @classmethod
    def of(cls, page: PatientPage) -> PatientListOut:
        return cls(
            patients=[PatientListItem.of(row) for row in page.rows],
            total_count=page.total,
            limit=page.limit,
            next_cursor=page.next_cursor,
            has_more=page.has_more,
        )


class PatientListQuery(Schema):
    limit: int = limit_field(DEFAULT_LIMIT, MAX_LIMIT)
    cursor: str | None = cursor_field()
    status: Literal["active", "archived", "all"] = Field(default="active", description="Archived patients or not")
    sort: Literal["name", "recent"] = Field(default="name", description="Last name, or newest first")


class PatientSearchQuery(PatientListQuery):
    q: str = Field(
        min_length=1,
        max_length=200,
        description='A name prefix ("smi", "jane smi"), or an exact e-mail address or phone number',
    )


class PatientHistoryQuery(Schema):
    limit: int = limit_field(HISTORY_PAGE_MAX, HISTORY_PAGE_MAX)
    cursor: str | None = cursor_field()


class PatientHistoryOut(Schema):
    patient_id: str
    consultations: list[dict[str, Any]] = Field(description="Newest first, as in /api/v1/consultation/history")
    total: int
    next_cursor: str | None = next_cursor_field()
