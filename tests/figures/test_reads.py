"""Reading never writes figures: pages and the JSON API show the stored figures as they are, and
the figures that time made stale are brought up to date by the clock's task (figures.refresh_stale)."""

from datetime import timedelta

import time_machine
from sqlalchemy import select

from clinic_app.core import periodic
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.figures.models import PatientAppointmentStats
from tests.engagement.conftest import make_appointment, make_patient
from tests.factories import access_token_for

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def stored(app, org):
    with app.app_context():
        rows = db.session.scalars(select(PatientAppointmentStats).where(PatientAppointmentStats.organization_id == org))
        return {row.patient_id: (row.computed_at, row.upcoming, row.attended) for row in rows}


def test_reads_leave_stale_figures_to_the_clock(app, client, tenants):
    org = tenants.a.id
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        ada = make_patient(org, registered=now - 400 * DAY)
        make_appointment(org, ada, now + HOUR)  # booked: "upcoming" until it starts
        figures.recompute(org, now=now)
        db.session.commit()
    before = stored(app, org)
    assert [(upcoming, attended) for _, upcoming, attended in before.values()] == [(1, 0)]
    later = now + 3 * HOUR  # the booking has started: the stored figures are stale
    with time_machine.travel(later, tick=False):
        headers = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
        for path in (
            f"/api/v1/patients/{org}/patients",
            f"/api/v1/patients/{org}/active/summary",
            f"/api/v1/reengagement/{org}/prioritized",
            f"/api/v1/dashboard/{org}",
            f"/api/v1/dashboard/{org}/summary",
        ):
            assert client.get(path, headers=headers).status_code == 200, path
        assert stored(app, org) == before  # five reads, nothing written
        with app.app_context():
            results = periodic.run_all(later)  # the clock's tick
            assert results["figures.refresh_stale"] == {"organizations": 1, "patients": 1}
    after = stored(app, org)
    assert [(computed_at, upcoming, attended) for computed_at, upcoming, attended in after.values()] == [(later, 0, 1)]
