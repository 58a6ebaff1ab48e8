"""The Cassandra store's connection and shared helpers: token-aware routing, a configurable
consistency level, prepared statements qualified with the keyspace and run concurrently, the
schema-version check, and how events map to time buckets and shards. The store itself is
:class:`footfall.store.cassandra.CassandraStore`."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from footfall.store.cassandra.migrate import applied_version, latest_version

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
CONCURRENCY = 96
PARTITION_BATCH = 100  # rows per single-partition batch
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
    "value_micros",
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


class CassandraBase:
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
            self.shards = int(self._meta_once("cassandra_shards", str(shards)))
        self.raw_ttl = max(1, raw_retention_hours * 3600)
        self.writer = uuid.uuid4().hex[:12]  # this process's usage rows
        self._usage: dict[tuple[str, int, str], int] = defaultdict(int)

    # -- plumbing -----------------------------------------------------------------------

    def _meta_once(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is there (a lightweight transaction); return it."""
        result = self.session.execute(
            f'INSERT INTO "{self.keyspace}".meta (key, value) VALUES (%s, %s) IF NOT EXISTS',
            (key, value),
        )
        return value if result.was_applied else str(result.one().value)

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

    def _per_partition(self, cql: str, rows: Iterable[Sequence[Any]], key: int) -> None:
        """Run one prepared write for many rows, as one UNLOGGED batch per partition (the
        rows' first ``key`` values): one round trip and one mutation per partition instead of
        one per row. Single-partition batches are atomic and not subject to Cassandra's batch
        size limits; batches of different partitions run concurrently, all must succeed."""
        from cassandra.concurrent import execute_concurrent
        from cassandra.query import BatchStatement, BatchType

        groups: dict[tuple[Any, ...], list[Sequence[Any]]] = defaultdict(list)
        for row in rows:
            groups[tuple(row[:key])].append(row)
        if not groups:
            return
        stmt = self._stmt(cql)
        batches: list[tuple[Any, tuple[()]]] = []
        for group in groups.values():
            for i in range(0, len(group), PARTITION_BATCH):
                if len(group) - i == 1:
                    batches.append((stmt.bind(group[i]), ()))
                    continue
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for row in group[i : i + PARTITION_BATCH]:
                    batch.add(stmt, row)
                batches.append((batch, ()))
        execute_concurrent(
            self.session, batches, concurrency=CONCURRENCY, raise_on_first_error=True
        )

    def _one(self, cql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.session.execute(self._stmt(cql), params))

    def _hours(self, table: str, property_id: str) -> list[int]:
        """The hour buckets a property has in one of the ``*_hours`` index tables."""
        return [
            r.hour
            for r in self._one(f"SELECT hour FROM {table} WHERE property_id = ?", (property_id,))
        ]

    def close(self) -> None:
        self.cluster.shutdown()
