"""The Cliniko sync engine: walks a run's steps, pages through Cliniko and upserts what it finds
(docs/sync.md). The job that runs it is ``sync.job``.

One run walks the steps of its mode. Each list is read in id order, 100 records a page. Each page
is upserted (keyed by organization and Cliniko id, compared by content hash: ``upsert``) and the
run's progress, counts and cursor brought up to date; at most once a second, and at every step's
end, all of it is committed together as a checkpoint. A killed run therefore keeps its finished
pages (all but the last second's), a resumed run starts from the saved cursor, and running from
scratch again creates no duplicates. One page of records is held in memory (and the next one,
fetched meanwhile: ``bulk.read_ahead``), plus the Cliniko-id -> our-id maps of practitioners,
appointment types and patients.

Patient records are written with the patients feature's own row writers (``rows``) and audited
once per page (``patients.synced`` with the ids created and updated, never a value).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit, crypto
from clinic_app.core.jobs import JobContext
from clinic_app.core.time import local_today, organization_zone, utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient, PatientIdentifier
from clinic_app.sync import mapping, rows
from clinic_app.sync.adopt import adopt_ours
from clinic_app.sync.bulk import insert_rows, read_ahead
from clinic_app.sync.client import ClinikoClient
from clinic_app.sync.cliniko import ClinikoRequestError, Page, updated_since
from clinic_app.sync.models import BASIC, INCREMENTAL, STEP_WEIGHTS, ClinikoConnection, SyncRun, Tally
from clinic_app.sync.outbox_job import send_waiting_writes
from clinic_app.sync.upsert import Upserter

PER_PAGE = 100
ANALYZE_AFTER_PAGES = (10, 100, 1000)
CHECKPOINT_SECONDS = 1.0
# The resource name (in counts and links) and table of each list step.
STEP_TABLES: dict[str, tuple[str, type[Any]]] = {
    "practitioners": ("practitioners", Practitioner),
    "appointment_types": ("appointment_types", AppointmentType),
    "patients": ("patients", Patient),
    "appointments": ("appointments", Appointment),
}


# --- patient figures: the one place the sync touches them ---------------------------------------

BASIC_WINDOW = timedelta(days=appointments.RECENT_DAYS)  # a basic sync reads this far back


def _refresh_figures(organization_id: str, touched: set[str] | None, *, now: datetime) -> int:
    """Recompute the patients' activity figures after a sync: those of the ``touched`` patients
    and of any whose figures went stale, or (``touched`` None) everyone's. Returns how many."""
    if touched is None:
        return figures.recompute(organization_id, now=now)
    wanted = touched | set(figures.stale_patient_ids(organization_id, now=now))
    return figures.recompute(organization_id, wanted, now=now)


class SyncCancelled(Exception):
    """Someone asked the run to stop."""


@dataclass(frozen=True)
class Source:
    """One list a step reads."""

    resource: str
    params: tuple[tuple[str, str], ...]
    active: bool = True  # practitioners: which list it is


class SyncEngine:
    """Walks the run's steps; see the module docstring for the promises it keeps."""

    def __init__(self, ctx: JobContext, run: SyncRun, client: ClinikoClient) -> None:
        self.ctx, self.run_row, self.client = ctx, run, client
        self.organization_id = run.organization_id
        self.actor = audit.Actor(user_id=run.created_by_id)
        self.vault = crypto.vault_for(run.organization_id)
        self.region = patients.organization_region(run.organization_id)
        self.today = local_today(organization_zone(run.organization_id))
        self.tally = Tally(run)
        self.writer = Upserter(run.organization_id, run.created_by_id, self.tally)
        self.affected: set[str] = set()  # patients whose figures need recomputing
        self.looked_up: set[str] = set()  # patients fetched one by one this run
        self.resumed = run.cursor is not None
        self.postgresql = db.session.get_bind().dialect.name == "postgresql"
        self.committed_at = time.monotonic()

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
        self.writer.note_if_empty(resource, model)
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
        self.writer.forget()  # the id maps of a large sync are no use to the recompute
        # An incremental touches the patients it wrote (and any with stale figures); else everyone.
        touched = self.affected if run.mode == INCREMENTAL and not self.resumed else None
        run.total = run.processed = _refresh_figures(self.organization_id, touched, now=utcnow())

    # -- checkpoints --

    def _checkpoint(self, *, step_done: bool = False) -> None:
        """After each page: bring progress, counts and cursor up to date. At most once a second
        (and at the end of each step) these are committed together with the rows written since, a
        checkpoint, and the run stops there if a cancel was asked for. Committing every page cost a
        large sync half its time in disk writes, and looking for a cancel every page a round trip
        each; a killed run loses a second of work, a cancel waits a second at most."""
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
        if not step_done and time.monotonic() - self.committed_at < CHECKPOINT_SECONDS:
            return  # the run's row is written, and a cancel looked for, when the checkpoint is due
        cancel = db.session.scalar(select(SyncRun.cancel_requested).where(SyncRun.id == run.id))
        if self.postgresql:
            # A crash may lose the last checkpoints, never half of one (rows and cursor commit
            # together), and the run repeats those pages; the disk need not be waited for.
            db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        message = f"{run.current_step}: {run.processed} of {run.total}"
        self.ctx.progress(run.percentage, step=run.current_step, message=message)  # commits
        self.committed_at = time.monotonic()
        send_waiting_writes(self.organization_id, self.client)  # a person waits for those; pages do not
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
        mapped = self._mapped("practitioners", page.items, lambda i: mapping.map_practitioner(i, active=source.active))
        self.writer.upsert("practitioners", Practitioner, (self._simple(values) for values in mapped))

    def _types_page(self, source: Source, page: Page) -> None:
        mapped = self._mapped("appointment_types", page.items, mapping.map_appointment_type)
        self.writer.upsert("appointment_types", AppointmentType, (self._simple(values) for values in mapped))

    def _simple(self, values: dict[str, Any]) -> tuple[str, str, Any, Callable[[], dict[str, Any]]]:
        digest = mapping.content_hash(self.vault, values)
        return values["cliniko_id"], digest, values["source_updated_at"], lambda: values

    # -- patients --

    def _patients_page(self, source: Source, page: Page) -> None:
        adopt_ours(self.organization_id, self.writer, page.items)  # created by our outbox, link not stored yet
        self._write_patients(self._mapped("patients", page.items, self._map_patient))

    def _map_patient(self, item: dict) -> mapping.MappedPatient:
        patient = mapping.map_patient(item, region=self.region, today=self.today)
        self.tally.phones(patient.phones_total, patient.phones_normalised, patient.email_dropped)
        return patient

    def _write_patients(self, batch: list[mapping.MappedPatient]) -> None:
        records = [
            (
                p.cliniko_id,
                mapping.content_hash(self.vault, p.hash_basis()),
                p.source_updated_at,
                rows.patient_row(p, self.vault, self.actor.user_id),
            )
            for p in batch
        ]
        created, updated = self.writer.upsert("patients", Patient, records)
        if not created and not updated:
            return
        if updated:
            db.session.execute(delete(PatientIdentifier).where(PatientIdentifier.patient_id.in_(updated.values())))
        written = {**created, **updated}
        lookups = [
            {"id": self.writer.new_ids.take(PatientIdentifier.id_prefix), **row}
            for patient in batch
            if patient.cliniko_id in written
            for row in rows.patient_identifier_rows(
                written[patient.cliniko_id], self.organization_id, patient, self.vault
            )
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

    def _patient_id(self, cliniko_id: str | None) -> str | None:
        """Our patient for a Cliniko patient id; one we have not seen is fetched on its own (a
        patient registered while the sync was paging). None when Cliniko does not know it either."""
        if cliniko_id is None:
            return None
        known = self.writer.id_map("patients").get(cliniko_id)
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
        return self.writer.id_map("patients").get(cliniko_id)

    # -- appointments --

    def _appointments_page(self, source: Source, page: Page) -> None:
        now = utcnow()
        records, patient_of = [], {}
        id_map = self.writer.id_map
        for appointment in self._mapped("appointments", page.items, mapping.map_appointment):
            if self.writer.is_erased("patients", appointment.patient_cliniko_id):
                self.tally.count(
                    "appointments", "unchanged"
                )  # the patient was erased here: nothing of theirs comes back
                continue
            patient_id = patient_of[appointment.cliniko_id] = self._patient_id(appointment.patient_cliniko_id)
            refs = {
                "patient_id": patient_id,
                "patient_cliniko_id": appointment.patient_cliniko_id,
                "practitioner_id": id_map("practitioners").get(appointment.practitioner_cliniko_id or ""),
                "appointment_type_id": id_map("appointment_types").get(appointment.appointment_type_cliniko_id or ""),
            }
            digest: str | None = mapping.content_hash(self.vault, {**appointment.values, **refs})
            if patient_id is None:
                # Stored (never dropped) but counted failed, and looked at again next run.
                digest = None
                reason = f"its patient (Cliniko id {appointment.patient_cliniko_id}) is not known to Cliniko"
                self.tally.fail("appointments", appointment.cliniko_id, reason, counted=False)
            row = rows.appointment_row(appointment, refs, self.vault, now)
            records.append((appointment.cliniko_id, digest, appointment.values["source_updated_at"], row))
        known = self.writer.known("appointments", Appointment, list(patient_of), Appointment.patient_id)
        created, updated = self.writer.upsert("appointments", Appointment, records, known=known)
        for cliniko_id in (*created, *updated):
            # Both the patient it has now and the one it had before (an appointment can move).
            held = known.get(cliniko_id)
            self.affected.update(filter(None, (patient_of.get(cliniko_id), held.patient_id if held else None)))
