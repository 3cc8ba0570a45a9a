"""The service the intake flow and the Cliniko sync build on: duplicates, external ids, updates
that record changed field names, archive idempotence, and the organization boundary."""

from __future__ import annotations

from datetime import date

import pytest

from clinic_app.core import audit
from clinic_app.core.errors import NotFound
from clinic_app.extensions import db
from clinic_app.patients import service
from clinic_app.patients.validation import Phone
from tests.patients.conftest import events, register


def test_possible_duplicates_by_name_and_birth_date_phone_or_email(app, tenants):
    same = register(app, tenants.a, first_name="Zoë", last_name="Dupont", date_of_birth="1970-01-01")
    by_phone = register(app, tenants.a, first_name="Other", last_name="Person", phones=[{"number": "0412 555 666"}])
    by_email = register(app, tenants.a, first_name="Third", last_name="Person", email="dup@example.com")
    register(app, tenants.b, first_name="Zoe", last_name="Dupont", date_of_birth="1970-01-01")  # other organization
    with app.app_context():
        found = service.possible_duplicates(
            tenants.a.id,
            first_name="zoe",
            last_name="DUPONT",
            date_of_birth=date(1970, 1, 1),
            phones=[Phone("mobile", "+61412555666")],
            email="DUP@example.com",
        )
        assert {m.id: m.reasons for m in found} == {
            same: ("name_and_date_of_birth",),
            by_phone: ("phone",),
            by_email: ("email",),
        }
        assert (
            service.possible_duplicates(
                tenants.a.id, first_name="Zoe", last_name="Dupont", date_of_birth=date(1970, 1, 2)
            )
            == []
        )
        assert (
            service.possible_duplicates(
                tenants.a.id, first_name="Zoe", last_name="Dupont", date_of_birth=date(1970, 1, 1), exclude_id=same
            )
            == []
        )


def test_find_by_external_id_for_the_sync(app, tenants):
    patient_id = register(app, tenants.a, external_ids={"cliniko": "12345"})
    register(app, tenants.b, external_ids={"cliniko": "12345"})
    with app.app_context():
        assert service.find_by_external_id(tenants.a.id, "cliniko", "12345").id == patient_id
        assert service.find_by_external_id(tenants.a.id, "cliniko", "1234") is None
        assert service.find_by_external_id(tenants.a.id, "halaxy", "12345") is None
        data = service.validate_for(tenants.a.id, {"external_ids": {"cliniko": "999"}}, partial=True)
        service.update_patient(tenants.a.id, patient_id, data, actor=audit.Actor())
        db.session.commit()
        assert service.find_by_external_id(tenants.a.id, "cliniko", "12345") is None
        assert service.find_by_external_id(tenants.a.id, "cliniko", "999").id == patient_id


def test_changing_phones_replaces_their_lookups(app, tenants):
    patient_id = register(app, tenants.a, phones=[{"number": "0412 000 111"}])
    with app.app_context():
        data = service.validate_for(tenants.a.id, {"phones": [{"number": "0412 000 222"}]}, partial=True)
        assert service.update_patient(tenants.a.id, patient_id, data, actor=audit.Actor()) == ["phones"]
        db.session.commit()
        assert service.search_patients(tenants.a.id, q="0412 000 111").rows == []
        assert [r.id for r in service.search_patients(tenants.a.id, q="0412 000 222").rows] == [patient_id]
        db.session.commit()


def test_an_update_that_changes_nothing_says_so(app, tenants):
    patient_id = register(app, tenants.a, first_name="Same", last_name="Same", email="same@example.com")
    with app.app_context():
        data = service.validate_for(
            tenants.a.id, {"first_name": "Same", "last_name": "Same", "email": "same@example.com"}
        )
        assert service.update_patient(tenants.a.id, patient_id, data, actor=audit.Actor()) == []
        db.session.commit()
    assert events(app, "patient.updated")[0].details == {"fields": []}


def test_archiving_twice_records_once(app, tenants):
    patient_id = register(app, tenants.a)
    with app.app_context():
        for _ in range(2):
            patient = service.archive_patient(tenants.a.id, patient_id, actor=audit.Actor())
        assert patient.archived and patient.archived_at is not None
        service.unarchive_patient(tenants.a.id, patient_id, actor=audit.Actor())
        assert patient.archived_at is None
        db.session.commit()
    assert len(events(app, "patient.archived")) == 1 and len(events(app, "patient.unarchived")) == 1


def test_every_service_entry_point_refuses_another_organizations_patient(app, tenants):
    patient_id = register(app, tenants.a)
    with app.app_context():
        data = service.validate_for(tenants.b.id, {"notes": "x"}, partial=True)
        for call in (
            lambda: service.get_patient(tenants.b.id, patient_id),
            lambda: service.view_patient(tenants.b.id, patient_id, actor=audit.Actor()),
            lambda: service.update_patient(tenants.b.id, patient_id, data, actor=audit.Actor()),
            lambda: service.archive_patient(tenants.b.id, patient_id, actor=audit.Actor()),
            lambda: service.get_patient(tenants.a.id, "pat_doesnotexist"),
        ):
            with pytest.raises(NotFound):
                call()
