"""Reports that rollups cannot answer (custom parameters, dimensions of several sets), answered
by Spark SQL over Cassandra: the events of the hours that can hold the requested dates are read
by partition key, with their visitors' sessions and first events, as the temporary views
``events``, ``sessions`` and ``visitors`` of a fresh Spark session, and the report compiler's
SQL runs there in the Spark dialect: the same query as on DuckDB, so the same answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from footfall.errors import invalid
from footfall.report.query import ReportQuery, ReportResult
from footfall.spark.session import cassandra_table
from footfall.store.duckdb import report_sql

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from footfall.store.cassandra import CassandraStore

_SESSION_COLUMNS = (
    "property_id",
    "visitor_id",
    "start_time",
    "session_key",
    "end_time",
    "engaged",
    "landing_page",
    "source",
    "medium",
    "campaign",
    "channel_group",
)


def run_report(
    spark: SparkSession, store: CassandraStore, query: ReportQuery, hours: list[int]
) -> ReportResult:
    session = spark.newSession()  # its own temporary views: reports run side by side
    ks = store.keyspace
    keys = session.createDataFrame(
        [(query.property_id, h, s) for h in hours for s in range(store.shards)],
        "property_id string, hour long, shard int",
    )
    events = (
        keys.join(
            cassandra_table(session, ks, "events", direct_join=True),
            ["property_id", "hour", "shard"],
        )
        .drop("hour", "shard")
        .persist()
    )
    visitor_keys = events.select("property_id", "visitor_id").distinct()
    sessions = visitor_keys.join(
        cassandra_table(session, ks, "sessions", direct_join=True), ["property_id", "visitor_id"]
    ).select(*_SESSION_COLUMNS)
    visitors = visitor_keys.join(
        cassandra_table(session, ks, "visitors", direct_join=True), ["property_id", "visitor_id"]
    ).select("property_id", "visitor_id", "first_time", "first_event_id")
    events.createOrReplaceTempView("events")
    sessions.createOrReplaceTempView("sessions")
    visitors.createOrReplaceTempView("visitors")

    def run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in session.sql(sql, args=params).collect()]
        except Exception as exc:
            text = str(exc)
            if "PatternSyntaxException" in text or "INVALID_PARAMETER_VALUE.PATTERN" in text:
                raise invalid("dimensionFilter: invalid regular expression") from None
            raise

    try:
        return report_sql.run_report(run, query, report_sql.SPARK)
    finally:
        events.unpersist()
