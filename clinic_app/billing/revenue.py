"""Revenue figures for the dashboard: invoiced and received per week, the outstanding balance,
and what was invoiced per practitioner and per appointment type. Weeks start on Monday in the
organization's calendar; invoiced counts issued, partially paid and paid invoices by issue date;
received counts payments less refunds by the date received (a patient's credit applied to an
invoice is not money received again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.billing.models import COUNTED_STATUSES, OPEN_STATUSES, PATIENT_CREDIT, REFUND, Invoice, Payment
from clinic_app.core.time import local_today, organization_zone
from clinic_app.extensions import db

WEEKS = 12


@dataclass(frozen=True)
class Week:
    start: date
    invoiced: int
    received: int


@dataclass(frozen=True)
class Revenue:
    weeks: list[Week]
    outstanding: int
    by_practitioner: list[tuple[str, int]]
    by_type: list[tuple[str, int]]
    currency_total_invoiced: int


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def revenue(organization_id: str, *, today: date | None = None) -> Revenue:
    """The last 12 weeks' revenue (this week included) and what is outstanding now."""
    today = today or local_today(organization_zone(organization_id))
    first = _week_of(today) - timedelta(weeks=WEEKS - 1)
    counted = [
        Invoice.organization_id == organization_id,
        Invoice.status.in_(COUNTED_STATUSES),
        Invoice.issue_date >= first,
        Invoice.issue_date <= today,
    ]
    invoiced: dict[date, int] = {}
    for day, total in db.session.execute(
        select(Invoice.issue_date, func.sum(Invoice.total)).where(*counted).group_by(Invoice.issue_date)
    ):
        invoiced[_week_of(day)] = invoiced.get(_week_of(day), 0) + int(total or 0)
    received: dict[date, int] = {}
    for day, kind, total in db.session.execute(
        select(Payment.received_on, Payment.kind, func.sum(Payment.amount))
        .where(
            Payment.organization_id == organization_id,
            Payment.method != PATIENT_CREDIT,
            Payment.received_on >= first,
            Payment.received_on <= today,
        )
        .group_by(Payment.received_on, Payment.kind)
    ):
        sign = -1 if kind == REFUND else 1
        received[_week_of(day)] = received.get(_week_of(day), 0) + sign * int(total or 0)
    weeks = [
        Week(start, invoiced.get(start, 0), received.get(start, 0))
        for start in (first + timedelta(weeks=n) for n in range(WEEKS))
    ]
    outstanding = db.session.scalar(
        select(func.coalesce(func.sum(Invoice.total - Invoice.amount_paid - Invoice.amount_credited), 0)).where(
            Invoice.organization_id == organization_id, Invoice.status.in_(OPEN_STATUSES)
        )
    )
    practitioner_name = func.coalesce(Practitioner.first_name + " " + Practitioner.last_name, "No practitioner")
    by_practitioner = db.session.execute(
        select(practitioner_name, func.sum(Invoice.total))
        .select_from(Invoice)
        .outerjoin(Practitioner, Practitioner.id == Invoice.practitioner_id)
        .where(*counted)
        .group_by(practitioner_name)
        .order_by(func.sum(Invoice.total).desc())
    ).all()
    type_name = func.coalesce(AppointmentType.name, "Not from an appointment")
    by_type = db.session.execute(
        select(type_name, func.sum(Invoice.total))
        .select_from(Invoice)
        .outerjoin(Appointment, Appointment.id == Invoice.appointment_id)
        .outerjoin(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
        .where(*counted)
        .group_by(type_name)
        .order_by(func.sum(Invoice.total).desc())
    ).all()
    return Revenue(
        weeks=weeks,
        outstanding=int(outstanding or 0),
        by_practitioner=[(str(name), int(total or 0)) for name, total in by_practitioner],
        by_type=[(str(name), int(total or 0)) for name, total in by_type],
        currency_total_invoiced=sum(week.invoiced for week in weeks),
    )
