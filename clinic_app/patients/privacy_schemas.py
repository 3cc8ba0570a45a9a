"""JSON shapes of the consent and erasure APIs (docs/patients.md, "Consent";
docs/retention.md, "Erasure"). Request schemas check only JSON types; the services check values,
so one 422 lists every field's problem."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.pagination import cursor_field, limit_field, next_cursor_field
from clinic_app.patients.models import ConsentRecord, ErasureRequest
from clinic_app.patients.signals import InventoryLine


def _doc(**schema: Any) -> Any:
    return Field(default=None, json_schema_extra=schema)


class ConsentIn(Schema):
    kind: str | None = _doc(description="treatment, information_sharing, recording, health_data or reminders")
    text_version: str | None = _doc(maxLength=40, description="The version of the consent text the patient agreed to")
    method: str | None = _doc(description="written (the default), verbal or online")


class ConsentOut(Schema):
    id: str
    patient_id: str
    kind: str
    text_version: str
    method: str
    given_at: Timestamp
    recorded_by_id: str | None
    withdrawn_at: Timestamp | None
    withdrawn_by_id: str | None
    active: bool

    @classmethod
    def of(cls, record: ConsentRecord) -> ConsentOut:
        return cls.model_validate(
            {
                **{name: getattr(record, name) for name in cls.model_fields if name != "active"},
                "active": record.withdrawn_at is None,
            }
        )


class ConsentListQuery(Schema):
    limit: int = limit_field(50, 100)
    cursor: str | None = cursor_field()


class ConsentListOut(Schema):
    items: list[ConsentOut]
    next_cursor: str | None = next_cursor_field()


class InventoryLineOut(Schema):
    feature: str
    what: str
    count: int
    action: str = Field(description="erase or keep")
    reason: str | None = Field(description="Why it is kept")
    kept_until: date | None = Field(description="Until when the law keeps it")

    @classmethod
    def of(cls, line: InventoryLine) -> InventoryLineOut:
        return cls.model_validate(line.as_dict())


class InventoryOut(Schema):
    patient_id: str
    erase: list[InventoryLineOut]
    keep: list[InventoryLineOut]
    waiting_days: int = Field(description="How long a request made now waits before it is carried out")


class ErasureRequestIn(Schema):
    reason: str | None = _doc(description="patient_request, registered_in_error, duplicate or other")
    note: str | None = _doc(maxLength=500, description="Required when the reason is other; cleared when carried out")
    confirm_name: str | None = _doc(description="The patient's first and last name, typed again as confirmation")


class ErasureRequestOut(Schema):
    id: str
    patient_id: str
    status: str = Field(description="waiting, cancelled or completed")
    reason: str
    waiting_days: int
    requested_by_id: str | None
    requested_at: Timestamp
    due_at: Timestamp
    cancelled_at: Timestamp | None
    completed_at: Timestamp | None
    outcome: list[dict[str, Any]] | None = Field(description="What was erased and kept (once carried out)")

    @classmethod
    def of(cls, request: ErasureRequest) -> ErasureRequestOut:
        return cls.model_validate({name: getattr(request, name) for name in cls.model_fields})


class ErasureStatusOut(Schema):
    patient_id: str
    erased: bool
    erased_at: Timestamp | None
    requests: list[ErasureRequestOut] = Field(description="Newest first; a patient has a handful at most")


class PrivacySettingsIn(Schema):
    erasure_waiting_days: int | None = _doc(minimum=0, maximum=90)
    consent_at_intake: list[str] | None = Field(default=None, max_length=10)


class PrivacySettingsOut(Schema):
    erasure_waiting_days: int
    consent_at_intake: list[str]
