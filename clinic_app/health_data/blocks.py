"""Writing and reading an upload's values as encrypted day blocks (see ``models``).

A block is a JSON document, compressed with zlib, base64-encoded and encrypted with the
organization's data key under the field name ``health_series_blocks.values_enc``:

* ``{"kind": "regular", "start": "2024-01-01T12:00:00", "epoch": 60.0, "values": [...]}`` — a
  regular series (activity counts, step counts per epoch); ``null`` is a missing epoch;
* ``{"kind": "samples", "rows": [[start, end, value, extra], ...]}`` — timed samples (heart rate,
  SpO2, in-bed and asleep intervals, a JSON upload's whole metrics in ``extra``).

Times inside a block are the device's wall clock (naive ISO 8601), as ``series.local_clock`` keeps
them. Only blocks of *completed* uploads are ever read back, so the blocks a failed or interrupted
import wrote are never seen (and are deleted by the import's cleanup or its rerun).
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import delete, func, select

from clinic_app.core import crypto
from clinic_app.core.errors import Unavailable
from clinic_app.extensions import db
from clinic_app.health_data.models import COMPLETED, HealthSeriesBlock, HealthUpload
from clinic_app.health_data.series import Series, local_clock

FIELD = "health_series_blocks.values_enc"
FLUSH_ROWS = 20_000  # rows buffered before a writer stores them (keeps an import's memory flat)


def floating_utc(moment: datetime) -> datetime:
    """The UTC column value for a device time: the instant if it has an offset, else its wall clock
    taken as UTC (a "floating" time)."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _seal(vault: crypto.Vault, payload: dict[str, Any]) -> str:
    packed = zlib.compress(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(), 6)
    sealed = vault.encrypt(FIELD, base64.b64encode(packed).decode("ascii"))
    assert sealed is not None
    return sealed


def _open(vault: crypto.Vault, block: HealthSeriesBlock) -> dict[str, Any]:
    text = vault.decrypt(FIELD, block.values_enc, target_id=block.id)
    if isinstance(text, crypto.Unreadable) or text is None:
        raise Unavailable("Some stored health data could not be decrypted; the problem has been reported.")
    return json.loads(zlib.decompress(base64.b64decode(text)))


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


class BlockWriter:
    """Buffers one upload's values and stores them as day blocks (call ``close`` at the end)."""

    def __init__(self, upload: HealthUpload) -> None:
        self.upload = upload
        self.vault = crypto.vault_for(upload.organization_id)
        self._rows: dict[tuple[str, date], list[list[Any]]] = defaultdict(list)
        self._parts: dict[tuple[str, date], int] = defaultdict(int)
        self._buffered = 0
        self.samples = 0
        self.first: datetime | None = None
        self.last: datetime | None = None

    def _span(self, start: datetime, end: datetime) -> None:
        self.first = start if self.first is None or start < self.first else self.first
        self.last = end if self.last is None or end > self.last else self.last

    def _store(self, channel: str, day: date, payload: dict[str, Any], starts: datetime, ends: datetime, n: int):
        key = (channel, day)
        block = HealthSeriesBlock(
            organization_id=self.upload.organization_id,
            patient_id=self.upload.patient_id,
            upload_id=self.upload.id,
            channel=channel,
            day=day,
            part=self._parts[key],
            starts_at=floating_utc(starts),
            ends_at=floating_utc(ends),
            sample_count=n,
            values_enc=_seal(self.vault, payload),
        )
        self._parts[key] += 1
        db.session.add(block)

    def add_series(self, channel: str, series: Series) -> None:
        """Store a regular series, cut at the device's midnights."""
        index = 0
        while index < len(series):
            begin = series.timestamp(index)
            midnight = datetime.combine(begin.date() + timedelta(days=1), datetime.min.time())
            stop = min(len(series), index + max(1, math.ceil((midnight - begin) / series.epoch)))
            values = [_number(v) for v in series.values[index:stop]]
            end = series.timestamp(stop)
            payload = {"kind": "regular", "start": begin.isoformat(), "epoch": series.epoch_seconds, "values": values}
            counted = sum(1 for v in values if v is not None)
            self._store(channel, begin.date(), payload, begin, end, counted)
            self.samples += counted
            self._span(begin, end)
            index = stop

    def add_sample(
        self, channel: str, start: datetime, end: datetime | None, value: float | None, extra: Any = None
    ) -> None:
        """Buffer one timed sample (stored when the buffer is full, or at ``close``).

        Called once per record of an import, so it does the least it can: times are kept as
        datetimes (written out as ISO text when the block is stored) and the span is kept inline.
        """
        if start.tzinfo is not None:
            start = local_clock(start)
        if end is not None and end.tzinfo is not None:
            end = local_clock(end)
        if value is not None and not math.isfinite(value):
            value = None
        self._rows[(channel, start.date())].append([start, end, value, extra])
        self.samples += 1
        self._buffered += 1
        if self.first is None or start < self.first:
            self.first = start
        finish = end or start
        if self.last is None or finish > self.last:
            self.last = finish
        if self._buffered >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for (channel, day), rows in self._rows.items():
            rows.sort(key=itemgetter(0))  # by start: the same order as sorting their ISO texts
            starts = rows[0][0]
            ends = max(row[1] or row[0] for row in rows)
            payload = [[s.isoformat(), e.isoformat() if e else None, v, x] for s, e, v, x in rows]
            self._store(channel, day, {"kind": "samples", "rows": payload}, starts, ends, len(rows))
        self._rows.clear()
        self._buffered = 0
        db.session.flush()

    def close(self) -> None:
        self.flush()


def delete_values(upload_id: str) -> int:
    """Delete every block of an upload (a statement, so the rows are gone from the table, not just
    from the session). Returns how many."""
    result = db.session.execute(
        delete(HealthSeriesBlock)
        .where(HealthSeriesBlock.upload_id == upload_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class Sample:
    start: datetime
    end: datetime | None
    value: float | None
    extra: Any
    upload_id: str


def _blocks(
    organization_id: str,
    patient_id: str,
    channels: Iterable[str],
    *,
    upload_id: str | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[HealthSeriesBlock]:
    query = (
        select(HealthSeriesBlock)
        .join(HealthUpload, HealthUpload.id == HealthSeriesBlock.upload_id)
        .where(
            HealthSeriesBlock.organization_id == organization_id,
            HealthSeriesBlock.patient_id == patient_id,
            HealthSeriesBlock.channel.in_(list(channels)),
            HealthUpload.status == COMPLETED,
        )
    )
    if upload_id is not None:
        query = query.where(HealthSeriesBlock.upload_id == upload_id)
    if first_day is not None:
        query = query.where(HealthSeriesBlock.day >= first_day)
    if last_day is not None:
        query = query.where(HealthSeriesBlock.day <= last_day)
    return list(db.session.scalars(query.order_by(HealthSeriesBlock.day, HealthSeriesBlock.part)))


def read_series(
    organization_id: str, patient_id: str, upload_id: str, channel: str, *, last_days: int | None = None
) -> Series | None:
    """One upload's regular series on ``channel`` (None when it has none), days joined again; with
    ``last_days`` only the blocks of that many days up to the upload's last day are read.

    Timed samples (Apple Health step counts over an interval) become one-minute epochs, each
    sample's value spread evenly over the minutes its interval covers."""
    vault = crypto.vault_for(organization_id)
    points: dict[datetime, float | None] = {}
    epoch: timedelta | None = None
    first_day = None
    if last_days is not None:
        last = db.session.scalar(
            select(func.max(HealthSeriesBlock.day)).where(
                HealthSeriesBlock.upload_id == upload_id, HealthSeriesBlock.channel == channel
            )
        )
        first_day = last - timedelta(days=last_days) if last else None
    for block in _blocks(organization_id, patient_id, [channel], upload_id=upload_id, first_day=first_day):
        payload = _open(vault, block)
        if payload["kind"] == "regular":
            epoch = timedelta(seconds=payload["epoch"])
            start = datetime.fromisoformat(payload["start"])
            for i, value in enumerate(payload["values"]):
                points[start + epoch * i] = value
        else:
            epoch = timedelta(minutes=1)
            for row in payload["rows"]:
                if row[2] is not None:
                    _spread(points, datetime.fromisoformat(row[0]), row[1] and datetime.fromisoformat(row[1]), row[2])
    if not points or epoch is None:
        return None
    first, last = min(points), max(points)
    n = (last - first) // epoch + 1
    values: list[float | None] = [None] * n
    for moment, value in points.items():
        values[(moment - first) // epoch] = value
    return Series(first, epoch, values)


MAX_SPREAD_MINUTES = 24 * 60


def _spread(points: dict[datetime, float | None], start: datetime, end: datetime | None, value: float) -> None:
    first = start.replace(second=0, microsecond=0)
    minutes = 1
    if end is not None and end > start:
        minutes = max(1, min(MAX_SPREAD_MINUTES, -(-(end - first) // timedelta(minutes=1))))
    share = value / minutes
    for i in range(minutes):
        moment = first + timedelta(minutes=i)
        points[moment] = (points.get(moment) or 0.0) + share


def read_samples(
    organization_id: str,
    patient_id: str,
    channels: Iterable[str],
    *,
    upload_id: str | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> Iterator[tuple[str, Sample]]:
    """The patient's timed samples on ``channels`` (of completed uploads), day by day."""
    vault = crypto.vault_for(organization_id)
    for block in _blocks(
        organization_id, patient_id, channels, upload_id=upload_id, first_day=first_day, last_day=last_day
    ):
        payload = _open(vault, block)
        if payload["kind"] != "samples":
            continue
        for start, end, value, extra in payload["rows"]:
            yield (
                block.channel,
                Sample(
                    datetime.fromisoformat(start),
                    datetime.fromisoformat(end) if end else None,
                    value,
                    extra,
                    block.upload_id,
                ),
            )
