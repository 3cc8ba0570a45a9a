"""A clinic's day for the page-by-page browser checks (accessibility, narrow screens): a
clinician with appointments today, patients with long e-mail addresses, two patients of the same
name, a consultation in progress (transcript and medication plan) and a draft report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.orgs.models import Organization
from tests.caseload.conftest import add_appointment, add_patient, add_practitioner, add_type
from tests.factories import Tenants, build_tenants
from tests.reports.conftest import consultation, generate, register_with_intake

# Two patients called Mia Davis: the booking form's patient search must tell them apart.
MIA_DAVIS = (
    {"date_of_birth": "1990-01-02", "phones": [{"type": "mobile", "number": "0412 345 678"}]},
    {"date_of_birth": "1985-05-06", "phones": [{"type": "mobile", "number": "0498 765 432"}]},
)


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so today's appointments are still ahead
    (Etc/GMT-N is UTC+N)."""
    offset = 12 - now.hour
    return f"Etc/GMT-{offset}" if offset >= 0 else f"Etc/GMT+{-offset}"


@dataclass
class ClinicDay:
    tenants: Tenants
    practitioner_id: str
    patient_id: str  # Jane Smith: appointments today, a consultation in progress
    mia_davis_ids: tuple[str, str]
    session_id: str  # in progress, with a transcript and a medication plan
    report_id: str  # a draft of eight sections

    def user(self, role: str) -> Any:
        return self.tenants.user(role)


def build_clinic_day(app: Any) -> ClinicDay:
    now = datetime.now(UTC)
    with app.app_context():
        tenants = build_tenants()
        org = tenants.a.id
        db.session.get(Organization, org).time_zone = midday_zone(now)
        clinician = tenants.user("clinician")
        mine = add_practitioner(org, "Priya", "Raman", title="Dr", user_id=clinician.id)
        add_practitioner(org, "Sam", "Ortiz")
        kind = add_type(org, "Initial consultation")
        jane = add_patient(
            org,
            "Jane",
            "Smith",
            date_of_birth="1979-08-14",
            phones=[{"type": "mobile", "number": "0411 222 333"}],
            email="jane.smith.longer-address@harbour-physiotherapy.example",
        )
        mias = [add_patient(org, "Mia", "Davis", **facts) for facts in MIA_DAVIS]
        add_appointment(org, jane, now + timedelta(hours=1), kind=kind, practitioner=mine)
        add_appointment(org, mias[0], now + timedelta(hours=2), kind=kind, practitioner=mine)
        figures.recompute(org)
        db.session.commit()
        ids = (mine.id, jane.id, (mias[0].id, mias[1].id))
    practitioner_id, patient_id, mia_davis_ids = ids
    session_id = consultation(app, tenants.a, clinician, patient_id, stop=False)
    reported = register_with_intake(app, tenants.a, first_name="Nora", last_name="Quill")
    finished = consultation(app, tenants.a, clinician, reported)
    report_id = generate(app, tenants.a, clinician, finished)
    return ClinicDay(tenants, practitioner_id, patient_id, mia_davis_ids, session_id, report_id)
