"""The cluster store on Apache Cassandra (``cassandra://host[,host]:port/keyspace``).

Prepared statements, token-aware routing, a configurable consistency level (production default
LOCAL_QUORUM) and idempotent upserts keyed on ``event_id``: a batch replayed after a crash
writes the same rows again. There are no multi-partition transactions, so a batch is written in
an order that makes a partial write harmless: events, sessions and visitors first, the dedupe
markers (``event_ids``) last, so a replayed batch is never mistaken for a duplicate.

Client addresses live in their own table, written with a TTL of the raw retention window.
Reports read through :mod:`footfall.store.cassandra.reports`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from footfall.report.query import ReportQuery, ReportResult
from footfall.schema.events import EnrichedEvent, Session
from footfall.store import R, RawRow, SessionProbe, UsageRow, WriteSet
from footfall.store.cassandra.migrate import applied_version, latest_version
from footfall.tenancy.model import Record, decode_record, encode_record

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
CONCURRENCY = 96
EVENT_COLUMNS = (
    "property_id",
    "hour",
    "shard",
    "event_time",
    "event_id",
    "received_at",
    "event_date",
    "event_hour",
    "event_name",
    "visitor_id",
    "client_id",
    "user_id",
    "client_session_id",
    "session_key",
    "page_location",
    "page_host",
    "page_path",
    "page_title",
    "page_referrer",
    "source",
    "medium",
    "campaign",
    "campaign_id",
    "term",
    "content",
    "click_id",
    "click_id_type",
    "channel_group",
    "country_id",
    "country",
    "device_category",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "language_code",
    "language",
    "screen_resolution",
    "engagement_time_ms",
    "is_key_event",
    "value",
    "currency",
    "flags",
    "params",
)
VISITOR_COLUMNS = (
    "property_id",
    "visitor_id",
    "month",
    "event_time",
    "event_id",
    "event_date",
    "event_hour",
    "client_session_id",
    "session_key",
    "event_name",
    "page_path",
    "engagement_time_ms",
    "is_key_event",
    "source",
    "medium",
    "campaign",
    "channel_group",
)
SESSION_COLUMNS = (
    "property_id",
    "visitor_id",
    "start_time",
    "session_key",
    "client_session_id",
    "end_time",
    "event_count",
    "page_views",
    "engagement_ms",
    "key_events",
    "engaged",
    "landing_page",
    "source",
    "medium",
    "campaign",
    "channel_group",
)


def hour_of(us: int) -> int:
    return us // HOUR_US * HOUR_US


def month_of(us: int) -> int:
    moment = dt.datetime.fromtimestamp(us / 1e6, dt.UTC)
    return moment.year * 12 + moment.month - 1


def shard_of(event_id: str, shards: int) -> int:
    return zlib.crc32(event_id.encode()) % shards


_TABLE = re.compile(r"\b(FROM|INTO|UPDATE)\s+(\w+)")


def _insert(table: str, columns: Sequence[str], suffix: str = "") -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}){suffix}"


class SchemaOutOfDate(Exception):
    pass


class CassandraStore:
    def __init__(
        self,
        url: str,
        *,
        consistency: str = "LOCAL_QUORUM",
        shards: int = 16,
        raw_retention_hours: int = 168,
        check_schema: bool = True,
    ) -> None:
        from cassandra import ConsistencyLevel
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

        parts = urlsplit(url)
        hosts = [h for h in (parts.hostname or "127.0.0.1").split(",") if h]
        self.keyspace = parts.path.strip("/") or "footfall"
        level = ConsistencyLevel.name_to_value[consistency]
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            consistency_level=level,
            request_timeout=30,
        )
        netloc_hosts = parts.netloc.rsplit(":", 1)[0].split(",") if parts.netloc else hosts
        self.cluster = Cluster(
            netloc_hosts,
            port=parts.port or 9042,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )
        self.session = self.cluster.connect()
        if check_schema:
            have, want = applied_version(self.session, self.keyspace), latest_version()
            if have < want:
                self.cluster.shutdown()
                raise SchemaOutOfDate(
                    f"Cassandra keyspace {self.keyspace!r} is at schema version {have}, this footfall "
                    f"needs {want}: run footfall migrate"
                )
        self._prepared: dict[str, Any] = {}
        self.shards = shards
        if check_schema:
            # the shard count is part of every event's key: the keyspace's own value wins
            self.shards = int(self.set_meta("cassandra_shards", str(shards), only_if_absent=True))
        self.raw_ttl = max(1, raw_retention_hours * 3600)
        self.writer = uuid.uuid4().hex[:12]  # this process's usage rows
        self._usage: dict[tuple[str, int, str], int] = defaultdict(int)

    # -- plumbing -----------------------------------------------------------------------

    def _stmt(self, cql: str) -> Any:
        stmt = self._prepared.get(cql)
        if stmt is None:
            # tables named with their keyspace: prepared statements never depend on a USE
            qualified = _TABLE.sub(lambda m: f'{m.group(1)} "{self.keyspace}".{m.group(2)}', cql)
            stmt = self._prepared[cql] = self.session.prepare(qualified)
        return stmt

    def _many(self, cql: str, rows: Iterable[Sequence[Any]]) -> list[Any]:
        """Run one prepared statement for many parameter rows, concurrently; all must succeed."""
        from cassandra.concurrent import execute_concurrent_with_args

        params = list(rows)
        if not params:
            return []
        results = execute_concurrent_with_args(
            self.session,
            self._stmt(cql),
            params,
            concurrency=CONCURRENCY,
            raise_on_first_error=True,
        )
        return [list(r.result_or_exc) for r in results]

    def _one(self, cql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.session.execute(self._stmt(cql), params))

    # -- EventStore -----------------------------------------------------------------------

    def known_event_ids(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        found = self._many(
            "SELECT property_id, event_id FROM event_ids WHERE property_id = ? AND event_id = ?",
            keys,
        )
        return {(rows[0].property_id, rows[0].event_id) for rows in found if rows}

    def session_events(
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

    def write(self, writes: WriteSet) -> None:
        now = dt.datetime.now(dt.UTC)
        now_us = int(now.timestamp() * 1e6)
        raw = writes.raw
        self._many(
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
        )
        self._many(
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
        )
        self._many(
            _insert("raw_hours", ("property_id", "hour")),
            {(r.property_id, hour_of(r.received_at)) for r in raw},
        )
        self._many(_insert("events", EVENT_COLUMNS), [self._event_row(e) for e in writes.events])
        self._many(
            _insert("visitor_events", VISITOR_COLUMNS),
            [self._visitor_row(e) for e in writes.events],
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
        changed_hours = {
            (e.property_id, hour_of(e.event_time)) for e in [*writes.events, *writes.rekeyed]
        }
        self._many(
            _insert("event_hours", ("property_id", "hour", "updated_at")),
            [(p, h, now_us) for p, h in changed_hours],
        )
        self._many(
            "DELETE FROM sessions WHERE property_id = ? AND visitor_id = ? AND start_time = ? AND session_key = ?",
            [
                (s.property_id, s.visitor_id, s.start_time, s.session_key)
                for s in writes.stale_sessions
            ],
        )
        self._many(
            _insert("sessions", SESSION_COLUMNS), [self._session_row(s) for s in writes.sessions]
        )
        self._first_seen(writes.first_seen)
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

    @staticmethod
    def _session_row(s: Session) -> list[Any]:
        return [getattr(s, c) for c in SESSION_COLUMNS]

    def _first_seen(self, rows: Sequence[tuple[str, str, int, str]]) -> None:
        current = self._many(
            "SELECT first_time, first_event_id FROM visitors WHERE property_id = ? AND visitor_id = ?",
            [(p, v) for p, v, _t, _e in rows],
        )
        earlier = [
            (p, v, t, e)
            for (p, v, t, e), found in zip(rows, current, strict=True)
            if not found or (t, e) < (found[0].first_time, found[0].first_event_id)
        ]
        self._many(
            _insert("visitors", ("property_id", "visitor_id", "first_time", "first_event_id")),
            earlier,
        )

    # -- RawHistory ---------------------------------------------------------------------------

    def _hours(self, table: str, property_id: str) -> list[int]:
        return [
            r.hour
            for r in self._one(f"SELECT hour FROM {table} WHERE property_id = ?", (property_id,))
        ]

    def raw_page(self, property_id: str, after: tuple[int, str] | None, limit: int) -> list[RawRow]:
        received, event_id = after or (-1, "")
        page: list[RawRow] = []
        for hour in self._hours("raw_hours", property_id):
            if hour + HOUR_US <= received:
                continue
            keys = [(property_id, hour, shard, received, event_id) for shard in range(self.shards)]
            rows = [
                r
                for found in self._many(
                    "SELECT received_at, event_id, event_time, payload FROM raw_events WHERE property_id = ? "
                    "AND hour = ? AND shard = ? AND (received_at, event_id) > (?, ?)",
                    keys,
                )
                for r in found
            ]
            ips = {
                (r.received_at, r.event_id): r.ip
                for found in self._many(
                    "SELECT received_at, event_id, ip FROM raw_ips WHERE property_id = ? AND hour = ? AND shard = ? "
                    "AND (received_at, event_id) > (?, ?)",
                    keys,
                )
                for r in found
            }
            rows.sort(key=lambda r: (r.received_at, r.event_id))
            page += [
                RawRow(
                    property_id,
                    r.event_id,
                    r.received_at,
                    r.event_time,
                    ips.get((r.received_at, r.event_id)),
                    bytes(r.payload),
                )
                for r in rows
            ]
            if len(page) >= limit:
                break
        return page[:limit]

    def reset_derived(self, property_id: str) -> None:
        self._forget_events(property_id, self._hours("event_hours", property_id))
        days = [
            r.day
            for r in self._one(
                "SELECT day FROM dead_letter_days WHERE property_id = ?", (property_id,)
            )
        ]
        self._many(
            "DELETE FROM dead_letters WHERE property_id = ? AND day = ?",
            [(property_id, d) for d in days],
        )

    def _forget_events(self, property_id: str, hours: Sequence[int]) -> None:
        """Delete the events of these hours and everything derived from them."""
        partitions = [(property_id, h, s) for h in hours for s in range(self.shards)]
        found = self._many(
            "SELECT visitor_id, event_id, event_time FROM events WHERE property_id = ? AND hour = ? AND shard = ?",
            partitions,
        )
        events = [r for rows in found for r in rows]
        visitors = {r.visitor_id for r in events}
        self._many(
            "DELETE FROM event_ids WHERE property_id = ? AND event_id = ?",
            [(property_id, r.event_id) for r in events],
        )
        self._many(
            "DELETE FROM visitor_events WHERE property_id = ? AND visitor_id = ? AND month = ? "
            "AND event_time = ? AND event_id = ?",
            [
                (property_id, r.visitor_id, month_of(r.event_time), r.event_time, r.event_id)
                for r in events
            ],
        )
        oldest_kept = max(hours, default=0) + HOUR_US
        for visitor in visitors:
            for s in self._one(
                "SELECT start_time, session_key, end_time FROM sessions WHERE property_id = ? "
                "AND visitor_id = ?",
                (property_id, visitor),
            ):
                if s.end_time < oldest_kept:
                    self._one(
                        "DELETE FROM sessions WHERE property_id = ? AND visitor_id = ? AND start_time = ? "
                        "AND session_key = ?",
                        (property_id, visitor, s.start_time, s.session_key),
                    )
        self._many(
            "DELETE FROM visitors WHERE property_id = ? AND visitor_id = ?",
            [(property_id, v) for v in visitors],
        )
        self._many(
            "DELETE FROM events WHERE property_id = ? AND hour = ? AND shard = ?", partitions
        )
        self._many(
            "DELETE FROM event_hours WHERE property_id = ? AND hour = ?",
            [(property_id, h) for h in hours],
        )

    # -- Retention ------------------------------------------------------------------------------

    def scrub_raw_ips(self, received_before_us: int) -> None:
        """Nothing to do: client addresses are written with a TTL of the raw retention window."""

    def forget_salts(self, before: dt.date) -> None:
        days = [before - dt.timedelta(days=n) for n in range(1, 62)]
        self._many("DELETE FROM meta WHERE key = ?", [(f"salt:{d.isoformat()}",) for d in days])

    def delete_before(self, property_id: str, before_us: int) -> None:
        cutoff = hour_of(before_us)
        self._forget_events(
            property_id, [h for h in self._hours("event_hours", property_id) if h < cutoff]
        )
        old_raw = [h for h in self._hours("raw_hours", property_id) if h < cutoff]
        partitions = [(property_id, h, s) for h in old_raw for s in range(self.shards)]
        self._many(
            "DELETE FROM raw_events WHERE property_id = ? AND hour = ? AND shard = ?", partitions
        )
        self._many(
            "DELETE FROM raw_ips WHERE property_id = ? AND hour = ? AND shard = ?", partitions
        )
        self._many(
            "DELETE FROM raw_hours WHERE property_id = ? AND hour = ?",
            [(property_id, h) for h in old_raw],
        )

    # -- TenancyStore ----------------------------------------------------------------------------

    def put(self, record: Record) -> None:
        self._one(
            _insert("tenancy", ("kind", "id", "lookup", "account_id", "property_id", "doc")),
            (
                record.KIND,
                record.record_id,
                record.lookup,
                record.owner_account,
                record.owner_property,
                encode_record(record),
            ),
        )
        if record.lookup:
            self._one(
                _insert("tenancy_lookup", ("kind", "lookup", "id")),
                (record.KIND, record.lookup, record.record_id),
            )

    def get(self, kind: type[R], record_id: str) -> R | None:
        rows = self._one(
            "SELECT doc FROM tenancy WHERE kind = ? AND id = ?", (kind.KIND, record_id)
        )
        record = decode_record(rows[0].doc) if rows else None
        return record if isinstance(record, kind) else None

    def find(self, kind: type[R], lookup: str) -> R | None:
        if not lookup:
            return None
        rows = self._one(
            "SELECT id FROM tenancy_lookup WHERE kind = ? AND lookup = ?", (kind.KIND, lookup)
        )
        return self.get(kind, rows[0].id) if rows else None

    def records(
        self, kind: type[R], *, account_id: str | None = None, property_id: str | None = None
    ) -> list[R]:
        rows = self._one(
            "SELECT account_id, property_id, doc FROM tenancy WHERE kind = ?", (kind.KIND,)
        )
        out: list[R] = []
        for r in rows:
            if account_id is not None and r.account_id != account_id:
                continue
            if property_id is not None and r.property_id != property_id:
                continue
            record = decode_record(r.doc)
            if isinstance(record, kind):
                out.append(record)
        return out

    # -- UsageStore ------------------------------------------------------------------------------

    def add_usage(self, rows: Sequence[UsageRow]) -> None:
        for pid, hour, metric, value in rows:
            self._usage[(pid, hour, metric)] += value
        touched = {(pid, hour, metric) for pid, hour, metric, _v in rows}
        # this process's running totals: writing them again is harmless
        self._many(
            _insert("usage", ("property_id", "hour", "metric", "writer", "value")),
            [(p, h, m, self.writer, self._usage[(p, h, m)]) for p, h, m in touched],
        )

    def usage(self, property_id: str, start_us: int, end_us: int) -> list[UsageRow]:
        rows = self._one(
            "SELECT hour, metric, value FROM usage WHERE property_id = ? AND hour >= ? AND hour < ?",
            (property_id, start_us, end_us),
        )
        totals: dict[tuple[int, str], int] = defaultdict(int)
        for r in rows:
            totals[(r.hour, r.metric)] += r.value
        return [(property_id, h, m, v) for (h, m), v in sorted(totals.items())]

    # -- MetaStore -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0].value) if rows else None

    def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> str:
        if not only_if_absent:
            self._one("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            return value
        result = self.session.execute(
            f'INSERT INTO "{self.keyspace}".meta (key, value) VALUES (%s, %s) IF NOT EXISTS',
            (key, value),
        )
        return value if result.was_applied else str(result.one().value)

    # -- ReportStore ------------------------------------------------------------------------------

    def run_report(self, query: ReportQuery) -> ReportResult:
        from footfall.store.cassandra.reports import run_report

        return run_report(self, query)

    def run_realtime(self, query: ReportQuery) -> ReportResult:
        from footfall.store.cassandra.reports import run_realtime

        return run_realtime(self, query)

    def close(self) -> None:
        self.cluster.shutdown()
