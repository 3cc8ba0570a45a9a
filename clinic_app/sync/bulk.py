"""Bulk helpers for writing a sync's pages fast: public ids drawn in batches, the next page fetched
while this one is written, and a page's rows inserted at once (one ``COPY`` on PostgreSQL, the
table's plain INSERT elsewhere)."""

from __future__ import annotations

import contextlib
import os
import queue
import string
import sys
import threading
import weakref
from collections.abc import Generator, Iterator
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Connection, Date, Engine, Float, Integer, String, Table, event, insert
from sqlalchemy.exc import DBAPIError

from clinic_app.core.db import UTCDateTime
from clinic_app.extensions import db
from clinic_app.sync.cliniko import Page

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # core.db.new_id's alphabet
_BYTE_TO_BASE62 = bytes(ord(_BASE62[byte % 62]) for byte in range(256))
_UNEVEN_BYTES = bytes(range(248, 256))  # 248 = 4 x 62: below it every character is equally likely


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids shaped like ``core.db.new_id`` (22 base-62 characters, ~131 random bits) from
    one read of the OS's randomness. ``new_id`` draws each character separately, which costs more
    than everything else a row needs when a sync writes 200,000 rows. Bytes of 248 and above are
    skipped so that every character is equally likely."""
    wanted = 22 * count
    characters = ""
    while len(characters) < wanted:  # bytes of 248 and above dropped, the rest read modulo 62, in C
        characters += os.urandom(wanted + 64).translate(_BYTE_TO_BASE62, _UNEVEN_BYTES).decode("ascii")
    return [prefix + "_" + characters[i : i + 22] for i in range(0, wanted, 22)]


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
    with quick_gil_handover():
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


# While a helper fetches pages beside a writer, the interpreter hands the GIL over every
# millisecond instead of every five. The writer is busy Python; the helper mostly waits on its
# socket, and each of its system calls (a connection, a send, a read) gives the GIL away and then
# waited up to the whole interval to get it back: py-spy showed the helper's socket set-up as 11 %
# of its time and the writer waiting for pages 28 % of its own. Paired runs of the 10k/100k sync:
# 3.30x and 3.18x of the bare walk at 5 ms, 2.56x and 2.77x at 1 ms.
GIL_HANDOVER_SECONDS = 0.001
_handover_lock = threading.Lock()
_handover_users = 0
_handover_before = 0.0


@contextlib.contextmanager
def quick_gil_handover() -> Iterator[None]:
    """The quicker handover while the block runs; the interval before is back once the last of
    any overlapping blocks (several syncs in one process) has ended. Never slows a quicker one."""
    global _handover_users, _handover_before
    with _handover_lock:
        if _handover_users == 0:
            _handover_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_handover_before, GIL_HANDOVER_SECONDS))
        _handover_users += 1
    try:
        yield
    finally:
        with _handover_lock:
            _handover_users -= 1
            if _handover_users == 0:
                sys.setswitchinterval(_handover_before)


def _offer(slot: queue.Queue[tuple[str, Any]], stop: threading.Event, item: tuple[str, Any]) -> bool:
    while not stop.is_set():
        try:
            slot.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


COPY_FROM = 10  # below this many rows the plain INSERT is as quick
# Column types whose Python values PostgreSQL's COPY takes as they are (Text is a String).
_COPYABLE = (String, Boolean, Integer, Float, Date, UTCDateTime)


def insert_rows(model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) in the caller's transaction, bypassing the ORM's
    per-row bookkeeping (it costs more than mapping and encrypting the records).

    On PostgreSQL the rows go into a ``COPY`` (the INSERT the driver sent once per row cost a large
    sync more than everything else it did), which is left open while more rows of the same table
    and columns follow: the server stores one page while the sync fetches and maps the next, and
    the sync waits for it only when it next uses the connection otherwise (a query, its checkpoint's
    commit; ``_OpenCopy``). Rows the COPY cannot take as they are (a column the rows leave to a
    Python-side default, a type it would need converting) take the plain INSERT."""
    if not rows:
        return
    table = model.__table__
    columns = list(rows[0])
    if len(rows) >= COPY_FROM and db.session.get_bind().dialect.name == "postgresql":
        moments = _copyable(table, frozenset(columns))
        if moments is not None:
            _copy_rows(table, columns, [columns.index(name) for name in moments], rows)
            return
    db.session.execute(insert(table), rows)


@cache
def _copyable(table: Table, columns: frozenset[str]) -> tuple[str, ...] | None:
    """The date-time columns among ``columns`` if rows with these keys can be copied as they are:
    every column a known type, and none left out that SQLAlchemy would fill from a Python-side
    default (an omitted column with a database default gets it from COPY as from INSERT). None if not."""
    for column in table.columns:
        if column.key not in columns:
            if column.default is not None:
                return None
        elif not isinstance(column.type, _COPYABLE):
            return None
    if not columns <= set(table.columns.keys()):
        return None
    return tuple(key for key in columns if isinstance(table.columns[key].type, UTCDateTime))


def _copy_rows(table: Table, columns: list[str], moments: list[int], rows: list[dict[str, Any]]) -> None:
    values = [[row[name] for name in columns] for row in rows]
    for row_values in values:  # all checked before any is sent, as the INSERT does
        for at in moments:
            moment = row_values[at]
            if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
                # UTCDateTime refuses these on INSERT; COPY would store a naive one in the
                # session's time zone.
                raise ValueError("naive datetimes are not stored; use clinic_app.core.time.utcnow()")
    session_connection = db.session.connection()
    connection = session_connection.connection.driver_connection
    shape = (table, tuple(columns))
    open_copy = _open_copies.get(id(connection))
    if open_copy is not None and open_copy.shape != shape:
        finish_copy(connection)
        open_copy = None
    if open_copy is None:
        _watch(session_connection.engine)
        open_copy = _OpenCopy(connection, shape, session_connection.dialect.dbapi)
        _open_copies[id(connection)] = open_copy
    write_row = open_copy.copy.write_row
    with open_copy.errors():
        for row_values in values:
            write_row(row_values)


# --- a COPY left open between pages -------------------------------------------------------------

_open_copies: dict[int, _OpenCopy] = {}  # id(driver connection) -> its open COPY
_watched: weakref.WeakSet[Engine] = weakref.WeakSet()


class _Abandoned(Exception):
    """Ends an open COPY without storing its rows (the transaction is being rolled back)."""


class _OpenCopy:
    """A ``COPY ... FROM STDIN`` into one table with one set of columns, open on a connection.
    Nothing else may run on that connection until it is finished: the engine's events below see
    to that (any statement, commit or rollback on it finishes or abandons it first).

    The rows go in PostgreSQL's binary format, each value written as the type the server says its
    column has: turning a row into COPY's text took about ten times as long (every time stamp
    written out as text and read back by the server), a tenth of a large sync's own work."""

    def __init__(self, connection: Any, shape: tuple[Table, tuple[str, ...]], dbapi: Any) -> None:
        self.shape, self._dbapi = shape, dbapi
        table, columns = shape
        self.statement = "COPY {} ({}) FROM STDIN (FORMAT BINARY)"
        self._stack = contextlib.ExitStack()
        try:
            with self.errors():
                names = [table.columns[key].name for key in columns]
                kinds = _column_types(connection, table.name, names)
                quoted = ", ".join(f'"{name}"' for name in names)
                self.statement = self.statement.format(f'"{table.name}"', quoted)
                cursor = self._stack.enter_context(connection.cursor())
                self.copy = self._stack.enter_context(cursor.copy(self.statement))
                self.copy.set_types(kinds)
        except BaseException:
            self._stack.close()
            raise

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """The driver's errors as SQLAlchemy raises them for a statement (an IntegrityError for a
        duplicate key, ...), as the INSERT did."""
        try:
            yield
        except self._dbapi.Error as error:
            raise DBAPIError.instance(self.statement, None, error, self._dbapi.Error) from error

    def finish(self) -> None:
        """Send the end of the data and wait until the server has stored every row (raises its error)."""
        with self.errors():
            self._stack.close()

    def abandon(self) -> None:
        """Tell the server to drop the rows (COPY fails, the transaction with it)."""
        with contextlib.suppress(Exception):
            self._stack.__exit__(_Abandoned, _Abandoned(), None)


_types_of: dict[str, dict[str, int]] = {}  # table name -> {column name: type oid}


def _column_types(connection: Any, table: str, names: list[str]) -> list[int]:
    """The type oids of ``names`` in ``table`` as the server has them. Read once per table and
    process, and again when a column is missing from what was read (one a migration added since)."""
    kinds = _types_of.get(table, {})
    if not all(name in kinds for name in names):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid::int FROM pg_attribute "
                "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                (f'"{table}"',),
            )
            kinds = dict(cursor.fetchall())
        missing = [name for name in names if name not in kinds]
        if missing:
            raise LookupError(f"table {table!r} has no column {missing[0]!r}")
        _types_of[table] = kinds
    return [kinds[name] for name in names]


def finish_copy(connection: Any) -> None:
    """Finish the COPY open on ``connection`` (a driver connection), if any."""
    open_copy = _open_copies.pop(id(connection), None)
    if open_copy is not None:
        open_copy.finish()


def _abandon_copy(connection: Any) -> None:
    open_copy = _open_copies.pop(id(connection), None)
    if open_copy is not None:
        open_copy.abandon()


def _watch(engine: Engine) -> None:
    """Make every use of ``engine``'s connections finish (or, for a rollback, abandon) a COPY left
    open on that connection first. Cheap when none is open: one look at an empty dict."""
    if engine in _watched:
        return
    _watched.add(engine)

    def before_statement(connection: Connection, *_: Any) -> None:
        if _open_copies:
            finish_copy(connection.connection.driver_connection)

    def before_rollback(connection: Connection) -> None:
        if _open_copies:
            _abandon_copy(connection.connection.driver_connection)

    def pool_reset(driver_connection: Any, *_: Any) -> None:
        if _open_copies:
            _abandon_copy(driver_connection)

    def pool_forget(driver_connection: Any, *_: Any) -> None:
        _open_copies.pop(id(driver_connection), None)  # closed: its COPY went with it

    event.listen(engine, "before_cursor_execute", before_statement)
    event.listen(engine, "commit", before_statement)
    event.listen(engine, "rollback", before_rollback)
    event.listen(engine.pool, "reset", pool_reset)
    event.listen(engine.pool, "close", pool_forget)
    event.listen(engine.pool, "invalidate", pool_forget)
