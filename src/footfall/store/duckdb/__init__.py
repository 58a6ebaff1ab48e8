"""Embedded store on DuckDB: one writer connection, a small pool of reader cursors for reports,
and a cursor each for the processor's reads and for small lookups (tenancy, meta, usage).

DuckDB allows one writing process; inside it, writes are serialised by a lock (the processor
writes a batch in one transaction, tenancy changes are rare) and reports run on their own
cursors, which read a consistent snapshot without waiting for the writer (MVCC).

A checkpoint that fails (the disk is full) makes DuckDB invalidate the database: every later
statement fails until it is opened again. The store then opens it again by itself, at most
every ``REOPEN_EVERY_S``, so processing resumes once space returns, without a restart.

With settings, the engine keeps to ``duckdb_memory_limit`` and spills bigger sorts and joins
to ``<data_dir>/duckdb-tmp``, there is one reader cursor more than ``report_workers`` (so
reports never hold every one), and a report past ``report_timeout`` is interrupted on its
cursor, which stays usable, and raises :class:`ReportTimeout`.

Derived rows carry their property's generation (:class:`footfall.store.Generations`): the
processor reads and writes each property's live one, a rebuild the one it builds on a cursor of
its own, and a report reads the live generation and its rows in one snapshot.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from footfall.report.query import ReportQuery, ReportResult
from footfall.schema.events import EnrichedEvent
from footfall.store import Generation, ReportTimeout, SessionProbe, WriteSet
from footfall.store.duckdb import arrow
from footfall.store.duckdb.history import HistoryTables, live_generations, save_rebuild
from footfall.store.duckdb.migrate import migrate
from footfall.store.duckdb.realtime_sql import run_realtime
from footfall.store.duckdb.report_sql import execute, run_report
from footfall.store.duckdb.tenancy import TenancyTables

if TYPE_CHECKING:
    from footfall.settings import Settings

READERS = 4  # without settings
REOPEN_EVERY_S = 1.0
TEMP_DIRECTORY = "duckdb-tmp"  # under data_dir: where queries spill past the memory limit
_EVENT_COLUMNS = ", ".join(arrow.EVENT_SCHEMA.names)
_SESSION_COLUMNS = ", ".join(arrow.SESSION_SCHEMA.names)
_SESSION_UPDATE = ", ".join(
    f"{c} = excluded.{c}"
    for c in arrow.SESSION_SCHEMA.names
    if c not in ("property_id", "session_key")
)


class DuckDBStore(HistoryTables, TenancyTables):
    """Results are always read with ``fetchall``: DuckDB refuses ``register`` on a connection
    whose last result was not read to the end."""

    def __init__(self, path: str, *, settings: Settings | None = None) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._config: dict[str, str | bool | int | float | list[str]] = {}
        self._reader_count = READERS
        self.report_timeout = 0.0  # seconds; 0: no budget
        if settings is not None:
            self._config = {
                "memory_limit": settings.duckdb_memory_limit,
                "temp_directory": str(settings.data_path.resolve() / TEMP_DIRECTORY),
            }
            self._reader_count = settings.report_workers + 1
            self.report_timeout = settings.report_timeout
        self._lock = threading.Lock()
        self._readers: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue()
        self._ingest_lock = threading.Lock()
        self._lookup_lock = threading.Lock()
        # a rebuild's reads (raw pages, its generation's sessions): the processor never waits on them
        self._history_lock = threading.Lock()
        self._invalidated = False
        self._next_reopen = 0.0
        self._open()

    # -- plumbing -----------------------------------------------------------------------

    def _open(self) -> None:
        """Connect, apply the schema, make the cursors: at start, and after an invalidation."""
        con = duckdb.connect(self.path, config=self._config)
        try:
            migrate(con)  # creates a new file's tables, or brings an older file up to date
        except BaseException:
            con.close()
            raise
        self._con = con
        for _ in range(self._reader_count):
            self._readers.put(con.cursor())
        # the processor's own cursor, and one for small lookups (tenancy, meta, usage): reports
        # holding every reader never stall ingestion or authentication
        self._ingest = con.cursor()
        self._lookup = con.cursor()
        self._history = con.cursor()

    def _reopen(self) -> None:
        """Close every cursor (waiting for reports in flight, which fail at once on an
        invalidated database) and open the database again; on failure, try again at the next
        use after ``REOPEN_EVERY_S``."""
        with self._lock, self._ingest_lock, self._lookup_lock, self._history_lock:
            if not self._invalidated:
                return  # another thread has done it
            if time.monotonic() < self._next_reopen:
                raise duckdb.IOException(
                    "the DuckDB store was invalidated by an earlier error (a full disk?) and "
                    "is being opened again"
                )
            self._next_reopen = time.monotonic() + REOPEN_EVERY_S
            old = [self._readers.get() for _ in range(self._reader_count)]
            for cur in [*old, self._ingest, self._lookup, self._history, self._con]:
                with contextlib.suppress(duckdb.Error):
                    cur.close()
            try:
                self._open()
            except BaseException:
                for cur in old:  # closed: they fail fast until the next attempt
                    self._readers.put(cur)
                raise
            self._invalidated = False

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Open the database again if it was invalidated; notice when it is."""
        if self._invalidated and self.path != ":memory:":
            self._reopen()
        try:
            yield
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.FatalException) or "invalidated" in str(exc):
                self._invalidated = True
            raise

    @contextlib.contextmanager
    def _reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._guard():
            cur = self._readers.get()
            try:
                yield cur
            finally:
                self._readers.put(cur)

    @contextlib.contextmanager
    def _ingest_reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._guard(), self._ingest_lock:
            yield self._ingest

    @contextlib.contextmanager
    def _lookup_reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._guard(), self._lookup_lock:
            yield self._lookup

    @contextlib.contextmanager
    def _history_reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._guard(), self._history_lock:
            yield self._history

    def _derived_reader(self, generation: Generation) -> Any:
        """The rebuild's cursor for its own generation, the processor's for the live ones."""
        return self._history_reader() if isinstance(generation, int) else self._ingest_reader()

    @staticmethod
    def _generations(
        cur: duckdb.DuckDBPyConnection, property_ids: Sequence[str], generation: Generation
    ) -> list[int]:
        """The generation of each row's property, as ``generation`` says (:data:`Generation`)."""
        if isinstance(generation, int):
            return [generation] * len(property_ids)
        pinned = generation or {}
        live = live_generations(cur, [p for p in property_ids if p not in pinned])
        return [pinned[p] if p in pinned else live.get(p, 0) for p in property_ids]

    def live_generations(self, property_ids: Iterable[str]) -> dict[str, int]:
        ids = sorted(set(property_ids))
        with self._ingest_reader() as cur:
            live = live_generations(cur, ids)
        return {p: live.get(p, 0) for p in ids}

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._guard(), self._lock:
            con = self._con
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # an invalidated database refuses it
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, sql: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        con.register("_batch", table)
        try:
            con.execute(sql)
        finally:
            con.unregister("_batch")

    # -- EventStore -----------------------------------------------------------------------

    def known_event_ids(
        self, keys: Sequence[tuple[str, str]], *, generation: Generation = None
    ) -> set[tuple[str, str]]:
        if not keys:
            return set()
        with self._derived_reader(generation) as cur:
            gens = self._generations(cur, [k[0] for k in keys], generation)
            table = arrow.rows_table(
                ["property_id", "event_id", "generation"],
                [pa.string(), pa.string(), pa.int32()],
                [(p, e, g) for (p, e), g in zip(keys, gens, strict=True)],
            )
            cur.register("_keys", table)
            try:
                rows = cur.execute(
                    "SELECT e.property_id, e.event_id FROM events e "
                    "SEMI JOIN _keys k ON e.property_id = k.property_id AND e.event_id = k.event_id "
                    "AND e.generation = k.generation"
                ).fetchall()
            finally:
                cur.unregister("_keys")
        return {(r[0], r[1]) for r in rows}

    def session_events(
        self, probes: Sequence[SessionProbe], timeout_us: int, *, generation: Generation = None
    ) -> list[EnrichedEvent]:
        if not probes:
            return []
        lowest = min(p.lo for p in probes) - timeout_us
        with self._derived_reader(generation) as cur:
            gens = self._generations(cur, [p.property_id for p in probes], generation)
            table = arrow.rows_table(
                ["property_id", "visitor_id", "csid", "lo", "hi", "generation"],
                [pa.string(), pa.string(), pa.string(), pa.int64(), pa.int64(), pa.int32()],
                [
                    (p.property_id, p.visitor_id, p.client_session_id, p.lo, p.hi, g)
                    for p, g in zip(probes, gens, strict=True)
                ],
            )
            cur.register("_probes", table)
            try:
                found = cur.execute(
                    "SELECT DISTINCT s.property_id, s.session_key, s.start_time, s.end_time, "
                    "s.generation FROM sessions s JOIN _probes p ON s.property_id = p.property_id "
                    "AND s.generation = p.generation AND s.visitor_id = p.visitor_id "
                    "AND s.client_session_id IS NOT DISTINCT FROM p.csid "
                    "AND s.start_time <= p.hi + ? AND s.end_time >= p.lo - ? "
                    "WHERE s.end_time >= ?",
                    [timeout_us, timeout_us, lowest],
                ).fetchall()
            finally:
                cur.unregister("_probes")
            if not found:
                return []
            keys = arrow.rows_table(
                ["property_id", "session_key", "generation"],
                [pa.string(), pa.string(), pa.int32()],
                [(r[0], r[1], r[4]) for r in found],
            )
            cur.register("_sessions", keys)
            try:
                result = cur.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM events e SEMI JOIN _sessions k "
                    "ON e.property_id = k.property_id AND e.generation = k.generation "
                    "AND e.session_key = k.session_key "
                    "WHERE e.event_time BETWEEN ? AND ?",
                    [min(r[2] for r in found), max(r[3] for r in found)],
                )
                names = [d[0] for d in result.description]
                rows = result.fetchall()
            finally:
                cur.unregister("_sessions")
        return [EnrichedEvent(**dict(zip(names, row, strict=True))) for row in rows]

    def write(self, writes: WriteSet) -> None:
        raw = arrow.rows_table(
            ["property_id", "event_id", "received_at", "event_time", "ip", "payload"],
            [pa.string(), pa.string(), pa.int64(), pa.int64(), pa.string(), pa.binary()],
            [
                (r.property_id, r.event_id, r.received_at, r.event_time, r.ip, r.payload)
                for r in writes.raw
            ],
        )
        with self._transaction() as con:
            gen = self._generation_column(con, writes)
            self._insert(
                con, "INSERT INTO raw_events SELECT * FROM _batch ON CONFLICT DO NOTHING", raw
            )
            if writes.events:
                events = arrow.events_table(writes.events)
                self._insert(
                    con,
                    f"INSERT INTO events ({_EVENT_COLUMNS}, generation) SELECT * FROM _batch "
                    "ON CONFLICT DO NOTHING",
                    events.append_column("generation", gen(writes.events)),
                )
            rekeyed = arrow.rows_table(
                ["property_id", "event_id", "session_key"],
                [pa.string()] * 3,
                [(e.property_id, e.event_id, e.session_key) for e in writes.rekeyed],
            )
            self._insert(
                con,
                "UPDATE events SET session_key = b.session_key FROM _batch b "
                "WHERE events.property_id = b.property_id AND events.generation = b.generation "
                "AND events.event_id = b.event_id",
                rekeyed.append_column("generation", gen(writes.rekeyed)),
            )
            stale = arrow.rows_table(
                ["property_id", "session_key"],
                [pa.string()] * 2,
                [(s.property_id, s.session_key) for s in writes.stale_sessions],
            )
            self._insert(
                con,
                "DELETE FROM sessions USING _batch b "
                "WHERE sessions.property_id = b.property_id "
                "AND sessions.generation = b.generation AND sessions.session_key = b.session_key",
                stale.append_column("generation", gen(writes.stale_sessions)),
            )
            if writes.sessions:
                sessions = arrow.sessions_table(writes.sessions)
                self._insert(
                    con,
                    f"INSERT INTO sessions ({_SESSION_COLUMNS}, generation) SELECT * FROM _batch "
                    f"ON CONFLICT DO UPDATE SET {_SESSION_UPDATE}",
                    sessions.append_column("generation", gen(writes.sessions)),
                )
            first_seen = arrow.rows_table(
                ["property_id", "visitor_id", "first_time", "first_event_id"],
                [pa.string(), pa.string(), pa.int64(), pa.string()],
                writes.first_seen,
            )
            self._insert(
                con,
                "INSERT INTO visitors (property_id, visitor_id, first_time, first_event_id, "
                "generation) SELECT * FROM _batch ON CONFLICT DO UPDATE SET "
                "first_time = excluded.first_time, first_event_id = excluded.first_event_id "
                "WHERE excluded.first_time < visitors.first_time OR (excluded.first_time = "
                "visitors.first_time AND excluded.first_event_id < visitors.first_event_id)",
                first_seen.append_column("generation", gen(writes.first_seen)),
            )
            dead = arrow.rows_table(
                ["property_id", "event_id", "reason", "detail", "received_at", "payload"],
                [pa.string(), pa.string(), pa.string(), pa.string(), pa.int64(), pa.binary()],
                [
                    (d.property_id, d.event_id, str(d.reason), d.detail, d.received_at, d.payload)
                    for d in writes.dead_letters
                ],
            )
            self._insert(
                con,
                "INSERT INTO dead_letters SELECT * FROM _batch",
                dead.append_column("generation", gen(writes.dead_letters)),
            )
            if writes.rebuild is not None:
                save_rebuild(con, writes.rebuild)

    def _generation_column(
        self, con: duckdb.DuckDBPyConnection, writes: WriteSet
    ) -> Callable[[Sequence[Any]], pa.Array]:
        """Rows (structs with a ``property_id``, or tuples starting with one) → the
        ``generation`` column: the write's (:data:`Generation`), a property it does not name
        taking its live one in this transaction."""
        fixed = writes.generation
        live: dict[str, int] = {}
        if not isinstance(fixed, int):
            groups = (
                writes.events,
                writes.rekeyed,
                writes.stale_sessions,
                writes.sessions,
                writes.dead_letters,
            )
            ids = {x.property_id for rows in groups for x in rows}
            ids |= {row[0] for row in writes.first_seen}
            pinned = fixed or {}
            live = live_generations(con, sorted(ids - pinned.keys()))
            live.update(pinned)

        def column(rows: Sequence[Any]) -> pa.Array:
            if isinstance(fixed, int):
                return pa.array([fixed] * len(rows), pa.int32())
            return pa.array(
                [live.get(x[0] if isinstance(x, tuple) else x.property_id, 0) for x in rows],
                pa.int32(),
            )

        return column

    def scrub_raw_ips(self, received_before_us: int) -> None:
        """Forget client addresses of raw events older than the raw retention window."""
        with self._transaction() as con:
            con.execute(
                "UPDATE raw_events SET ip = NULL WHERE received_at < ? AND ip IS NOT NULL",
                [received_before_us],
            )

    def delete_before(self, property_id: str, before_us: int) -> None:
        with self._transaction() as con:
            con.execute(
                "DELETE FROM events WHERE property_id = ? AND event_time < ?",
                [property_id, before_us],
            )
            con.execute(
                "DELETE FROM sessions WHERE property_id = ? AND end_time < ?",
                [property_id, before_us],
            )
            con.execute(
                "DELETE FROM raw_events WHERE property_id = ? AND event_time < ?",
                [property_id, before_us],
            )

    def forget_salts(self, before: dt.date) -> None:
        """Delete the cookieless salts of days before ``before``: their visitor ids become unlinkable."""
        with self._transaction() as con:
            con.execute(
                "DELETE FROM meta WHERE key LIKE 'salt:%' AND key < ?",
                [f"salt:{before.isoformat()}"],
            )

    # -- ReportStore -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _snapshot(self, property_id: str) -> Iterator[tuple[duckdb.DuckDBPyConnection, int]]:
        """A reader in one read transaction, with the property's live generation in it: every
        statement of a report sees the same data, all from before a switch or all after."""
        with self._reader() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur, live_generations(cur, [property_id]).get(property_id, 0)
            finally:
                with contextlib.suppress(duckdb.Error):  # an interrupted or invalidated cursor
                    cur.execute("ROLLBACK")  # read only: nothing to keep

    def run_report(self, query: ReportQuery) -> ReportResult:
        with self._snapshot(query.property_id) as (cur, generation), self._budget(cur):
            return run_report(
                lambda sql, params: execute(cur, sql, params), query, generation=generation
            )

    def run_realtime(self, query: ReportQuery) -> ReportResult:
        with self._snapshot(query.property_id) as (cur, generation), self._budget(cur):
            return run_realtime(cur, query, generation)

    @contextlib.contextmanager
    def _budget(self, cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Interrupt what runs on ``cur`` once ``report_timeout`` has passed; raise
        :class:`ReportTimeout` then. The cursor is usable again afterwards."""
        if not self.report_timeout:
            yield
            return
        lock = threading.Lock()
        state = {"running": True, "fired": False}

        def stop() -> None:
            with lock:  # never interrupts the cursor's next user
                if state["running"]:
                    state["fired"] = True
                    cur.interrupt()

        timer = threading.Timer(self.report_timeout, stop)
        timer.daemon = True
        timer.start()
        try:
            yield
        except duckdb.InterruptException:
            if state["fired"]:
                raise ReportTimeout(self.report_timeout) from None
            raise
        finally:
            with lock:
                state["running"] = False
            timer.cancel()

    def count(self, table: str) -> int:
        """Rows in one of the store's tables (operations and tests)."""
        if table not in (
            "raw_events",
            "events",
            "sessions",
            "visitors",
            "dead_letters",
            "tenancy",
            "usage",
            "rebuilds",
        ):
            raise ValueError(f"unknown table {table!r}")
        with self._reader() as cur:
            rows = cur.execute(f"SELECT count(*) FROM {table}").fetchall()
        return int(rows[0][0])

    def close(self) -> None:
        with self._lock:
            while not self._readers.empty():
                with contextlib.suppress(duckdb.Error):
                    self._readers.get_nowait().close()
            for cur in (self._ingest, self._lookup, self._history, self._con):
                with contextlib.suppress(duckdb.Error):
                    cur.close()
