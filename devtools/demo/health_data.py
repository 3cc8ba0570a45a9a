"""Demo wearable data for the embedded default: one patient of the demo clinic without Cliniko
(*Northside Mind Health*) gets two weeks of wrist actigraphy (synthetic one-minute activity counts
with a later bedtime at weekends and one restless night), analysed, with its insights, so the
"Activity and sleep" section of the chart is not empty. Idempotent: a patient who already has
health data is left as they are.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.health_data import analyses, queries, service
from clinic_app.health_data.insights import service as insights
from clinic_app.health_data.series import Series
from clinic_app.orgs.models import Organization
from clinic_app.patients.models import Patient
from devtools.demo.appointments import DEMO_CLINIC_SLUG

DAYS = 14
SEED = 15


def _minute_counts(start: datetime, days: int, rng: random.Random) -> list[float | None]:
    values: list[float | None] = []
    for day in range(days):
        weekend = (start + timedelta(days=day)).weekday() >= 5
        bed = 23.5 + (1.25 if weekend else 0) + rng.uniform(-0.4, 0.4)
        rise = 7.0 + (1.5 if weekend else 0) + rng.uniform(-0.3, 0.3)
        restless = day == 9
        for minute in range(1440):
            hour = minute / 60
            asleep = (hour >= bed or hour < rise) if bed < 24 else (bed - 24 <= hour < rise)
            if asleep:
                burst = rng.random() < (0.12 if restless else 0.04)
                values.append(float(rng.randint(20, 160)) if burst else float(rng.choice((0, 0, 0, 1, 2, 5))))
            else:
                level = 250 + 200 * math.sin(math.pi * (hour - rise) / max(1.0, bed - rise))
                values.append(max(0.0, round(rng.gauss(level, 120))))
    return values


def seed_demo_health_data() -> list[str]:
    """Give one demo patient two weeks of analysed actigraphy; returns lines to print."""
    if current_app.config["PRODUCTION"]:
        return []
    organization = db.session.scalar(select(Organization).where(Organization.slug == DEMO_CLINIC_SLUG))
    if organization is None:
        return []
    patient = db.session.scalar(
        select(Patient)
        .where(Patient.organization_id == organization.id)
        .order_by(Patient.created_at, Patient.id)
        .limit(1)
    )
    if patient is None or queries.patient_has_data(organization.id, patient.id):
        return []
    rng = random.Random(SEED)  # noqa: S311 - demo data, the same every time
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)  # the counts start at midnight
    start = today - timedelta(days=DAYS)
    series = Series(start, timedelta(minutes=1), _minute_counts(start, DAYS, rng))
    actor = audit.Actor()
    upload = service.record_series(
        organization.id, patient.id, series, channel="activity_counts", actor=actor, upload_source="demo"
    )
    analysis = analyses.create_analysis(upload, channel="activity_counts", algorithm="cole_kripke", actor=actor)
    analyses.run_analysis(organization.id, analysis.id)
    insights.generate(organization.id, analysis.id, actor=actor)
    return [f"Demo wearable data: two weeks of actigraphy on one patient of {organization.name}."]
