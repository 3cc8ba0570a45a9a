"""The names the active-patients list shows and offers: the organization's appointment types and
practitioners, read together once per page view (``caseload.active`` filters and rows use them)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, bindparam, literal_column, null, select, union_all

from clinic_app.appointments.models import AppointmentType, Practitioner
from clinic_app.extensions import db


@dataclass(frozen=True)
class References:
    """The organization's appointment types and practitioners by id, archived ones included (a
    patient's next appointment may still be with one); the filter lists offer the others."""

    types: dict[str, str]
    practitioners: dict[str, str]
    archived: frozenset[str] = frozenset()

    def type_choices(self) -> list[tuple[str, str]]:
        return [(id_, name) for id_, name in self.types.items() if id_ not in self.archived]

    def practitioner_choices(self) -> list[tuple[str, str]]:
        return [(id_, name) for id_, name in self.practitioners.items() if id_ not in self.archived]


@functools.cache
def _references_statement() -> Select[Any]:
    """Both lists in one round trip (a page view reads them every time): the types by name, then
    the practitioners by family and given name, archived ones included."""
    org = bindparam("org", type_=String)
    types = select(
        literal_column("'type'").label("kind"),
        AppointmentType.id,
        AppointmentType.name,
        null().label("first_name"),
        null().label("last_name"),
        AppointmentType.archived_at,
        AppointmentType.name.label("sort1"),
        null().label("sort2"),
    ).where(AppointmentType.organization_id == org)
    people = select(
        literal_column("'practitioner'"),
        Practitioner.id,
        Practitioner.title,
        Practitioner.first_name,
        Practitioner.last_name,
        Practitioner.archived_at,
        Practitioner.last_name,
        Practitioner.first_name,
    ).where(Practitioner.organization_id == org)
    both = union_all(types, people).subquery()
    return select(both).order_by(both.c.kind.desc(), both.c.sort1, both.c.sort2, both.c.id)


def references(organization_id: str) -> References:
    rows = db.session.execute(_references_statement(), {"org": organization_id}).all()
    types = [row for row in rows if row.kind == "type"]
    people = [row for row in rows if row.kind != "type"]
    return References(
        types={row.id: row.name or "Unnamed type" for row in types},
        practitioners={
            row.id: practitioner_name(row.name, row.first_name, row.last_name) or "Unnamed" for row in people
        },
        archived=frozenset(row.id for row in rows if row.archived_at is not None),
    )


def practitioner_name(title: str | None, first: str | None, last: str | None) -> str | None:
    name = " ".join(part for part in (title, first, last) if part)
    return name or None
