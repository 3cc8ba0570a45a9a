"""The sandbox's write side: Cliniko's patient and appointment writes, with its validation.

* ``POST /patients`` (201), ``PATCH /patients/<id>``, ``POST /patients/<id>/archive`` and
  ``/unarchive`` (204);
* ``POST /individual_appointments`` (201), ``PATCH /individual_appointments/<id>`` (a move or new
  notes), ``PATCH /individual_appointments/<id>/cancel`` (204, a reason code 10-60 and a note);
* ``GET /businesses/<b>/practitioners/<p>/appointment_types/<t>/available_times?from=&to=``: the
  free starts, 08:00-17:00 in the business's zone, one type's length apart, clear of the
  practitioner's other appointments.

A refused write answers 422 as Cliniko does: ``{"message": ..., "errors": {"field": ["words"]}}``.
Faults for writes only (``Faults.write_error_rate``, ``lost_write_answers`` and
``lost_write_seconds``) apply after the gate in ``app`` (shard, key, rate limit, the general faults).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, g, request

from devtools.sandbox import SandboxClinic, UnknownRecord, data
from devtools.sandbox.faults import drop_connection

PATIENT_TEXT = ("title", "preferred_first_name", "sex", "occupation", "notes", "address_1", "address_2", "city",
                "state", "post_code", "old_reference_id")  # fmt: skip
PHONE_TYPES = ("Mobile", "Home", "Work", "Fax", "Other")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEXT_MAX = 255
NOTES_MAX = 10_000
OPENS, CLOSES = 8, 17  # the business's hours for available_times, local time


class Refused(ValueError):
    """A write Cliniko answers 422 to; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("Validation failed")
        self.errors = errors


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused({"base": ["the body must be a JSON object"]})
    return body


# -- patients -----------------------------------------------------------------------------------


def _patient_changes(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for name in ("first_name", "last_name"):
        if name in body or creating:
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                errors.setdefault(name, []).append("can't be blank")
            elif len(value) > TEXT_MAX:
                errors.setdefault(name, []).append(f"is too long (maximum is {TEXT_MAX} characters)")
            else:
                changes[name] = value.strip()
    for name in PATIENT_TEXT:
        if name in body:
            value = body[name]
            limit = NOTES_MAX if name == "notes" else TEXT_MAX
            if value is not None and not isinstance(value, str):
                errors.setdefault(name, []).append("must be text")
            elif value is not None and len(value) > limit:
                errors.setdefault(name, []).append(f"is too long (maximum is {limit} characters)")
            else:
                changes[name] = value or None
    if "email" in body:
        email = body["email"]
        if email not in (None, "") and (not isinstance(email, str) or not _EMAIL.match(email)):
            errors.setdefault("email", []).append("is invalid")
        else:
            changes["email"] = email or None
    if "date_of_birth" in body:
        born = body["date_of_birth"]
        try:
            parsed = date.fromisoformat(born) if born else None
        except (TypeError, ValueError):
            errors.setdefault("date_of_birth", []).append("is not a date")
        else:
            if parsed is not None and parsed > date.today():
                errors.setdefault("date_of_birth", []).append("can't be in the future")
            else:
                changes["date_of_birth"] = parsed.isoformat() if parsed else None
    if "patient_phone_numbers" in body:
        phones = body["patient_phone_numbers"] or []
        rows = []
        for phone in phones if isinstance(phones, list) else [None]:
            if not isinstance(phone, dict) or phone.get("phone_type") not in PHONE_TYPES:
                errors.setdefault("patient_phone_numbers", []).append(
                    "phone_type must be one of " + ", ".join(PHONE_TYPES)
                )
            elif not isinstance(phone.get("number"), str) or not phone["number"].strip():
                errors.setdefault("patient_phone_numbers", []).append("number can't be blank")
            else:
                rows.append((phone["phone_type"], phone["number"].strip()))
        changes["phones"] = tuple(rows)
    if errors:
        raise Refused(errors)
    return changes


def create_patient(clinic: SandboxClinic, body: dict[str, Any]) -> Any:
    changes = _patient_changes(body, creating=True)
    with clinic.lock:
        rows = clinic.all("patients")
        moment = clinic._tick()
        record_id = (rows[-1].id if rows else data.id_start(clinic.seed, "patients")) + 1000
        patient = data.Patient()
        for name in data.Patient.__slots__:
            setattr(patient, name, None)
        patient.id, patient.created_at, patient.updated_at, patient.phones = record_id, moment, moment, ()
        for attribute, value in changes.items():
            setattr(patient, attribute, value)
        rows.append(patient)
        clinic._by_id["patients"][record_id] = patient
        clinic._changed("patients", None)
        return patient


def _live_patient(clinic: SandboxClinic, patient_id: str) -> Any:
    patient = clinic.get("patients", patient_id)
    if patient.deleted_at is not None:
        raise UnknownRecord(patient_id)
    return patient


# -- appointments -------------------------------------------------------------------------------


def _moment(body: dict[str, Any], name: str, errors: dict[str, list[str]]) -> int | None:
    value = body.get(name)
    if value is None:
        errors.setdefault(name, []).append("can't be blank")
        return None
    try:
        return data.to_ms(value)
    except (TypeError, ValueError):
        errors.setdefault(name, []).append("is not a date-time")
        return None


def _linked(clinic: SandboxClinic, resource: str, value: Any, name: str, errors: dict[str, list[str]]) -> Any:
    try:
        record = clinic.get(resource, str(value))
    except UnknownRecord:
        errors.setdefault(name, []).append("does not exist" if value else "can't be blank")
        return None
    if getattr(record, "deleted_at", None) is not None:
        errors.setdefault(name, []).append("does not exist")
        return None
    return record


def _clash(clinic: SandboxClinic, practitioner: Any, starts: int, ends: int, exclude: int | None) -> bool:
    return any(
        row.practitioner is practitioner
        and row.id != exclude
        and row.cancelled_at is None
        and row.archived_at is None
        and row.deleted_at is None
        and row.starts_at < ends
        and starts < row.ends_at
        for row in clinic.all("individual_appointments")
    )


def _check_slot(clinic: SandboxClinic, appointment: Any, errors: dict[str, list[str]]) -> None:
    if appointment.ends_at <= appointment.starts_at:
        errors.setdefault("ends_at", []).append("must be after starts_at")
    elif _clash(clinic, appointment.practitioner, appointment.starts_at, appointment.ends_at, appointment.id):
        errors.setdefault("starts_at", []).append("clashes with another appointment for this practitioner")
    if not appointment.practitioner.active:
        errors.setdefault("practitioner_id", []).append("is not an active practitioner")
    if appointment.appointment_type.archived_at is not None:
        errors.setdefault("appointment_type_id", []).append("is archived")


def create_appointment(clinic: SandboxClinic, body: dict[str, Any]) -> Any:
    errors: dict[str, list[str]] = {}
    with clinic.lock:
        appointment = data.Appointment()
        appointment.id = None
        appointment.patient = _linked(clinic, "patients", body.get("patient_id"), "patient_id", errors)
        appointment.practitioner = _linked(
            clinic, "practitioners", body.get("practitioner_id"), "practitioner_id", errors
        )
        kind = _linked(clinic, "appointment_types", body.get("appointment_type_id"), "appointment_type_id", errors)
        appointment.appointment_type = kind
        _linked(clinic, "businesses", body.get("business_id"), "business_id", errors)
        starts, ends = _moment(body, "starts_at", errors), _moment(body, "ends_at", errors)
        notes = body.get("notes")
        if notes is not None and (not isinstance(notes, str) or len(notes) > NOTES_MAX):
            errors.setdefault("notes", []).append("must be text of at most 10000 characters")
        if errors:
            raise Refused(errors)
        appointment.starts_at, appointment.ends_at = starts, ends
        _check_slot(clinic, appointment, errors)
        if errors:
            raise Refused(errors)
        moment = clinic._tick()
        appointment.cancelled_at = appointment.cancellation_reason = appointment.cancellation_note = None
        appointment.archived_at = appointment.deleted_at = None
        appointment.did_not_arrive = appointment.patient_arrived = False
        appointment.notes, appointment.created_at, appointment.updated_at = notes or None, moment, moment
        rows = clinic.all("individual_appointments")
        appointment.id = (rows[-1].id if rows else data.id_start(clinic.seed, "individual_appointments")) + 1000
        rows.append(appointment)
        clinic._by_id["individual_appointments"][appointment.id] = appointment
        clinic._changed("individual_appointments", None)
        return appointment


def change_appointment(clinic: SandboxClinic, appointment_id: str, body: dict[str, Any]) -> Any:
    errors: dict[str, list[str]] = {}
    with clinic.lock:
        appointment = clinic.get("individual_appointments", appointment_id)
        if appointment.deleted_at is not None:
            raise UnknownRecord(appointment_id)
        if appointment.cancelled_at is not None:
            raise Refused({"base": ["a cancelled appointment cannot be changed"]})
        changes: dict[str, Any] = {}
        for name, resource in (("practitioner_id", "practitioners"), ("appointment_type_id", "appointment_types"),
                               ("patient_id", "patients")):  # fmt: skip
            if name in body:
                changes[name.removesuffix("_id")] = _linked(clinic, resource, body[name], name, errors)
        for name in ("starts_at", "ends_at"):
            if name in body:
                changes[name] = _moment(body, name, errors)
        if "notes" in body:
            changes["notes"] = body["notes"] or None
        if errors:
            raise Refused(errors)
        if "starts_at" in changes and "ends_at" not in changes:
            changes["ends_at"] = changes["starts_at"] + appointment.ends_at - appointment.starts_at
        before = {name: getattr(appointment, name) for name in changes}
        for name, value in changes.items():
            setattr(appointment, name, value)
        _check_slot(clinic, appointment, errors)
        if errors:
            for name, value in before.items():
                setattr(appointment, name, value)
            raise Refused(errors)
        clinic._apply("individual_appointments", appointment, {})
        clinic._changed("individual_appointments", None)
        return appointment


def cancel_appointment(clinic: SandboxClinic, appointment_id: str, body: dict[str, Any]) -> None:
    reason = body.get("cancellation_reason")
    if isinstance(reason, str) and reason.isdigit():
        reason = int(reason)
    if reason not in data.CANCELLATION_REASONS:
        codes = ", ".join(f"{code} ({words})" for code, words in data.CANCELLATION_REASONS.items())
        raise Refused({"cancellation_reason": [f"must be one of {codes}"]})
    note = body.get("cancellation_note")
    if note is not None and not isinstance(note, str):
        raise Refused({"cancellation_note": ["must be text"]})
    with clinic.lock:
        appointment = clinic.get("individual_appointments", appointment_id)
        if appointment.deleted_at is not None:
            raise UnknownRecord(appointment_id)
        if appointment.cancelled_at is None:
            clinic.cancel_appointment(appointment_id, reason=reason, note=note or None)


def available_times(clinic: SandboxClinic, business_id: str, practitioner_id: str, type_id: str) -> list[str]:
    try:
        first, last = date.fromisoformat(request.args["from"]), date.fromisoformat(request.args["to"])
    except (KeyError, ValueError):
        raise Refused({"from": ["from and to are required dates (YYYY-MM-DD)"]}) from None
    if last < first or (last - first).days > 7:
        raise Refused({"to": ["must be on or after from and at most 7 days later"]})
    with clinic.lock:
        business = clinic.get("businesses", business_id)
        practitioner = clinic.get("practitioners", practitioner_id)
        kind = clinic.get("appointment_types", type_id)
        zone = ZoneInfo(business.time_zone)
        length = kind.duration * data.MINUTE_MS
        now = clinic._tick()
        starts: list[str] = []
        day = first
        while day <= last:
            moment = datetime(day.year, day.month, day.day, OPENS, tzinfo=zone)
            closing = datetime(day.year, day.month, day.day, CLOSES, tzinfo=zone)
            while moment + timedelta(minutes=kind.duration) <= closing:
                start = int(moment.timestamp() * 1000)
                if start > now and not _clash(clinic, practitioner, start, start + length, None):
                    starts.append(data.iso(start) or "")
                moment += timedelta(minutes=kind.duration)
            day += timedelta(days=1)
        return starts


# -- routes -------------------------------------------------------------------------------------


def register_writes(app: Flask, clinic: SandboxClinic, api_base: Callable[[str], str]) -> None:
    """Attach the write routes to the sandbox's app (the gate in ``app`` has already run)."""

    def answer(shard: str, work: Callable[[], Any], status: int = 200) -> Response:
        refused = clinic.injector.write_failure()
        if refused == 429:
            return _json({"message": "Rate limit exceeded; retry shortly."}, 429, {"Retry-After": "0"})
        if refused is not None:
            return _json({"message": "Bad gateway."}, refused)
        try:
            record = work()
        except UnknownRecord:
            return _json({"message": "Not found."}, 404)
        except Refused as refusal:
            return _json({"message": "Validation failed", "errors": refusal.errors}, 422)
        if clinic.injector.lose_this_answer():
            late = clinic.faults.lost_write_seconds
            if late:
                time.sleep(late)  # the client's timeout passes first: the change is made, unheard
            elif drop_connection(request.environ):
                g.dropped = True
                return Response(status=502)  # never reaches the client: the change is made, the answer lost
        if record is None:
            return Response(status=204)
        with clinic.lock:
            return _json(record.render(api_base(shard)), status)

    @app.post("/<shard>/v1/patients")
    def post_patient(shard: str) -> Response:
        return answer(shard, lambda: create_patient(clinic, _body()), 201)

    @app.patch("/<shard>/v1/patients/<patient_id>")
    def patch_patient(shard: str, patient_id: str) -> Response:
        def work() -> Any:
            changes = _patient_changes(_body(), creating=False)
            with clinic.lock:
                patient = _live_patient(clinic, patient_id)
                clinic._apply("patients", patient, changes)
                return patient

        return answer(shard, work)

    @app.post("/<shard>/v1/patients/<patient_id>/<action>")
    def archive_patient(shard: str, patient_id: str, action: str) -> Response:
        if action not in ("archive", "unarchive"):
            return _json({"message": "Not found."}, 404)

        def work() -> None:
            with clinic.lock:
                patient = _live_patient(clinic, patient_id)
                if action == "archive" and patient.archived_at is None:
                    clinic.archive_patient(patient_id)
                elif action == "unarchive" and patient.archived_at is not None:
                    clinic._apply("patients", patient, {"archived_at": None})

        return answer(shard, work)

    @app.post("/<shard>/v1/individual_appointments")
    def post_appointment(shard: str) -> Response:
        return answer(shard, lambda: create_appointment(clinic, _body()), 201)

    @app.patch("/<shard>/v1/individual_appointments/<appointment_id>")
    def patch_appointment(shard: str, appointment_id: str) -> Response:
        return answer(shard, lambda: change_appointment(clinic, appointment_id, _body()))

    @app.patch("/<shard>/v1/individual_appointments/<appointment_id>/cancel")
    def cancel(shard: str, appointment_id: str) -> Response:
        return answer(shard, lambda: cancel_appointment(clinic, appointment_id, _body()))

    @app.get("/<shard>/v1/businesses/<business_id>/practitioners/<practitioner_id>/appointment_types/<type_id>"
             "/available_times")  # fmt: skip
    def free_times(shard: str, business_id: str, practitioner_id: str, type_id: str) -> Response:
        try:
            starts = available_times(clinic, business_id, practitioner_id, type_id)
        except UnknownRecord:
            return _json({"message": "Not found."}, 404)
        except Refused as refusal:
            return _json({"message": "Validation failed", "errors": refusal.errors}, 422)
        items = [{"appointment_start": start} for start in starts]
        return _json({"available_times": items, "total_entries": len(items), "links": {"self": request.url}})
