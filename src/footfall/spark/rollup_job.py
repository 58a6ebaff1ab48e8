"""The rollup job: rebuild the hourly rollups of the hours that changed.

Map-reduce on Spark: the events of the changed hours (read from Cassandra by partition key),
joined with their sessions and visitors' first events, become rollup cells per partition
(:func:`footfall.rollup.cells.build`), cells of the same key are merged across partitions
(sums and sketch unions), and each reduce partition writes its cells. An hour is rebuilt whole,
as a new build beside the current one: when every cell is written the hour switches to it and
the older builds are deleted, so a report sees the old build or the new one, never a mix, a
rerun writes the same cells again, and a run that dies leaves the hour to the next.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from footfall.rollup.cells import FACT_COLUMNS, CellKey, Packed, build, merge
from footfall.spark.session import read_partitions
from footfall.store.cassandra.rollups import HourWork, insert_cells

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from footfall.store.cassandra import CassandraStore

_SESSION_COLUMNS = [
    "engaged",
    "start_time",
    "end_time",
    "landing_page",
    "source",
    "medium",
    "campaign",
    "channel_group",
]


class RollupRun(msgspec.Struct, frozen=True):
    hours: int
    events: int
    cells: int
    seconds: float


def _writer(store_url: str, consistency: str, build_id: int) -> Any:
    def write(cells: Iterable[tuple[CellKey, Packed]]) -> Iterator[int]:
        from footfall.store.cassandra.base import CassandraBase

        base = CassandraBase(store_url, consistency=consistency, check_schema=False)
        try:
            yield insert_cells(base, cells, build_id)
        finally:
            base.close()

    return write


def facts(spark: SparkSession, store: CassandraStore, live: Sequence[HourWork]) -> Any:
    """A DataFrame of FACT_COLUMNS: the events of these hours with their session and visitor."""
    from pyspark.sql import functions as F

    read = read_partitions(spark, store, [(w.property_id, w.hour) for w in live])
    sessions = read.sessions.select(
        "property_id",
        "visitor_id",
        "session_key",
        *[F.col(c).alias(f"s_{c}") for c in _SESSION_COLUMNS],
    )
    visitors = read.visitors.select("property_id", "visitor_id", "first_event_id")
    return (
        read.events.join(sessions, ["property_id", "visitor_id", "session_key"])
        .join(visitors, ["property_id", "visitor_id"])
        .select(*FACT_COLUMNS)
    )


def run_rollups(
    spark: SparkSession,
    store: CassandraStore,
    work: Sequence[HourWork],
    *,
    store_url: str,
    consistency: str,
    partitions: int,
) -> RollupRun:
    started = time.monotonic()
    if not work:
        return RollupRun(0, 0, 0, 0.0)
    build_id = time.time_ns() // 1000  # the new build of the hours (µs)
    live = [w for w in work if w.updated_at is not None]
    events = cells = 0
    if live:
        rows = facts(spark, store, live).rdd.map(lambda r: r.asDict())
        counted = spark.sparkContext.accumulator(0)

        def count(it: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for fact in it:
                counted.add(1)
                yield fact

        written = (
            rows.mapPartitions(count)
            .mapPartitions(build)
            .reduceByKey(merge, partitions)
            .mapPartitions(_writer(store_url, consistency, build_id))
            .sum()
        )
        events, cells = int(counted.value), int(written)
    store.finish_rollups(work, build_id)
    return RollupRun(len(work), events, cells, round(time.monotonic() - started, 3))
