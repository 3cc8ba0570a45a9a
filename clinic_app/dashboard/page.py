"""The dashboard's stored figures shaped for the page: cards with the links to the patients each
counts, the charts (SVG from ``charts``) with their tables, the activity feed in local time.

Links go where the number's patients are listed, with the filters that select exactly them:

* total patients -> the patient list (patients who are not archived);
* active patients and the engagement rate -> Active patients (``caseload.active_patients``);
* with upcoming / with recent -> Active patients ``?activity=with_upcoming`` / ``with_recent``;
* upcoming in 7 days -> Active patients ``?upcoming_within_days=7``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import url_for
from markupsafe import Markup
from werkzeug.routing import BuildError

from clinic_app.core.time import in_zone, zone_named
from clinic_app.dashboard import activity, charts

FEED_ITEMS = 10
INTEGRATION_WORDS = {
    "Connected": "Connected to Cliniko; every patient is synced or on the way",
    "Partial": "Connected to Cliniko; not every patient is synced yet",
    "Not Connected": "Cliniko is not connected",
}


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    detail: str = ""
    href: str | None = None
    permission: str | None = None  # the link is shown only to those who may open it
    link_text: str = ""

    @property
    def is_words(self) -> bool:
        return not self.value[:1].isdigit()


@dataclass(frozen=True)
class Chart:
    key: str
    heading: str
    svg: Markup
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    empty: bool = False


@dataclass
class DashboardView:
    as_of: str
    as_of_iso: str
    time_zone: str
    empty: bool
    cards: list[Card]
    charts: list[Chart]
    activity: list[dict[str, Any]]
    sync: dict[str, Any] = field(default_factory=dict)


def _url(endpoint: str, **args: Any) -> str | None:
    """The address of a page, or None when that page does not exist in this build."""
    try:
        return url_for(endpoint, **args)
    except BuildError:
        return None


def _local(value: str | None, tz: Any, pattern: str = "%d %b %Y, %H:%M") -> str:
    if not value:
        return ""
    return in_zone(datetime.fromisoformat(value), tz).strftime(pattern)


def _plural(number: int, word: str, plural: str | None = None) -> str:
    return f"{number:,} {word if number == 1 else (plural or word + 's')}"


def _cards(payload: dict[str, Any], tz: Any) -> list[Card]:
    summary, upcoming, attendance = payload["summary"], payload["upcoming"], payload["attendance"]
    active_url = _url("caseload.active_patients")
    sync = payload["sync"]
    last_sync = _local(summary["last_sync_time"], tz) or "never"
    return [  # noqa: RUF005 - the tiles in page order, Cliniko's last (only when connected)
        Card(
            "total_patients",
            "Total patients",
            f"{summary['total_patients']:,}",
            "Not archived",
            _url("patients.index"),
            "patients:read",
            "List them",
        ),
        Card(
            "active_patients",
            "Active patients",
            f"{summary['active_patients']:,}",
            "A visit in the last 30 days or something booked",
            active_url,
            "dashboard:read",
            "List them",
        ),
        Card(
            "patients_with_upcoming",
            "With an upcoming appointment",
            f"{summary['patients_with_upcoming']:,}",
            _plural(summary["total_upcoming_appointments"], "appointment") + " booked",
            _url("caseload.active_patients", activity="with_upcoming"),
            "dashboard:read",
            "List them",
        ),
        Card(
            "patients_with_recent",
            "With a recent visit",
            f"{summary['patients_with_recent']:,}",
            _plural(summary["total_recent_appointments"], "visit") + " in the last 30 days",
            _url("caseload.active_patients", activity="with_recent"),
            "dashboard:read",
            "List them",
        ),
        Card(
            "upcoming_7_days",
            "Appointments in the next 7 days",
            f"{upcoming['appointments']:,}",
            "for " + _plural(upcoming["patients"], "patient"),
            _url("caseload.active_patients", upcoming_within_days=upcoming["days"]),
            "dashboard:read",
            "List the patients",
        ),
        Card(
            "engagement_rate",
            "Engagement rate",
            f"{summary['engagement_rate']:.1f}%",
            f"{summary['active_patients']:,} active of {summary['total_patients']:,} patients",
            active_url,
            "dashboard:read",
            "List the active patients",
        ),
        Card(
            "attendance_rate",
            "Attendance (90 days)",
            f"{attendance['percentage']:.1f}%",
            f"{attendance['attended']:,} attended of {attendance['appointments']:,} "
            f"({attendance['did_not_arrive']:,} did not arrive, {attendance['late_cancelled']:,} cancelled late)"
            if attendance["appointments"]
            else "Nothing attended, missed or cancelled late in 90 days",
            _url("engagement.index"),
            "dashboard:read",
            "Patients to re-engage",
        ),
    ] + _sync_card(summary, sync, last_sync)


def _sync_card(summary: dict[str, Any], sync: dict[str, Any], last_sync: str) -> list[Card]:
    """The Cliniko tile, for connected organizations only; patients registered here and still on
    their way to Cliniko are said as waiting, not counted as missing."""
    if not sync.get("connected"):
        return []
    waiting = sync.get("waiting_patients", 0)
    return [
        Card(
            "sync_status",
            "Cliniko sync",
            summary["integration_status"],
            f"{INTEGRATION_WORDS[summary['integration_status']]}. Last sync: {last_sync}. "
            f"{summary['synced_patients']:,} patients synced ({summary['sync_percentage']:.1f}%)."
            + (f" {_plural(waiting, 'patient')} registered here waiting to be sent." if waiting else "")
            + (" A sync is running now." if sync.get("running_sync_id") else ""),
            _url("sync.sync_page"),
            "sync:read",
            "Open Sync",
        )
    ]


def _week_label(week: dict[str, Any]) -> str:
    start = date.fromisoformat(week["week_start"])
    return f"{start.day} {start.strftime('%b')}"


def _weeks_chart(weeks: list[dict[str, Any]]) -> Chart:
    labels = [_week_label(week) for week in weeks]
    series = [
        charts.Series("attended", "Attended", [w["attended"] for w in weeks]),
        charts.Series("did_not_arrive", "Did not arrive", [w["did_not_arrive"] for w in weeks]),
        charts.Series("cancelled", "Cancelled", [w["cancelled"] for w in weeks]),
        charts.Series("booked", "Booked", [w["booked"] for w in weeks]),
    ]
    totals = {item.key: sum(item.values) for item in series}
    busiest = max(weeks, key=lambda w: w["attended"] + w["did_not_arrive"] + w["cancelled"] + w["booked"])
    busiest_total = busiest["attended"] + busiest["did_not_arrive"] + busiest["cancelled"] + busiest["booked"]
    description = (
        f"Appointments per week for the 12 weeks from {labels[0]} to {labels[-1]} (weeks start on Monday): "
        f"{totals['attended']} attended, {totals['did_not_arrive']} did not arrive, {totals['cancelled']} cancelled, "
        f"{totals['booked']} still booked this week."
        + (f" Busiest week: {_week_label(busiest)} with {busiest_total}." if busiest_total else "")
    )
    svg = charts.stacked_bars(
        "chart-weeks", title="Appointments per week", description=description, labels=labels, series=series
    )
    rows = [
        (f"Week of {label}", w["attended"], w["did_not_arrive"], w["cancelled"], w["booked"])
        for label, w in zip(labels, weeks, strict=True)
    ]
    return Chart(
        "weeks",
        "Appointments per week",
        svg,
        ("Week", "Attended", "Did not arrive", "Cancelled", "Booked"),
        rows,
        empty=not any(totals.values()),
    )


def _patients_chart(weeks: list[dict[str, Any]]) -> Chart:
    labels = [_week_label(week) for week in weeks]
    new = [w["new_patients"] for w in weeks]
    returning = [w["returning_patients"] for w in weeks]
    description = (
        f"Patients seen per week for the 12 weeks from {labels[0]} to {labels[-1]}: {sum(new)} new (their first "
        f"appointment was that week) and {sum(returning)} returning, counted once per week."
    )
    svg = charts.stacked_bars(
        "chart-patients",
        title="New and returning patients per week",
        description=description,
        labels=labels,
        series=[charts.Series("new", "New", new), charts.Series("returning", "Returning", returning)],
    )
    rows = [(f"Week of {label}", n, r) for label, n, r in zip(labels, new, returning, strict=True)]
    return Chart(
        "patients",
        "New and returning patients",
        svg,
        ("Week", "New", "Returning"),
        rows,
        empty=not (sum(new) or sum(returning)),
    )


def _types_chart(types: list[dict[str, Any]]) -> Chart:
    labels = [item["name"] for item in types]
    values = [item["appointments"] for item in types]
    listed = ", ".join(f"{label} {value}" for label, value in zip(labels, values, strict=True))
    description = (
        f"Appointments of the last 12 weeks that were not cancelled, by type: {listed}."
        if types
        else "No appointments in the last 12 weeks."
    )
    svg = charts.horizontal_bars(
        "chart-types", title="Appointments by type", description=description, labels=labels, values=values
    )
    return Chart(
        "types",
        "Appointments by type",
        svg,
        ("Appointment type", "Appointments"),
        list(zip(labels, values, strict=True)),
        empty=not types,
    )


def _grouped(items: list[dict[str, Any]], now: datetime, tz: Any) -> list[dict[str, Any]]:
    """The feed for reading: consecutive events of the same kind become one line with a count
    ("Patient registered" x 12); sync runs stay one line each."""
    feed: list[dict[str, Any]] = []
    for item in items:
        previous = feed[-1] if feed else None
        if previous and item["activity_type"] != "sync" and previous["operation_type"] == item["operation_type"]:
            previous["times"] += 1
            previous["records_processed"] += item["records_processed"]
            previous["since"] = _local(item["completed_at"] or item["started_at"], tz)
            continue
        feed.append(
            {
                **item,
                "times": 1,
                "minutes_ago": activity.minutes_ago(item, now),
                "when": _local(item["completed_at"] or item["started_at"], tz),
                "since": None,
            }
        )
    return feed


def build(payload: dict[str, Any], now: datetime) -> DashboardView:
    """Everything the template shows, from a snapshot payload, at ``now``."""
    tz = zone_named(payload["time_zone"])
    summary = payload["summary"]
    feed = _grouped(payload["activity"], now, tz)[:FEED_ITEMS]
    empty = summary["total_patients"] == 0 and summary["total_all_appointments"] == 0
    return DashboardView(
        as_of=_local(payload["computed_at"], tz, "%d %b %Y, %H:%M:%S"),
        as_of_iso=payload["computed_at"],
        time_zone=payload["time_zone"],
        empty=empty,
        cards=_cards(payload, tz),
        charts=[
            _weeks_chart(payload["weeks"]),
            _patients_chart(payload["weeks"]),
            _types_chart(payload["appointment_types"]),
        ],
        activity=feed,
        sync=payload["sync"],
    )
