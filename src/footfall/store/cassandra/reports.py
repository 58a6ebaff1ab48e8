"""Reports on the Cassandra store.

- runReport from the hourly rollups when a dimension set covers the request
  (:mod:`footfall.rollup.answer`): a read proportional to hours and rows, not to events;
- otherwise from Spark SQL over the events of the requested hours (:mod:`footfall.spark.sql`);
- runRealtimeReport from the last hour's event partitions: they are read into an in-memory
  DuckDB and the realtime compiler runs there.

Each reads the property's live generation (its data key, :mod:`.generations`).

Each path gives the embedded shape's answer (tests/cluster check it against the simulator's
ground truth); the caller cannot tell them apart.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec
import pyarrow as pa

from footfall.report.query import ReportQuery, ReportResult
from footfall.rollup.answer import answer, fitting_set
from footfall.schema.events import EnrichedEvent, Session
from footfall.schema.money import to_micros
from footfall.store.duckdb import DuckDBStore
from footfall.store.duckdb import arrow as duck_arrow

if TYPE_CHECKING:
    from footfall.store.cassandra import CassandraStore

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
EPOCH = dt.date(1970, 1, 1)


def _hours_for(query: ReportQuery) -> tuple[int, int]:
    """UTC hours that can hold events of the query's local dates (time zones span ±14 h)."""
    if query.window is not None:
        start, end = query.window
        return start // HOUR_US * HOUR_US, end
    lo = min(r.start for r in query.date_ranges)
    hi = max(r.end for r in query.date_ranges)
    return (lo - EPOCH).days * DAY_US - DAY_US, ((hi - EPOCH).days + 2) * DAY_US


def load(store: CassandraStore, query: ReportQuery) -> DuckDBStore:
    from footfall.store.cassandra import EVENT_COLUMNS, SESSION_COLUMNS

    first, last = _hours_for(query)
    hours = [h for h in store._hours("event_hours", query.property_id) if first <= h <= last]
    columns = [c for c in EVENT_COLUMNS if c not in ("hour", "shard")]
    found = store._many(
        f"SELECT {', '.join(columns)}, value FROM events WHERE property_id = ? AND hour = ? "
        "AND shard = ?",
        [(query.property_id, h, s) for h in hours for s in range(store.shards)],
    )
    events = [_event(r, columns) for rows in found for r in rows]
    visitors = sorted({e.visitor_id for e in events})
    keys = [(query.property_id, v) for v in visitors]
    sessions = [
        Session(**{c: getattr(r, c) for c in SESSION_COLUMNS})
        for rows in store._many(
            f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE property_id = ? "
            "AND visitor_id = ?",
            keys,
        )
        for r in rows
    ]
    firsts = [
        (query.property_id, r.visitor_id, r.first_time, r.first_event_id)
        for rows in store._many(
            "SELECT visitor_id, first_time, first_event_id FROM visitors "
            "WHERE property_id = ? AND visitor_id = ?",
            keys,
        )
        for r in rows
    ]
    duck = DuckDBStore(":memory:")
    with duck._transaction() as con:
        duck._insert(
            con,
            f"INSERT INTO events ({', '.join(duck_arrow.EVENT_SCHEMA.names)}) SELECT * FROM _batch",
            duck_arrow.events_table(events),
        )
        duck._insert(
            con,
            f"INSERT INTO sessions ({', '.join(duck_arrow.SESSION_SCHEMA.names)}) "
            "SELECT * FROM _batch",
            duck_arrow.sessions_table(sessions),
        )
        duck._insert(
            con,
            "INSERT INTO visitors (property_id, visitor_id, first_time, first_event_id) "
            "SELECT * FROM _batch",
            duck_arrow.rows_table(
                ["property_id", "visitor_id", "first_time", "first_event_id"],
                [pa.string(), pa.string(), pa.int64(), pa.string()],
                firsts,
            ),
        )
    return duck


def _event(row: Any, columns: list[str]) -> EnrichedEvent:
    values: dict[str, Any] = {}
    for c in columns:
        v = getattr(row, c)
        values[c] = "" if v is None and c not in _NULLABLE else v
    values["event_date"] = row.event_date.date()
    values["params"] = dict(row.params or {})
    if values["value_micros"] is None:  # written before schema version 3: the double column
        values["value_micros"] = to_micros(row.value)
    return msgspec.convert(values, EnrichedEvent)


_NULLABLE = {"client_id", "user_id", "client_session_id", "value_micros"}


def live(store: CassandraStore, query: ReportQuery) -> ReportQuery:
    """The query over the property's live generation: its data key in place of the property
    (read once: a report sees one generation whole)."""
    from footfall.store.cassandra.generations import data_key

    pid = query.property_id
    key = data_key(pid, store.live_generations([pid])[pid])
    return msgspec.structs.replace(query, property_id=key)


def run_report(store: CassandraStore, query: ReportQuery) -> ReportResult:
    query = live(store, query)
    first, last = _hours_for(query)
    chosen = fitting_set(query)
    if chosen is not None:
        builds = {
            h: b for h, b in store.rollup_builds(query.property_id).items() if first <= h <= last
        }
        store.report_sources["rollups"] += 1
        return answer(query, chosen, store.rollup_cells(query.property_id, chosen, builds))
    from footfall.spark.sql import run_report as spark_report

    hours = [h for h in store._hours("event_hours", query.property_id) if first <= h <= last]
    store.report_sources["spark"] += 1
    return spark_report(store.spark(), store, query, hours)


def run_realtime(store: CassandraStore, query: ReportQuery) -> ReportResult:
    store.report_sources["events"] += 1
    query = live(store, query)
    duck = load(store, query)
    try:
        return duck.run_realtime(query)
    finally:
        duck.close()
