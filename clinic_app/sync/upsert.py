"""The generic upsert a sync writes each page with: Cliniko records keyed by organization and
Cliniko id, compared by content hash, inserted, updated or counted unchanged.

Where a record's hash lives depends on its table: a table with its own ``cliniko_id`` and
``content_hash`` columns (appointments) keeps them on the row; any other keeps them on the
record's ``ClinikoLink`` (Cliniko id -> our id). ``Upserter`` also holds the run's Cliniko-id ->
our-id maps and, on a first sync, the ids written so far (so it need not look each page up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select, update

from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.sync.bulk import IdSource, insert_rows
from clinic_app.sync.models import ClinikoLink, Tally

# (Cliniko id, content hash or None, source updated_at, a function building the row's values)
Record = tuple[str, str | None, Any, Callable[[], dict[str, Any]]]

# The content hash of a record whose patient was erased here (``sync.erasure``): never a real
# digest (those are 64 hex characters), and a sync leaves such a record as it is.
ERASED = "erased"


def keeps_own_hash(model: type[Any]) -> bool:
    """Whether ``model``'s rows hold their Cliniko id and content hash themselves."""
    return "content_hash" in model.__table__.c


class Upserter:
    """One run's writer of Cliniko records into one organization's tables."""

    def __init__(self, organization_id: str, actor_id: str | None, tally: Tally) -> None:
        self.organization_id, self.actor_id, self.tally = organization_id, actor_id, tally
        self.new_ids = IdSource()
        self.ids: dict[str, dict[str, str]] = {}  # resource -> {cliniko id: our id}
        # resource -> the hashes of the Cliniko ids written (see note_if_empty): a large sync's
        # 100,000 ids as small ints rather than strings; two ids sharing a hash only cost a lookup.
        self.seen: dict[str, set[int]] = {}
        self.erased_ids: dict[str, set[str]] = {}  # resource -> Cliniko ids of erased records

    def id_map(self, resource: str) -> dict[str, str]:
        """{Cliniko id: our id} of a resource kept in links, read once a run and kept up to date."""
        if resource not in self.ids:
            rows = db.session.execute(
                select(ClinikoLink.cliniko_id, ClinikoLink.local_id, ClinikoLink.content_hash).where(
                    ClinikoLink.organization_id == self.organization_id, ClinikoLink.resource == resource
                )
            )
            self.ids[resource] = {}
            for row in rows:
                self.ids[resource][row.cliniko_id] = row.local_id
                if row.content_hash == ERASED:
                    self.erased_ids.setdefault(resource, set()).add(row.cliniko_id)
        return self.ids[resource]

    def is_erased(self, resource: str, cliniko_id: str | None) -> bool:
        """Whether the Cliniko record ``cliniko_id`` was linked to a patient erased here."""
        self.id_map(resource)
        return cliniko_id is not None and cliniko_id in self.erased_ids.get(resource, ())

    def known(self, resource: str, model: type[Any], cliniko_ids: list[str], *extra: Any) -> dict[str, Any]:
        """What we already hold of these Cliniko records: {Cliniko id: row with ``local_id`` and
        ``content_hash``}. A table keeping its own hash answers from itself (with the ``extra``
        columns, e.g. an appointment's patient); everything else from its ClinikoLink rows."""
        if not cliniko_ids:
            return {}
        seen = self.seen.get(resource)
        hashes = set(map(hash, cliniko_ids)) if seen is not None else set()
        if seen is not None and seen.isdisjoint(hashes):
            seen.update(hashes)
            return {}  # we held none of this resource when the step began, nor saw these since
        if keeps_own_hash(model):
            query = select(model.id.label("local_id"), model.cliniko_id, model.content_hash, *extra).where(
                model.organization_id == self.organization_id, model.cliniko_id.in_(cliniko_ids)
            )
        else:
            link = ClinikoLink
            query = select(link.id, link.cliniko_id, link.local_id, link.content_hash).where(
                link.organization_id == self.organization_id,
                link.resource == resource,
                link.cliniko_id.in_(cliniko_ids),
            )
        if seen is not None:
            seen.update(hashes)
        return {row.cliniko_id: row for row in db.session.execute(query)}

    def forget(self) -> None:
        """Drop what this run keeps in memory (id maps, ids written), to be read again if needed:
        the last step (the statistics) has no use for it and needs the room."""
        self.ids.clear()
        self.seen.clear()
        self.erased_ids.clear()

    def note_if_empty(self, resource: str, model: type[Any]) -> None:
        """Before a step: if we hold nothing of ``resource`` yet (a first sync), remember the
        Cliniko ids this run writes instead of looking each page up. Only the sync creates these
        rows and only one sync of an organization runs at a time, so a record not seen earlier in
        this run is new."""
        holder = model if keeps_own_hash(model) else ClinikoLink
        where = [holder.organization_id == self.organization_id]
        if holder is ClinikoLink:
            where.append(ClinikoLink.resource == resource)
        if db.session.scalar(select(holder.id).where(*where).limit(1)) is None:
            self.seen[resource] = set()

    def upsert(
        self,
        resource: str,
        model: type[Any],
        records: Iterable[Record],
        known: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Insert new records, update changed ones, count the rest.

        ``records`` holds (Cliniko id, content hash, source updated_at, a function building the
        row's column values); values are built (and encrypted) only for rows that are written. A
        record without a hash is written and counted failed (its reason was recorded by the
        caller) and keeps no hash, so the next run looks at it again. Returns the created and the
        updated rows as {Cliniko id: our id}.
        """
        batch = {cliniko_id: rest for cliniko_id, *rest in records}  # a repeated id: the last wins
        known = self.known(resource, model, list(batch)) if known is None else known
        own_hash = keeps_own_hash(model)
        now = utcnow()
        created: dict[str, str] = {}
        updated: dict[str, str] = {}
        new_rows, new_links, rows, changed_links = [], [], [], []
        for cliniko_id, (digest, source_updated_at, build) in batch.items():
            held = known.get(cliniko_id)
            if held is not None and held.content_hash == ERASED:
                self.tally.count(resource, "unchanged")  # erased here: Cliniko's copy is not written back
                continue
            if held is not None and digest is not None and held.content_hash == digest:
                self.tally.count(resource, "unchanged")
                continue
            values = {**build(), "updated_at": now, **({"content_hash": digest} if own_hash else {})}
            if held is None:
                local_id = created[cliniko_id] = self.new_ids.take(model.id_prefix)
                new_rows.append({"id": local_id, "organization_id": self.organization_id, "created_at": now, **values})
                if "created_by_id" in model.__table__.c:
                    new_rows[-1]["created_by_id"] = self.actor_id
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
