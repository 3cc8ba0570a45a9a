"""Writing a page at once (``bulk.insert_rows``: one COPY on PostgreSQL, the plain INSERT on SQLite)
and the quick paths of the mapping's text and link readers, which must answer as the full rules do."""

from __future__ import annotations

import random
import re
import sys
import threading
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from clinic_app.appointments.models import AppointmentType, Practitioner
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.sync import bulk
from clinic_app.sync.mapping import clean_text, linked_id
from clinic_app.sync.models import ClinikoLink

MOMENT = datetime(2026, 3, 10, 9, 30, 15, 250000, tzinfo=UTC)


def link_rows(organization_id, count, **changes):
    now = utcnow()
    rows = [
        {
            "id": f"clk_bulk{number:04d}",
            "organization_id": organization_id,
            "resource": "patients",
            "cliniko_id": str(1000 + number),
            "local_id": f"pat_bulk{number:04d}",
            "content_hash": None if number % 3 == 0 else "ab" * 32,
            # Another offset: stored as the same instant.
            "source_updated_at": None if number % 4 == 0 else MOMENT.astimezone(timezone(timedelta(hours=10))),
            "created_at": now,
            "updated_at": now,
        }
        for number in range(count)
    ]
    return [{**row, **changes} for row in rows]


def postgresql():
    return db.engine.dialect.name == "postgresql"


def stored_by_id(model, organization_id, rows):
    """The organization's stored rows of ``model`` by id, after checking they are exactly ``rows``."""
    stored = {
        found.id: found for found in db.session.scalars(select(model).where(model.organization_id == organization_id))
    }
    assert sorted(stored) == sorted(row["id"] for row in rows)
    return stored


def count_copies(monkeypatch):
    """The COPYs opened from now on (their table names)."""
    opened = []
    open_copy = bulk._OpenCopy

    def counting(connection, shape, *rest):
        opened.append(shape[0].name)
        return open_copy(connection, shape, *rest)

    monkeypatch.setattr(bulk, "_OpenCopy", counting)
    return opened


@pytest.mark.parametrize("count", [3, bulk.COPY_FROM + 15])  # below and above the COPY threshold
def test_a_page_of_rows_is_stored_as_given(app_context, tenants, count, monkeypatch):
    copies = count_copies(monkeypatch)
    rows = link_rows(tenants.a.id, count)
    bulk.insert_rows(ClinikoLink, rows)
    # One COPY for a page on PostgreSQL; SQLite (and a few rows) take the INSERT.
    assert len(copies) == (postgresql() and count >= bulk.COPY_FROM)
    db.session.commit()
    stored = stored_by_id(ClinikoLink, tenants.a.id, rows)
    for row in rows:
        link = stored[row["id"]]
        assert (link.resource, link.cliniko_id, link.local_id, link.content_hash) == (
            row["resource"],
            row["cliniko_id"],
            row["local_id"],
            row["content_hash"],
        )
        assert link.source_updated_at == (None if row["source_updated_at"] is None else MOMENT)
        assert link.created_at == row["created_at"] and link.updated_at == row["updated_at"]


def test_text_with_tabs_quotes_and_backslashes_is_stored_as_given(app_context, tenants):
    odd = ["a\tb", "line\nbreak", "back\\slash", "quote'\"", "\\N", "é ü ß 中文"]
    rows = [
        {
            "id": f"prc_bulk{number:04d}",
            "organization_id": tenants.a.id,
            "cliniko_id": str(number),
            "first_name": value,
            "last_name": "x",
            "active": True,
            "created_at": MOMENT,
            "updated_at": MOMENT,
        }
        for number, value in enumerate(odd * 3)
    ]
    bulk.insert_rows(Practitioner, rows)
    db.session.commit()
    stored = dict(
        db.session.execute(
            select(Practitioner.id, Practitioner.first_name).where(Practitioner.organization_id == tenants.a.id)
        ).all()
    )
    assert stored == {row["id"]: row["first_name"] for row in rows}


def test_a_column_left_to_its_default_gets_it(app_context, tenants):
    """Rows without ``created_at``/``updated_at`` (Python-side defaults) take the plain INSERT, which fills them."""
    rows = [{key: value for key, value in row.items() if key not in ("created_at", "updated_at")}
            for row in link_rows(tenants.a.id, bulk.COPY_FROM + 5)]  # fmt: skip
    before = utcnow()
    bulk.insert_rows(ClinikoLink, rows)
    db.session.commit()
    stamps = db.session.scalars(select(ClinikoLink.created_at).where(ClinikoLink.organization_id == tenants.a.id))
    assert all(stamp >= before - timedelta(seconds=1) for stamp in stamps)


def test_a_naive_datetime_is_refused_as_by_the_insert(app_context, tenants):
    rows = link_rows(tenants.a.id, bulk.COPY_FROM + 5)
    rows[7]["source_updated_at"] = datetime(2026, 3, 10, 9, 30)  # naive: the point of the test
    with pytest.raises(Exception, match="naive datetimes are not stored"):
        bulk.insert_rows(ClinikoLink, rows)
    db.session.rollback()
    assert db.session.scalar(select(ClinikoLink.id).where(ClinikoLink.organization_id == tenants.a.id)) is None


def test_an_empty_page_writes_nothing(app_context, tenants):
    bulk.insert_rows(ClinikoLink, [])
    assert db.session.scalar(select(ClinikoLink.id)) is None


def test_pages_of_one_table_share_a_copy_that_any_other_statement_finishes(app_context, tenants, monkeypatch):
    copies = count_copies(monkeypatch)
    rows = link_rows(tenants.a.id, 60)
    bulk.insert_rows(ClinikoLink, rows[:20])
    bulk.insert_rows(ClinikoLink, rows[20:40])
    # A query in the same transaction sees both pages (the COPY is finished before it runs).
    held = select(func.count()).select_from(ClinikoLink).where(ClinikoLink.organization_id == tenants.a.id)
    assert db.session.scalar(held) == 40
    bulk.insert_rows(ClinikoLink, rows[40:])
    bulk.insert_rows(Practitioner, practitioner_rows(tenants.a.id, 12))  # another table: another COPY
    db.session.commit()
    assert db.session.scalar(held) == 60
    assert copies == (["cliniko_links", "cliniko_links", "practitioners"] if postgresql() else [])


def test_every_kind_of_value_a_page_holds_comes_back_as_written(app_context, tenants):
    """Numbers (none, zero, negative, the column's largest), text up to its length, time stamps in
    other offsets and at the edges of the accepted range, booleans and nulls: each column's value
    goes in as the type the server gives that column, and comes back unchanged."""
    durations = [None, 0, -1, 2_147_483_647, 45]
    moments = [None, MOMENT, MOMENT.astimezone(timezone(timedelta(hours=-9, minutes=-30))),
               datetime(1900, 1, 1, tzinfo=UTC), datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]  # fmt: skip
    rows = [
        {
            "id": f"aty_bulk{number:04d}",
            "organization_id": tenants.a.id,
            "cliniko_id": str(number),
            "name": "é" * 200 if number == 1 else f"Type {number}",
            "category": None if number % 2 else "Initial\tconsult",
            "color": "#00ff00",
            "duration_minutes": durations[number % len(durations)],
            "archived_at": moments[number % len(moments)],
            "source_updated_at": moments[(number + 1) % len(moments)],
            "created_at": MOMENT,
            "updated_at": MOMENT,
        }
        for number in range(bulk.COPY_FROM + 5)
    ]
    bulk.insert_rows(AppointmentType, rows)
    db.session.commit()
    stored = stored_by_id(AppointmentType, tenants.a.id, rows)
    for row in rows:
        assert {key: getattr(stored[row["id"]], key) for key in row} == row


def test_a_column_added_since_the_types_were_read_is_read_again(app_context, tenants, monkeypatch):
    """The column types a COPY sends are kept per table; a column missing from them (a migration
    added it while the process ran) has them read again instead of failing the page."""
    # As if read before every other column existed.
    monkeypatch.setattr(bulk, "_types_of", {"cliniko_links": {"id": 1043}})
    rows = link_rows(tenants.a.id, bulk.COPY_FROM + 5)
    bulk.insert_rows(ClinikoLink, rows)
    db.session.commit()
    assert sorted(stored_by_id(ClinikoLink, tenants.a.id, rows)) == sorted(row["id"] for row in rows)
    if postgresql():  # only the COPY (PostgreSQL) reads column types
        assert set(rows[0]) <= set(bulk._types_of["cliniko_links"])


def test_a_rollback_drops_the_rows_of_an_open_copy(app_context, tenants):
    bulk.insert_rows(ClinikoLink, link_rows(tenants.a.id, 30))
    db.session.rollback()
    assert db.session.scalar(select(ClinikoLink.id)) is None
    bulk.insert_rows(ClinikoLink, link_rows(tenants.a.id, 30))  # the connection is usable again
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ClinikoLink)) == 30


def test_an_error_in_a_copy_reaches_the_caller(app_context, tenants):
    rows = link_rows(tenants.a.id, 30)
    bulk.insert_rows(ClinikoLink, rows)
    with pytest.raises(IntegrityError):  # at once (an INSERT) or when the COPY is finished
        bulk.insert_rows(ClinikoLink, [{**row, "id": row["id"] + "b"} for row in rows])  # same Cliniko ids
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(ClinikoLink.id)) is None


def practitioner_rows(organization_id, count):
    return [
        {
            "id": f"prc_bulk{number:04d}",
            "organization_id": organization_id,
            "cliniko_id": str(number),
            "first_name": "Pat",
            "last_name": "Smith",
            "active": True,
            "created_at": MOMENT,
            "updated_at": MOMENT,
        }
        for number in range(count)
    ]


# --- the mapping's quick paths ------------------------------------------------------------------

_CONTROL = frozenset({"Cc", "Cs", "Zl", "Zp"})


def full_rule(value, limit, *, multiline=False):
    """clean_text as it reads every character (the rule the quick path must agree with)."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value).replace("\r\n", "\n").replace("\r", "\n"))
    keep = "\n\t" if multiline else ""
    text = "".join(ch if ch in keep or unicodedata.category(ch) not in _CONTROL else " " for ch in text)
    if not multiline:
        text = re.sub(r"\s+", " ", text)
    return text.strip()[:limit].rstrip() or None


PIECES = [
    "a", "Z", " ", "  ", "\t", "\n", "\r\n", "\r", "\x00", "\x1f", "\x85", "\u00a0", "\u2028", "\u2029",
    "\u200b", "\u3000", "e\u0301", "\u00e9", "Zoë", "O'Brien", "中文", "\U0001f600", "\ud800", "-", ".", "\\",
]  # fmt: skip


@pytest.mark.parametrize("multiline", [False, True])
def test_clean_text_answers_as_the_full_rule(multiline):
    draw = random.Random(20261207)
    samples = ["Review of treatment plan.", "  two  spaces  ", "Zoë Patel", "", "   ", 42, "x" * 300]
    samples += ["".join(draw.choice(PIECES) for _ in range(draw.randint(1, 12))) for _ in range(3000)]
    for sample in samples:
        for limit in (5, 200):
            assert clean_text(sample, limit, multiline=multiline) == full_rule(sample, limit, multiline=multiline), (
                repr(sample)
            )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"links": {"self": "https://api.au1.cliniko.com/v1/patients/82"}}, "82"),
        ({"links": {"self": "https://api.au1.cliniko.com/v1/patients/82/"}}, "82"),
        ({"links": {"self": "https://api.au1.cliniko.com/v1/patients/82?x=1#top"}}, "82"),
        ({"links": {"self": "https://api.au1.cliniko.com/v1/patients/82#a?b"}}, "82"),
        ({"links": {"self": " https://api.au1.cliniko.com/v1/patients/82 "}}, "82"),
        ({"links": {"self": "82"}}, None),
        ({"links": {"self": None}}, None),
        ({"links": "nope"}, None),
        (None, None),
        ("text", None),
    ],
)
def test_linked_ids(value, expected):
    assert linked_id(value) == expected


def test_a_writer_that_forgot_its_maps_reads_them_again(app_context, tenants):
    from types import SimpleNamespace

    from clinic_app.sync.models import Tally
    from clinic_app.sync.upsert import Upserter

    empty_run = SimpleNamespace(counts=None, failures=None, warnings=None, phones_total=0, phones_normalised=0,
                                emails_dropped=0)  # fmt: skip
    writer = Upserter(tenants.a.id, None, Tally(empty_run))
    writer.note_if_empty("patients", ClinikoLink)
    assert writer.known("patients", ClinikoLink, ["1000", "1001"]) == {}  # nothing held: no lookup
    rows = link_rows(tenants.a.id, 20)
    bulk.insert_rows(ClinikoLink, rows)
    assert writer.id_map("patients") == {row["cliniko_id"]: row["local_id"] for row in rows}
    writer.forget()
    bulk.insert_rows(ClinikoLink, link_rows(tenants.a.id, 1, id="clk_late", cliniko_id="5000", local_id="pat_late"))
    assert writer.id_map("patients")["5000"] == "pat_late"
    assert set(writer.known("patients", ClinikoLink, ["1000", "5000"])) == {"1000", "5000"}  # looked up again


def test_drawn_ids_look_like_the_apps_public_ids():
    ids = bulk.new_ids("apt", 3000)
    assert len(set(ids)) == 3000
    assert all(re.fullmatch(r"apt_[0-9A-Za-z]{22}", public_id) for public_id in ids)
    assert set("".join(public_id[4:] for public_id in ids)) == set(bulk._BASE62)  # every character drawn


# --- the page-fetching helper ---------------------------------------------------------------------


def _pages(count, *, fail_after=None):
    for number in range(count):
        if fail_after is not None and number == fail_after:
            raise RuntimeError("the connection dropped")
        yield number


def test_read_ahead_hands_the_gil_over_quickly_while_it_runs_and_puts_the_interval_back():
    before = sys.getswitchinterval()
    seen, intervals = [], []
    for page in bulk.read_ahead(_pages(5)):
        seen.append(page)
        intervals.append(sys.getswitchinterval())
    assert seen == [0, 1, 2, 3, 4]  # every page, in order
    assert intervals == [bulk.GIL_HANDOVER_SECONDS] * 5
    assert sys.getswitchinterval() == before

    stream = bulk.read_ahead(_pages(50))
    assert next(stream) == 0
    stream.close()  # stopped early
    assert sys.getswitchinterval() == before

    with pytest.raises(RuntimeError, match="dropped"):
        for _ in bulk.read_ahead(_pages(5, fail_after=2)):
            pass
    assert sys.getswitchinterval() == before


def test_overlapping_readers_keep_the_quick_handover_until_the_last_ends():
    before = sys.getswitchinterval()
    first_started, second_done = threading.Event(), threading.Event()
    during = []

    def second_reader():
        first_started.wait(5)
        for _ in bulk.read_ahead(_pages(3)):
            pass
        second_done.set()

    helper = threading.Thread(target=second_reader)
    helper.start()
    stream = bulk.read_ahead(_pages(3))
    next(stream)
    first_started.set()
    assert second_done.wait(5)
    during.append(sys.getswitchinterval())  # the second ended; the first still reads
    list(stream)
    helper.join(5)
    assert during == [bulk.GIL_HANDOVER_SECONDS]
    assert sys.getswitchinterval() == before


def test_a_quicker_handover_already_set_is_left_alone():
    before = sys.getswitchinterval()
    sys.setswitchinterval(bulk.GIL_HANDOVER_SECONDS / 2)
    try:
        with bulk.quick_gil_handover():
            assert sys.getswitchinterval() == pytest.approx(bulk.GIL_HANDOVER_SECONDS / 2)
        assert sys.getswitchinterval() == pytest.approx(bulk.GIL_HANDOVER_SECONDS / 2)
    finally:
        sys.setswitchinterval(before)
