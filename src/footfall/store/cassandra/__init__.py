"""The cluster store on Apache Cassandra (``cassandra://host[,host]:port/keyspace``).

Prepared statements, token-aware routing, a configurable consistency level (production default
LOCAL_QUORUM) and idempotent upserts keyed on ``event_id``: a batch replayed after a crash
writes the same rows again. There are no multi-partition transactions, so a batch is written in
an order that makes a partial write harmless: events, sessions and visitors first, the dedupe
markers (``event_ids``) last, so a replayed batch is never mistaken for a duplicate.

Derived rows are stored under their generation's data key (:mod:`.generations`): the
processor's reads and writes map each property to its live generation's key (or a rebuild's)
here, and the rows it gets back to the property again.

The tables: events and sessions here, raw history and retention in :mod:`.history`,
generations and rebuilds in :mod:`.generations`, tenancy, usage and meta in :mod:`.tenancy`,
rollups in :mod:`.rollups`, exchange rates in :mod:`.rates`, reports in :mod:`.reports`;
connection and helpers in :mod:`.base`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import msgspec

from footfall.report.query import ReportQuery, ReportResult
from footfall.schema.events import EnrichedEvent, Session
from footfall.settings import Settings
from footfall.store import Generation, SessionProbe, WriteSet
from footfall.store.cassandra.base import (
    DAY_US,
    EVENT_COLUMNS,
    HOUR_US,
    SESSION_COLUMNS,
    VISITOR_COLUMNS,
    SchemaOutOfDate,
    _insert,
    hour_of,
    month_of,
    shard_of,
)
from footfall.store.cassandra.generations import GenerationTables, property_of
from footfall.store.cassandra.rates import RateTables
from footfall.store.cassandra.rollups import RollupTables
from footfall.store.cassandra.tenancy import TenancyTables

__all__ = ["EVENT_COLUMNS", "SESSION_COLUMNS", "CassandraStore", "SchemaOutOfDate"]


class CassandraStore(GenerationTables, TenancyTables, RollupTables, RateTables):
    def __init__(self, url: str, *, settings: Settings | None = None, **kw: Any) -> None:
        super().__init__(url, **kw)
        self.settings = settings
        self.report_sources = {"rollups": 0, "spark": 0, "events": 0}
        self.partition_batches = True  # rows of one partition in one UNLOGGED batch
        self._switch_marks = {}
        self._spark: Any = None
        self._spark_lock = threading.Lock()

    def spark(self) -> Any:
        """The SparkSession of report queries, started at the first one that needs it."""
        from footfall.spark.session import open_spark

        with self._spark_lock:
            if self._spark is None:
                self._spark = open_spark(self.settings or Settings(), "footfall-reports")
            return self._spark

    def close(self) -> None:
        if self._spark is not None:
            self._spark.stop()
        super().close()

    # -- EventStore -----------------------------------------------------------------------

    def known_event_ids(
        self, keys: Sequence[tuple[str, str]], *, generation: Generation = None
    ) -> set[tuple[str, str]]:
        key_of = self.data_keys((k[0] for k in keys), generation)
        found = self._many(
            "SELECT property_id, event_id FROM event_ids WHERE property_id = ? AND event_id = ?",
            [(key_of[p], e) for p, e in keys],
        )
        return {(property_of(rows[0].property_id), rows[0].event_id) for rows in found if rows}

    def session_events(
        self, probes: Sequence[SessionProbe], timeout_us: int, *, generation: Generation = None
    ) -> list[EnrichedEvent]:
        key_of = self.data_keys((p.property_id for p in probes), generation)
        probes = [msgspec.structs.replace(p, property_id=key_of[p.property_id]) for p in probes]
        return [
            msgspec.structs.replace(e, property_id=property_of(e.property_id))
            for e in self._session_events(probes, timeout_us)
        ]

    def _session_events(
        self, probes: Sequence[SessionProbe], timeout_us: int
    ) -> list[EnrichedEvent]:
        sessions = self._many(
            "SELECT start_time, end_time, client_session_id FROM sessions "
            "WHERE property_id = ? AND visitor_id = ? AND start_time <= ?",
            [(p.property_id, p.visitor_id, p.hi + timeout_us) for p in probes],
        )
        wanted: list[tuple[str, str, int, int, int, str | None]] = []
        for probe, rows in zip(probes, sessions, strict=True):
            for row in rows:
                if (
                    row.client_session_id == probe.client_session_id
                    and row.end_time >= probe.lo - timeout_us
                ):
                    for month in range(month_of(row.start_time), month_of(row.end_time) + 1):
                        wanted.append(
                            (
                                probe.property_id,
                                probe.visitor_id,
                                month,
                                row.start_time,
                                row.end_time,
                                probe.client_session_id,
                            )
                        )
        found = self._many(
            f"SELECT {', '.join(VISITOR_COLUMNS)} FROM visitor_events WHERE property_id = ? AND visitor_id = ? "
            "AND month = ? AND event_time >= ? AND event_time <= ?",
            [w[:5] for w in wanted],
        )
        events: dict[tuple[str, str], EnrichedEvent] = {}
        for want, rows in zip(wanted, found, strict=True):
            for r in rows:
                if r.client_session_id == want[5]:
                    events[(r.property_id, r.event_id)] = self._visitor_event(r)
        return list(events.values())

    @staticmethod
    def _visitor_event(r: Any) -> EnrichedEvent:
        return EnrichedEvent(
            property_id=r.property_id,
            event_id=r.event_id,
            event_name=r.event_name,
            event_time=r.event_time,
            received_at=0,
            event_date=r.event_date.date(),
            event_hour=r.event_hour,
            visitor_id=r.visitor_id,
            client_session_id=r.client_session_id,
            session_key=r.session_key,
            page_path=r.page_path,
            engagement_time_ms=r.engagement_time_ms,
            is_key_event=r.is_key_event,
            source=r.source,
            medium=r.medium,
            campaign=r.campaign,
            channel_group=r.channel_group,
        )

    def _event_row(self, e: EnrichedEvent) -> list[Any]:
        values = {f: getattr(e, f) for f in EnrichedEvent.__struct_fields__}
        values["hour"] = hour_of(e.event_time)
        values["shard"] = shard_of(e.event_id, self.shards)
        return [values[c] for c in EVENT_COLUMNS]

    def _visitor_row(self, e: EnrichedEvent) -> list[Any]:
        values = {f: getattr(e, f) for f in VISITOR_COLUMNS if f != "month"}
        values["month"] = month_of(e.event_time)
        return [values[c] for c in VISITOR_COLUMNS]

    def _write(self, cql: str, rows: Sequence[Sequence[Any]], *, key: int) -> None:
        """Many rows of one table: batched per partition (``partition_batches``), or row by row."""
        if self.partition_batches:
            self._per_partition(cql, rows, key)
        else:
            self._many(cql, rows)

    def _keyed(self, writes: WriteSet) -> WriteSet:
        """The write with its derived rows under their data keys (raw rows keep the property)."""
        ids = {e.property_id for e in [*writes.events, *writes.rekeyed]}
        ids |= {s.property_id for s in writes.sessions}
        ids |= {s.property_id for s in writes.stale_sessions}
        ids |= {d.property_id for d in writes.dead_letters if d.property_id}
        ids |= {f[0] for f in writes.first_seen}
        key_of = self.data_keys(ids, writes.generation)
        key_of[""] = ""  # the dead letter of a message that could not be decoded

        def keyed(items: Sequence[Any]) -> list[Any]:
            return [msgspec.structs.replace(x, property_id=key_of[x.property_id]) for x in items]

        return WriteSet(
            raw=writes.raw,
            events=keyed(writes.events),
            rekeyed=keyed(writes.rekeyed),
            stale_sessions=keyed(writes.stale_sessions),
            sessions=keyed(writes.sessions),
            first_seen=[(key_of[p], v, t, e) for p, v, t, e in writes.first_seen],
            dead_letters=keyed(writes.dead_letters),
            generation=writes.generation,
            rebuild=writes.rebuild,
        )

    def write(self, writes: WriteSet) -> None:
        writes = self._keyed(writes)
        now = dt.datetime.now(dt.UTC)
        now_us = int(now.timestamp() * 1e6)
        raw = writes.raw
        self._write(
            _insert(
                "raw_events",
                (
                    "property_id",
                    "hour",
                    "shard",
                    "received_at",
                    "event_id",
                    "event_time",
                    "payload",
                ),
            ),
            [
                (
                    r.property_id,
                    hour_of(r.received_at),
                    shard_of(r.event_id, self.shards),
                    r.received_at,
                    r.event_id,
                    r.event_time,
                    r.payload,
                )
                for r in raw
            ],
            key=3,
        )
        self._write(
            _insert(
                "raw_ips",
                ("property_id", "hour", "shard", "received_at", "event_id", "ip"),
                f" USING TTL {self.raw_ttl}",
            ),
            [
                (
                    r.property_id,
                    hour_of(r.received_at),
                    shard_of(r.event_id, self.shards),
                    r.received_at,
                    r.event_id,
                    r.ip,
                )
                for r in raw
                if r.ip
            ],
            key=3,
        )
        self._many(
            _insert("raw_hours", ("property_id", "hour")),
            {(r.property_id, hour_of(r.received_at)) for r in raw},
        )
        self._write(
            _insert("events", EVENT_COLUMNS), [self._event_row(e) for e in writes.events], key=3
        )
        self._write(
            _insert("visitor_events", VISITOR_COLUMNS),
            [self._visitor_row(e) for e in writes.events],
            key=3,
        )
        self._many(
            "UPDATE events SET session_key = ? WHERE property_id = ? AND hour = ? AND shard = ? "
            "AND event_time = ? AND event_id = ?",
            [
                (
                    e.session_key,
                    e.property_id,
                    hour_of(e.event_time),
                    shard_of(e.event_id, self.shards),
                    e.event_time,
                    e.event_id,
                )
                for e in writes.rekeyed
            ],
        )
        self._many(
            "UPDATE visitor_events SET session_key = ? WHERE property_id = ? AND visitor_id = ? AND month = ? "
            "AND event_time = ? AND event_id = ?",
            [
                (
                    e.session_key,
                    e.property_id,
                    e.visitor_id,
                    month_of(e.event_time),
                    e.event_time,
                    e.event_id,
                )
                for e in writes.rekeyed
            ],
        )
        self._many(
            "DELETE FROM sessions WHERE property_id = ? AND visitor_id = ? AND start_time = ? AND session_key = ?",
            [
                (s.property_id, s.visitor_id, s.start_time, s.session_key)
                for s in writes.stale_sessions
            ],
        )
        self._write(
            _insert("sessions", SESSION_COLUMNS),
            [self._session_row(s) for s in writes.sessions],
            key=2,
        )
        first_moved = self._first_seen(writes.first_seen)
        # after everything a rollup reads: the hours whose rollups are now out of date, i.e.
        # those of the new and re-keyed events, every hour a changed session spans (its
        # duration and engagement count in all of them) and a visitor's old first event
        changed_hours = {
            (e.property_id, hour_of(e.event_time)) for e in [*writes.events, *writes.rekeyed]
        }
        for session in writes.sessions:
            changed_hours.update(
                (session.property_id, h)
                for h in range(hour_of(session.start_time), session.end_time + 1, HOUR_US)
            )
        changed_hours |= first_moved
        self._many(
            _insert("event_hours", ("property_id", "hour", "updated_at")),
            [(p, h, now_us) for p, h in changed_hours],
        )
        dead = writes.dead_letters
        self._many(
            _insert(
                "dead_letters",
                ("property_id", "day", "received_at", "event_id", "reason", "detail", "payload"),
            ),
            [
                (
                    d.property_id,
                    d.received_at // DAY_US,
                    d.received_at,
                    d.event_id,
                    str(d.reason),
                    d.detail,
                    d.payload,
                )
                for d in dead
            ],
        )
        self._many(
            _insert("dead_letter_days", ("property_id", "day")),
            {(d.property_id, d.received_at // DAY_US) for d in dead},
        )
        # last: the markers that make a replay of this batch a duplicate
        self._many(
            _insert("event_ids", ("property_id", "event_id", "event_time")),
            [(e.property_id, e.event_id, e.event_time) for e in writes.events],
        )
        if writes.rebuild is not None:  # after the rows it covers
            self.save_rebuild(writes.rebuild)

    @staticmethod
    def _session_row(s: Session) -> list[Any]:
        return [getattr(s, c) for c in SESSION_COLUMNS]

    def _first_seen(self, rows: Sequence[tuple[str, str, int, str]]) -> set[tuple[str, int]]:
        """Record visitors' first events; return the hours of first events that were replaced."""
        current = self._many(
            "SELECT first_time, first_event_id FROM visitors WHERE property_id = ? AND visitor_id = ?",
            [(p, v) for p, v, _t, _e in rows],
        )
        earlier = []
        replaced: set[tuple[str, int]] = set()
        for (p, v, t, e), found in zip(rows, current, strict=True):
            if not found or (t, e) < (found[0].first_time, found[0].first_event_id):
                earlier.append((p, v, t, e))
                if found:
                    replaced.add((p, hour_of(found[0].first_time)))
        self._many(
            _insert("visitors", ("property_id", "visitor_id", "first_time", "first_event_id")),
            earlier,
        )
        return replaced

    # -- ReportStore ------------------------------------------------------------------------------

    def run_report(self, query: ReportQuery) -> ReportResult:
        from footfall.store.cassandra.reports import run_report

        return run_report(self, query)

    def run_realtime(self, query: ReportQuery) -> ReportResult:
        from footfall.store.cassandra.reports import run_realtime

        return run_realtime(self, query)
