"""``flask seed-scale``: many realistic synthetic patients, encrypted and searchable like real ones."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import search, service
from clinic_app.patients.models import Patient, PatientIdentifier
from clinic_app.patients.validation import parse_phone
from devtools.scale.patients import synthetic_patient
from tests.factories import api_token_for


def test_seed_scale_adds_decryptable_searchable_patients(app, tenants, login_as):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-scale", "--patients", "1203", "--org", tenants.b.id, "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "1000 of 1203" in result.output and "Added 1203 patients" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Patient.organization_id == tenants.b.id)) == 1203
        assert db.session.scalar(select(func.count()).where(Patient.organization_id == tenants.a.id)) == 0
        assert db.session.scalar(select(func.count()).select_from(PatientIdentifier)) >= 1203
        sample = db.session.scalars(select(Patient).where(Patient.organization_id == tenants.b.id).limit(20)).all()
        for patient in sample:
            assert patient.email_enc.startswith("v1:") and "@" not in patient.email_enc
            view = service.view_patient(tenants.b.id, patient.id, actor=audit.Actor(), record_view=False)
            assert view.unreadable_fields == ()
            assert view.email.endswith("@example.com") and view.phones[0].number.startswith("+614")
            assert view.address["country"] == "Australia" and view.date_of_birth.year > 1900
        # Blind indexes were written too: the seeded patients are found by phone and e-mail (about
        # one in twenty is seeded archived, so search them all).
        first = service.view_patient(tenants.b.id, sample[0].id, actor=audit.Actor(), record_view=False)
        by_phone = service.search_patients(tenants.b.id, q=first.phones[0].number, status="all")
        by_email = service.search_patients(tenants.b.id, q=first.email, status="all")
        assert sample[0].id in [r.id for r in by_phone.rows]
        assert sample[0].id in [r.id for r in by_email.rows]
        # Counting stops at TOTAL_CAP: past it the total is "more than", below it exact.
        assert search.TOTAL_CAP == 1000
        active, archived = (
            db.session.scalar(
                select(func.count()).where(Patient.organization_id == tenants.b.id, Patient.archived.is_(flag))
            )
            for flag in (False, True)
        )
        assert active > 1000 and 0 < archived < 1000
        page = service.search_patients(tenants.b.id, limit=100)
        assert len(page.rows) == 100 and page.total is None and page.has_more
        assert service.search_patients(tenants.b.id, status="archived", limit=10).total == archived
    owner = login_as("outsider")  # organization B's owner
    html = owner.get("/patients").get_data(as_text=True)
    assert "More than 1,000 patients" in html
    html = owner.get("/patients?status=archived").get_data(as_text=True)
    assert f"{archived} patients (archived)" in html
    token = api_token_for(app, tenants.b.id, ["patients:read"], creator=tenants.outsider)
    headers = {"Authorization": f"Bearer {token}"}
    listed = owner.application.test_client().get("/api/v1/patients/list/", headers=headers).get_json()
    assert listed["total_count"] is None and listed["has_more"] is True


def test_every_seeded_phone_number_is_one_a_patient_could_have():
    # Search reads a phone number only when it is valid for its region; a seeded number that is not
    # (about one in eight 04xx numbers is unallocated) would never be found by its own search.
    rng, today = random.Random(3), date(2026, 1, 5)
    numbers = [phone.number for _ in range(2000) for phone in synthetic_patient(rng, today).phones]
    assert [number for number in numbers if parse_phone(number, "AU") is None] == []


def test_seed_scale_defaults_to_the_first_organization_and_checks_the_id(app, tenants):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-scale", "--patients", "5"]).exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Patient.organization_id == tenants.a.id)) == 5
    missing = runner.invoke(args=["seed-scale", "--patients", "5", "--org", "org_nope"])
    assert missing.exit_code == 2 and "no organization" in missing.output
