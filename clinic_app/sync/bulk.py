"""Bulk helpers for writing a sync's pages fast: public ids drawn in batches, the next page fetched
while this one is written, and rows inserted with the table's plain INSERT."""

from __future__ import annotations

import os
import queue
import string
import threading
from collections.abc import Generator, Iterator
from typing import Any

from sqlalchemy import insert

from clinic_app.extensions import db
from clinic_app.sync.cliniko import Page

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
