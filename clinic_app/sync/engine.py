"""The Cliniko sync job: pages through Cliniko and upserts what it finds (docs/sync.md).

One run walks the steps of its mode. Each list is read in id order, 100 records a page. Each page
is upserted (keyed by organization and Cliniko id, compared by content hash) and the run's
progress, counts and cursor brought up to date; at most once a second, and at every step's end,
all of it is committed together as a checkpoint. A killed run therefore keeps its finished pages
(all but the last second's), a resumed run starts from the saved cursor, and running from scratch
again creates no duplicates. One page of records is held in memory (and the next one, fetched
meanwhile), plus the Cliniko-id -> our-id maps of practitioners, appointment types and patients.

Patient records are written with the patients feature's own row writers (names in plaintext for
search, everything else encrypted, blind indexes) and audited once per page
(``patients.synced`` with the ids created and updated, never a value).
"""

from __future__ import annotations

import logging
import os
import queue
import string
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert, select, text, update

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import (
    CANCELLATION_REASON_FIELD,
    NOTES_FIELD,
    Appointment,
    AppointmentType,
    Practitioner,
)
from clinic_app.core import audit, crypto
from clinic_app.core.jobs import JobCancelled, JobContext, job_function
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient, PatientIdentifier
from clinic_app.patients.records import identifier_rows, write_fields
from clinic_app.sync import mapping, service
from clinic_app.sync.client import ClinikoClient, ClinikoError, ClinikoRequestError, Page, updated_since
from clinic_app.sync.models import (
    BASIC,
    INCREMENTAL,
    STEP_WEIGHTS,
    SYNC_KIND,
    ClinikoConnection,
    ClinikoLink,
    SyncRun,
    Tally,
)

log = logging.getLogger("clinic_app.sync.engine")

PER_PAGE = 100
BASIC_WINDOW = timedelta(days=appointments.RECENT_DAYS)
ANALYZE_AFTER_PAGES = (10, 100, 1000)
CHECKPOINT_SECONDS = 1.0
# The resource name (in counts and links) and table of each list step.
STEP_TABLES: dict[str, tuple[str, type[Any]]] = {
    "practitioners": ("practitioners", Practitioner),
    "appointment_types": ("appointment_types", AppointmentType),
    "patients": ("patients", Patient),
    "appointments": ("appointments", Appointment),
}
# The patient columns a sync writes (the rest are set per insert or update).
PATIENT_COLUMNS = tuple(
    column.key
    for column in Patient.__table__.columns
    if column.key not in ("id", "organization_id", "created_at", "updated_at", "created_by_id", "updated_by_id")
)


_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # core.db.new_id's alphabet


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids shaped like ``core.db.new_id`` (22 base-62 characters, ~131 random bits) from
    one read of the OS's randomness. ``new_id`` draws each character separately, which costs more
    than everything else a row needs when a sync writes 200,000 rows. Bytes of 248 and above are
    skipped so that every character is equally likely."""
    wanted = 22 * count
    characters: list[str] = []
    while len(characters) < wanted:
        characters += [_BASE62[byte % 62] for byte in os.urandom(wanted + 64) if byte < 248]
    return [prefix + "_" + "".join(characters[i : i + 22]) for i in range(0, wanted, 22)]


class IdSource:
    """Public ids for bulk-inserted rows, drawn in batches."""

    def __init__(self) -> None:
        self._pools: dict[str, list[str]] = {}

    def take(self, prefix: str) -> str:
        pool = self._pools.setdefault(prefix, [])
        if not pool:
            pool.extend(new_ids(prefix, 500))
        return pool.pop()


def read_ahead(pages: Iterator[Page]) -> Generator[Page, None, None]:
    """The same pages, the next one fetched on a helper thread while this one is being written
    (at most one page waits; HTTP and database work overlap instead of taking turns). An error
    while fetching is raised here, in order; stopping early lets the helper finish its request
    and end."""
    slot: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages:
                if not _offer(slot, stop, ("page", page)):
                    return
            _offer(slot, stop, ("end", None))
        except BaseException as error:  # handed to the consumer, which raises it
            _offer(slot, stop, ("error", error))

    helper = threading.Thread(target=fetch, name="cliniko-read-ahead", daemon=True)
    helper.start()
    try:
        while True:
            kind, value = slot.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def _offer(slot: queue.Queue[tuple[str, Any]], stop: threading.Event, item: tuple[str, Any]) -> bool:
    while not stop.is_set():
        try:
            slot.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def insert_rows(model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) with the table's plain INSERT: the ORM's per-row
    bookkeeping costs more than mapping and encrypting the records."""
    db.session.execute(insert(model.__table__), rows)


class SyncCancelled(Exception):
    """Someone asked the run to stop."""


class SyncFailed(Exception):
    """Raised to the job runner after the run was marked failed, so the job is marked failed too.
    The message is the run's ``error_detail``: fit for admins, no PHI, no key."""


@dataclass(frozen=True)
class Source:
    """One list a step reads."""

    resource: str
    params: tuple[tuple[str, str], ...]
    active: bool = True  # practitioners: which list it is


# --- the job ----------------------------------------------------------------------------------


@job_function(SYNC_KIND, queue="sync", timeout=6 * 3600, read_permission="sync:read", cancel_permission="sync:run")
def run_sync(ctx: JobContext, sync_run_id: str) -> dict[str, Any]:
    """Run (or, for a resumed run, continue) one sync. Safe to call twice: a finished run is left alone."""
    run = db.session.get(SyncRun, sync_run_id)
    if run is None or run.finished:
        return {"sync_id": sync_run_id, "skipped": True}
    if run.cancel_requested:
        service.finish_run(run, "cancelled")
        db.session.commit()
        raise JobCancelled("cancelled before it started")
    run.status, run.started_at, run.heartbeat_at = "running", utcnow(), utcnow()
    db.session.commit()
    try:
        with service.client_for(run.organization_id) as client:
            SyncEngine(ctx, run, client).run()
    except (JobCancelled, SyncCancelled):
        _end(sync_run_id, "cancelled")
        raise JobCancelled("cancelled on request") from None
    except ClinikoError as error:
        raise SyncFailed(_end(sync_run_id, "failed", str(error))) from None
    except Exception as error:
        log.error(
            "sync failed",
            extra={
                "event": "sync_failed",
                "sync_id": sync_run_id,
                "exception_type": type(error).__name__,
                # Where it broke, without the message: database errors quote the row's values.
                "where": "".join(traceback.format_tb(error.__traceback__)[-6:]),
            },
        )
        detail = "The sync stopped because of an unexpected error; it has been logged. Resume it to continue."
        raise SyncFailed(_end(sync_run_id, "failed", detail)) from None
    run = db.session.get(SyncRun, sync_run_id, populate_existing=True)
    assert run is not None
    service.finish_run(run, "completed")
    db.session.commit()
    return {"sync_id": run.id, "created": run.created, "updated": run.updated, "failed": run.failed}


def _end(sync_run_id: str, status: str, detail: str | None = None) -> str:
    """Undo the unfinished page, then record how the run ended. Returns the detail."""
    db.session.rollback()
    run = db.session.get(SyncRun, sync_run_id, populate_existing=True)
    if run is not None:
        service.finish_run(run, status, detail)
        db.session.commit()
    return detail or ""


# --- the engine -------------------------------------------------------------------------------


class SyncEngine:
    """Walks the run's steps; see the module docstring for the promises it keeps."""

    def __init__(self, ctx: JobContext, run: SyncRun, client: ClinikoClient) -> None:
        self.ctx, self.run_row, self.client = ctx, run, client
        self.organization_id = run.organization_id
        self.actor = audit.Actor(user_id=run.created_by_id)
        self.vault = crypto.vault_for(run.organization_id)
        self.region = patients.organization_region(run.organization_id)
        self.today = patients.local_today(run.organization_id)
        self.tally = Tally(run)
        self.ids: dict[str, dict[str, str]] = {}  # resource -> {cliniko id: our id}
        self.affected: set[str] = set()  # patients whose statistics need recomputing
        self.looked_up: set[str] = set()  # patients fetched one by one this run
        self.resumed = run.cursor is not None
        self.new_ids = IdSource()
        self.postgresql = db.session.get_bind().dialect.name == "postgresql"
        self.committed_at = time.monotonic()
        self.seen: dict[str, set[str]] = {}  # resource -> Cliniko ids written (see _note_if_empty)

    # -- steps --

    def run(self) -> None:
        run = self.run_row
        cursor = dict(run.cursor or {})
        first = run.steps.index(cursor["step"]) if cursor.get("step") in run.steps else 0
        for index in range(first, len(run.steps)):
            step = run.steps[index]
            run.current_step, run.step_index, run.processed, run.total = step, index, 0, 0
            resume = cursor if index == first else {}
            if step == "businesses":
                self._businesses()
            elif step == "statistics":
                self._statistics()
            else:
                self._lists(step, resume)
            following = run.steps[index + 1] if index + 1 < len(run.steps) else None
            run.cursor = {"step": following, "source": 0, "next_url": None}
            self._checkpoint(step_done=True)

    def _sources(self, step: str) -> list[Source]:
        run, sort = self.run_row, ("sort", "id")
        changed = (("q[]", updated_since(run.updated_since)),) if run.updated_since else ()
        if step == "practitioners":
            params = (*changed, sort)
            return [Source("practitioners", params), Source("practitioners/inactive", params, active=False)]
        if step == "appointment_types":
            return [Source("appointment_types", (*changed, ("q[]", "archived_at:*"), sort))]
        if step == "patients":
            return [Source("patients", (*changed, ("q[]", "archived_at:*"), ("q[]", "deleted_at:*"), sort))]
        hidden = (("q[]", "archived_at:*"), ("q[]", "cancelled_at:*"), ("q[]", "deleted_at:*"))
        window: tuple[tuple[str, str], ...] = ()
        if run.mode == BASIC:
            since = (run.started_at or utcnow()) - BASIC_WINDOW
            window = (("q[]", "starts_at:>=" + since.strftime("%Y-%m-%dT%H:%M:%SZ")),)
        return [Source("individual_appointments", (*changed, *window, *hidden, sort))]

    def _lists(self, step: str, resume: dict[str, Any]) -> None:
        handle: Callable[[Source, Page], None] = {
            "practitioners": self._practitioners_page,
            "appointment_types": self._types_page,
            "patients": self._patients_page,
            "appointments": self._appointments_page,
        }[step]
        sources = self._sources(step)
        totals = [0] * len(sources)
        pages_before = self.run_row.pages
        resource, model = STEP_TABLES[step]
        self._note_if_empty(resource, model)
        for number in range(int(resume.get("source") or 0), len(sources)):
            source = sources[number]
            start_url = resume.get("next_url") if number == int(resume.get("source") or 0) else None
            fetched, first_total = 0, None
            pages = self.client.iter_pages(
                source.resource, params=list(source.params), per_page=PER_PAGE, start_url=start_url
            )
            with closing(read_ahead(pages)) as stream:  # stops the helper thread however this ends
                for page in stream:
                    first_total = page.total_entries if first_total is None else first_total
                    totals[number] = page.total_entries
                    handle(source, page)
                    fetched += len(page.items)
                    self.run_row.total = sum(totals)
                    self.run_row.processed += len(page.items)
                    self.run_row.pages += 1
                    self.run_row.cursor = {"step": step, "source": number, "next_url": page.next_url}
                    self._checkpoint()
                    self._refresh_planner_statistics(self.run_row.pages - pages_before)
            if start_url is None and first_total == totals[number] and fetched < totals[number]:
                self.tally.warn(
                    f"Cliniko said there were {totals[number]} {source.resource.replace('_', ' ')}, "
                    f"but only {fetched} arrived."
                )

    def _businesses(self) -> None:
        connection = db.session.scalar(
            select(ClinikoConnection).where(ClinikoConnection.organization_id == self.organization_id)
        )
        assert connection is not None  # client_for refused otherwise
        before = {business["id"]: business for business in connection.businesses or []}
        found = [mapping.map_business(item) for item in self.client.businesses()]
        for business in found:
            old = before.get(business["id"])
            self.tally.count("businesses", "created" if old is None else "unchanged" if old == business else "updated")
        connection.businesses = found
        connection.time_zone = next((b["time_zone"] for b in found if b["time_zone"]), connection.time_zone)
        self.run_row.processed = self.run_row.total = len(found)

    def _statistics(self) -> None:
        run = self.run_row
        now = utcnow()
        if run.mode == INCREMENTAL and not self.resumed:
            wanted = self.affected | set(appointments.stale_stats_patient_ids(self.organization_id, now=now))
            run.total = run.processed = appointments.recompute_stats(self.organization_id, wanted, now=now)
        else:
            run.total = run.processed = appointments.recompute_stats(self.organization_id, now=now)

    # -- checkpoints --

    def _checkpoint(self, *, step_done: bool = False) -> None:
        """After each page: bring progress, counts and cursor up to date, and stop if a cancel was
        asked for. At most once a second (and at the end of each step, and before stopping) these
        are committed together with the rows written since: a checkpoint. Committing every page
        cost a large sync half its time in disk writes; a killed run loses a second of work."""
        run, now = self.run_row, utcnow()
        self.tally.write(run)
        weight = STEP_WEIGHTS.get
        done = sum(weight(step, 1) for step in run.steps[: run.step_index])
        fraction = 1.0 if step_done else (min(1.0, run.processed / run.total) if run.total else 0.0)
        total_weight = sum(weight(step, 1) for step in run.steps) or 1
        percent = min(100.0, 100.0 * (done + weight(run.current_step or "", 1) * fraction) / total_weight)
        run.percentage = round(max(run.percentage, percent), 1)
        run.heartbeat_at = now
        if run.started_at and run.percentage >= 1:
            elapsed = (now - run.started_at).total_seconds()
            run.estimated_completion_at = run.started_at + timedelta(seconds=elapsed * 100 / run.percentage)
        cancel = db.session.scalar(select(SyncRun.cancel_requested).where(SyncRun.id == run.id))
        if step_done or cancel or time.monotonic() - self.committed_at >= CHECKPOINT_SECONDS:
            if self.postgresql:
                # A crash may lose the last checkpoints, never half of one (rows and cursor commit
                # together), and the run repeats those pages; the disk need not be waited for.
                db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            message = f"{run.current_step}: {run.processed} of {run.total}"
            self.ctx.progress(run.percentage, step=run.current_step, message=message)  # commits
            self.committed_at = time.monotonic()
        if cancel:
            raise SyncCancelled

    def _refresh_planner_statistics(self, step_pages: int) -> None:
        """PostgreSQL plans the per-page lookup by Cliniko id from table statistics. A table that
        grew from nothing during this run has none (or stale ones) until autovacuum's next pass,
        and the plan then reads every link of the organization for each page: 60 ms a page at
        100,000 appointments instead of 1. So analyze after the 10th, 100th and 1000th page."""
        if step_pages in ANALYZE_AFTER_PAGES and self.postgresql:
            db.session.execute(text("ANALYZE cliniko_links, appointments"))
            db.session.commit()  # ANALYZE's lock is held until the transaction ends

    # -- id maps and links --

    def _id_map(self, resource: str) -> dict[str, str]:
        if resource not in self.ids:
            rows = db.session.execute(
                select(ClinikoLink.cliniko_id, ClinikoLink.local_id).where(
                    ClinikoLink.organization_id == self.organization_id, ClinikoLink.resource == resource
                )
            )
            self.ids[resource] = {row.cliniko_id: row.local_id for row in rows}
        return self.ids[resource]

    def _known(self, resource: str, model: type[Any], cliniko_ids: list[str]) -> dict[str, Any]:
        """What we already hold of these Cliniko records: {Cliniko id: row with ``local_id`` and
        ``content_hash``}. Appointments answer from their own table (which keeps their hash and
        their patient); everything else from its ClinikoLink rows."""
        if not cliniko_ids:
            return {}
        seen = self.seen.get(resource)
        if seen is not None and seen.isdisjoint(cliniko_ids):
            seen.update(cliniko_ids)
            return {}  # we held none of this resource when the step began, nor saw these since
        if model is Appointment:
            visit = Appointment
            query = select(visit.id.label("local_id"), visit.cliniko_id, visit.content_hash, visit.patient_id).where(
                visit.organization_id == self.organization_id, visit.cliniko_id.in_(cliniko_ids)
            )
        else:
            link = ClinikoLink
            query = select(link.id, link.cliniko_id, link.local_id, link.content_hash).where(
                link.organization_id == self.organization_id,
                link.resource == resource,
                link.cliniko_id.in_(cliniko_ids),
            )
        if seen is not None:
            seen.update(cliniko_ids)
        return {row.cliniko_id: row for row in db.session.execute(query)}

    def _note_if_empty(self, resource: str, model: type[Any]) -> None:
        """Before a step: if we hold nothing of ``resource`` yet (a first sync), remember the
        Cliniko ids this run writes instead of looking each page up. Only the sync creates these
        rows and only one sync of an organization runs at a time, so a record not seen earlier in
        this run is new."""
        holder = Appointment if model is Appointment else ClinikoLink
        where = [holder.organization_id == self.organization_id]
        if holder is ClinikoLink:
            where.append(ClinikoLink.resource == resource)
        if db.session.scalar(select(holder.id).where(*where).limit(1)) is None:
            self.seen[resource] = set()

    def _upsert(
        self,
        resource: str,
        model: type[Any],
        records: Iterable[tuple[str, str | None, Any, Callable[[], dict[str, Any]]]],
        known: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Insert new records, update changed ones, count the rest.

        ``records`` holds (Cliniko id, content hash, source updated_at, a function building the
        row's column values); values are built (and encrypted) only for rows that are written. A
        record without a hash is written and counted failed (its reason was recorded by the
        caller) and keeps no hash, so the next run looks at it again. The hash is kept on the row
        when the table has a column for it (appointments), else on the record's ClinikoLink.
        Returns the created and the updated rows as {Cliniko id: our id}.
        """
        batch = {cliniko_id: rest for cliniko_id, *rest in records}  # a repeated id: the last wins
        known = self._known(resource, model, list(batch)) if known is None else known
        own_hash = "content_hash" in model.__table__.c
        now = utcnow()
        created: dict[str, str] = {}
        updated: dict[str, str] = {}
        new_rows, new_links, rows, changed_links = [], [], [], []
        for cliniko_id, (digest, source_updated_at, build) in batch.items():
            held = known.get(cliniko_id)
            if held is not None and digest is not None and held.content_hash == digest:
                self.tally.count(resource, "unchanged")
                continue
            values = {**build(), "updated_at": now, **({"content_hash": digest} if own_hash else {})}
            if held is None:
                local_id = created[cliniko_id] = self.new_ids.take(model.id_prefix)
                new_rows.append({"id": local_id, "organization_id": self.organization_id, "created_at": now, **values})
                if "created_by_id" in model.__table__.c:
                    new_rows[-1]["created_by_id"] = self.actor.user_id
                if not own_hash:
                    new_links.append(self._link_row(resource, cliniko_id, local_id, digest, source_updated_at, now))
                if resource in self.ids:
                    self.ids[resource][cliniko_id] = local_id
            else:
                updated[cliniko_id] = held.local_id
                rows.append({"id": held.local_id, **values})
                if not own_hash:
                    changed = {"content_hash": digest, "source_updated_at": source_updated_at, "updated_at": now}
                    changed_links.append({"id": held.id, **changed})
            self.tally.count(resource, "failed" if digest is None else "created" if held is None else "updated")
        if new_rows:
            insert_rows(model, new_rows)
        if new_links:
            insert_rows(ClinikoLink, new_links)
        if rows:
            db.session.execute(update(model), rows)
        if changed_links:
            db.session.execute(update(ClinikoLink), changed_links)
        return created, updated

    def _link_row(self, resource: str, cliniko_id: str, local_id: str, digest: Any, moment: Any, now: Any) -> dict:
        return {
            "id": self.new_ids.take(ClinikoLink.id_prefix),
            "organization_id": self.organization_id,
            "resource": resource,
            "cliniko_id": cliniko_id,
            "local_id": local_id,
            "content_hash": digest,
            "source_updated_at": moment,
            "created_at": now,
            "updated_at": now,
        }

    def _mapped(self, resource: str, items: list[dict], mapper: Callable[[dict], Any]) -> list[Any]:
        """Map each record; one that cannot be mapped is counted failed and named, never fatal."""
        mapped = []
        for item in items:
            try:
                mapped.append(mapper(item))
            except mapping.MappingError as error:
                self.tally.fail(resource, str(item.get("id") or "?"), str(error))
        return mapped

    # -- practitioners and appointment types --

    def _practitioners_page(self, source: Source, page: Page) -> None:
        rows = self._mapped("practitioners", page.items, lambda i: mapping.map_practitioner(i, active=source.active))
        self._upsert("practitioners", Practitioner, (self._simple(values) for values in rows))

    def _types_page(self, source: Source, page: Page) -> None:
        rows = self._mapped("appointment_types", page.items, mapping.map_appointment_type)
        self._upsert("appointment_types", AppointmentType, (self._simple(values) for values in rows))

    def _simple(self, values: dict[str, Any]) -> tuple[str, str, Any, Callable[[], dict[str, Any]]]:
        digest = mapping.content_hash(self.vault, values)
        return values["cliniko_id"], digest, values["source_updated_at"], lambda: values

    # -- patients --

    def _patients_page(self, source: Source, page: Page) -> None:
        self._write_patients(self._mapped("patients", page.items, self._map_patient))

    def _map_patient(self, item: dict) -> mapping.MappedPatient:
        patient = mapping.map_patient(item, region=self.region, today=self.today)
        self.tally.phones(patient.phones_total, patient.phones_normalised, patient.email_dropped)
        return patient

    def _write_patients(self, batch: list[mapping.MappedPatient]) -> None:
        records = [
            (p.cliniko_id, mapping.content_hash(self.vault, p.hash_basis()), p.source_updated_at, self._patient_row(p))
            for p in batch
        ]
        created, updated = self._upsert("patients", Patient, records)
        if not created and not updated:
            return
        if updated:
            db.session.execute(delete(PatientIdentifier).where(PatientIdentifier.patient_id.in_(updated.values())))
        written = {**created, **updated}
        lookups = [
            {"id": self.new_ids.take(PatientIdentifier.id_prefix), **row}
            for patient in batch
            if patient.cliniko_id in written
            for row in identifier_rows(written[patient.cliniko_id], self.organization_id, patient.data, self.vault)
        ]
        if lookups:
            insert_rows(PatientIdentifier, lookups)
        self.affected.update(written.values())
        audit.record(
            "patients.synced",
            organization_id=self.organization_id,
            actor=self.actor,
            target_type="sync_run",
            target_id=self.run_row.id,
            details={"source": "cliniko", "created": list(created.values()), "updated": list(updated.values())},
        )

    def _patient_row(self, patient: mapping.MappedPatient) -> Callable[[], dict[str, Any]]:
        def build() -> dict[str, Any]:
            # The patients feature's own writer fills in the columns (on a plain object: an ORM
            # instance would cost more than the encryption, a new public id included).
            row = SimpleNamespace(**dict.fromkeys(PATIENT_COLUMNS))
            write_fields(row, patient.data, self.vault, patient.data.provided)  # type: ignore[arg-type]
            values = {name: getattr(row, name) for name in PATIENT_COLUMNS}
            values.update(archived=patient.archived_at is not None, archived_at=patient.archived_at)
            values["updated_by_id"] = self.actor.user_id  # created_by_id: on new rows only (_upsert)
            return values

        return build

    def _patient_id(self, cliniko_id: str | None) -> str | None:
        """Our patient for a Cliniko patient id; one we have not seen is fetched on its own (a
        patient registered while the sync was paging). None when Cliniko does not know it either."""
        if cliniko_id is None:
            return None
        known = self._id_map("patients").get(cliniko_id)
        if known is not None or cliniko_id in self.looked_up:
            return known
        self.looked_up.add(cliniko_id)
        try:
            item = self.client.get(f"patients/{cliniko_id}")
            self._write_patients([self._map_patient(item)])
        except (ClinikoRequestError, mapping.MappingError) as error:
            if isinstance(error, ClinikoRequestError) and error.status_code not in (404, 410):
                raise
            return None
        return self._id_map("patients").get(cliniko_id)

    # -- appointments --

    def _appointments_page(self, source: Source, page: Page) -> None:
        now = utcnow()
        records, patient_of = [], {}
        for appointment in self._mapped("appointments", page.items, mapping.map_appointment):
            patient_id = patient_of[appointment.cliniko_id] = self._patient_id(appointment.patient_cliniko_id)
            refs = {
                "patient_id": patient_id,
                "patient_cliniko_id": appointment.patient_cliniko_id,
                "practitioner_id": self._id_map("practitioners").get(appointment.practitioner_cliniko_id or ""),
                "appointment_type_id": self._id_map("appointment_types").get(
                    appointment.appointment_type_cliniko_id or ""
                ),
            }
            digest: str | None = mapping.content_hash(self.vault, {**appointment.values, **refs})
            if patient_id is None:
                # Stored (never dropped) but counted failed, and looked at again next run.
                digest = None
                reason = f"its patient (Cliniko id {appointment.patient_cliniko_id}) is not known to Cliniko"
                self.tally.fail("appointments", appointment.cliniko_id, reason, counted=False)
            row = self._appointment_row(appointment, refs, now)
            records.append((appointment.cliniko_id, digest, appointment.values["source_updated_at"], row))
        known = self._known("appointments", Appointment, list(patient_of))
        created, updated = self._upsert("appointments", Appointment, records, known=known)
        for cliniko_id in (*created, *updated):
            # Both the patient it has now and the one it had before (an appointment can move).
            held = known.get(cliniko_id)
            self.affected.update(filter(None, (patient_of.get(cliniko_id), held.patient_id if held else None)))

    def _appointment_row(
        self, appointment: mapping.MappedAppointment, refs: dict[str, Any], now: Any
    ) -> Callable[[], dict[str, Any]]:
        def build() -> dict[str, Any]:
            values = dict(appointment.values)
            notes, reason = values.pop("notes"), values.pop("cancellation_reason")
            values.update(refs)
            values["notes_enc"] = self.vault.encrypt(NOTES_FIELD, notes)
            values["cancellation_reason_enc"] = self.vault.encrypt(CANCELLATION_REASON_FIELD, reason)
            values["status"] = appointments.appointment_status(
                starts_at=values["starts_at"],
                cancelled_at=values["cancelled_at"],
                did_not_arrive=values["did_not_arrive"],
                patient_arrived=values["patient_arrived"],
                now=now,
            )
            return values

        return build
