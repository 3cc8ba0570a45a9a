"""Lay a practitioner's days out as a calendar grid: rows of 15 minutes of the clinic's wall
clock, one column per day, each appointment placed by its start row and its span, and the free
half-hours in between offered for booking.

Pure (no database, no Flask): the page passes the entries of ``schedule.practitioner_days``.
Positions are CSS classes (``r-<row>``, ``s-<span>``, see static/css/appointments.css) because
the content security policy allows no inline styles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from clinic_app.appointments.forms import local_moment
from clinic_app.appointments.schedule import Entry
from clinic_app.core.time import in_zone

ROW = timedelta(minutes=15)
SLOT = timedelta(minutes=30)
DAY_START, DAY_END = 8, 18  # hours always shown; earlier or later appointments widen the grid
MAX_ROWS = 96


@dataclass(frozen=True)
class Cell:
    """An appointment block or a free slot in a day column."""

    kind: str  # "appointment" or "free"
    row: int  # 1-based grid row of its start
    span: int
    starts_at: datetime
    entry: Entry | None = None


@dataclass
class Column:
    day: date
    cells: list[Cell] = field(default_factory=list)
    cancelled: list[Entry] = field(default_factory=list)
    booked: int = 0


@dataclass(frozen=True)
class Grid:
    first_hour: int
    last_hour: int  # exclusive
    columns: list[Column]

    @property
    def rows(self) -> int:
        return (self.last_hour - self.first_hour) * 4

    @property
    def hours(self) -> list[tuple[int, int]]:
        """(hour, grid row of its start) for the time labels."""
        return [(hour, (hour - self.first_hour) * 4 + 1) for hour in range(self.first_hour, self.last_hour)]


def _hours(days: dict[date, list[Entry]], zone: tzinfo) -> tuple[int, int]:
    first, last = DAY_START, DAY_END
    for entries in days.values():
        for entry in entries:
            if entry.cancelled:
                continue
            start, end = in_zone(entry.starts_at, zone), in_zone(entry.ends_at, zone)
            first = min(first, start.hour)
            past_midnight = end.date() > start.date()
            last = 24 if past_midnight else max(last, end.hour + (1 if end.minute or end.second else 0))
    return first, min(last, 24)


def build(days: dict[date, list[Entry]], zone: tzinfo, *, now: datetime, offer_free: bool = True) -> Grid:
    """The grid for ``days`` (in order). Free half-hours are offered only when ``offer_free`` and
    only from ``now`` on; cancelled appointments are listed apart and hold no slot."""
    first_hour, last_hour = _hours(days, zone)
    columns = []
    for day in sorted(days):
        top = local_moment(day, time(first_hour), zone)
        bottom = (
            local_moment(day, time(23, 59), zone) + timedelta(minutes=1)
            if last_hour == 24
            else local_moment(day, time(last_hour), zone)
        )
        column = Column(day=day)
        taken: list[tuple[datetime, datetime]] = []
        for entry in days[day]:
            if entry.cancelled:
                column.cancelled.append(entry)
                continue
            column.booked += 1
            start, end = max(entry.starts_at, top), min(entry.ends_at, bottom)
            row = int((start - top) / ROW) + 1
            span = max(1, -(-int((end - start).total_seconds()) // int(ROW.total_seconds())))
            row = min(max(row, 1), MAX_ROWS)
            span = min(span, MAX_ROWS - row + 1)
            column.cells.append(Cell("appointment", row, span, entry.starts_at, entry))
            taken.append((entry.starts_at, entry.ends_at))
        if offer_free:
            moment = top
            while moment + SLOT <= bottom:
                slot_end = moment + SLOT
                free = moment >= now and not any(start < slot_end and end > moment for start, end in taken)
                if free:
                    column.cells.append(Cell("free", int((moment - top) / ROW) + 1, 2, moment))
                moment = slot_end
        column.cells.sort(key=lambda cell: (cell.starts_at, cell.kind))
        columns.append(column)
    return Grid(first_hour=first_hour, last_hour=last_hour, columns=columns)
