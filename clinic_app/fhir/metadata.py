"""``GET /fhir/R4/metadata``: the CapabilityStatement (public, as FHIR servers publish it)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app

from clinic_app.core.access import public
from clinic_app.fhir import bp, common

SEARCHES: dict[str, list[tuple[str, str, str]]] = {
    "Patient": [
        ("_id", "token", "The patient's id"),
        ("name", "string", "Starts with, on any of the patient's names"),
        ("birthdate", "date", "Exact date of birth (YYYY-MM-DD)"),
        ("identifier", "token", "An external id as system|value, e.g. cliniko|1234"),
        ("active", "token", "false for archived patients"),
    ],
    "Practitioner": [("_id", "token", "The practitioner's id"), ("name", "string", "Starts with, first or last name")],
    "Appointment": [
        ("_id", "token", "The appointment's id"),
        ("patient", "reference", "Patient/<id>"),
        ("practitioner", "reference", "Practitioner/<id>"),
        ("date", "date", "The start, with ge/gt/le/lt/eq prefixes; repeatable"),
        ("status", "token", "booked, fulfilled, cancelled or noshow (comma-separated)"),
    ],
    "Encounter": [
        ("patient", "reference", "Patient/<id>"),
        ("date", "date", "The start of the consultation"),
        ("status", "token", "in-progress, finished or cancelled"),
    ],
    "Observation": [
        ("patient", "reference", "Patient/<id> (required)"),
        ("code", "token", "A LOINC code (8867-4), system|code, or the app's metric name"),
        ("date", "date", "When the value was observed"),
        ("category", "token", "vital-signs, activity, laboratory or survey"),
    ],
    "DocumentReference": [("patient", "reference", "Patient/<id>"), ("date", "date", "When the report was signed")],
}


def capability_statement() -> dict[str, Any]:
    resources = [
        {
            "type": name,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": param, "type": kind, "documentation": text} for param, kind, text in params],
        }
        for name, params in SEARCHES.items()
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-07",
        "kind": "instance",
        "software": {"name": "Clinic app", "version": current_app.config.get("VERSION", "0")},
        "implementation": {"description": "Clinic app FHIR R4 read API", "url": common.base_url()},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Bearer tokens only (an organization API token or an access token); a token "
                "reads its own organization. Searches page with _count (1-100, default 20) and a next link.",
                "security": {
                    "cors": True,
                    "description": "Authorization: Bearer <token>. CORS for the organization's allowed origins.",
                },
                "resource": resources,
            }
        ],
    }


@bp.get("/metadata")
@public
def metadata() -> Response:
    return common.answer(capability_statement())
