"""Reports that rollups cannot answer (custom parameters, dimensions of several sets), answered
by Spark SQL over Cassandra: the events of the hours that can hold the requested dates are read
by partition key, with their visitors' sessions and first events, as the temporary views
``events``, ``sessions`` and ``visitors`` of a fresh Spark session, and the report compiler's
SQL runs there in the Spark dialect: the same query as on DuckDB, so the same answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from footfall.errors import invalid
from footfall.report.query import ReportQuery, ReportResult
from footfall.spark.session import read_partitions
from footfall.store.cassandra.base import SESSION_COLUMNS
from footfall.store.duckdb import report_sql

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from footfall.store.cassandra import CassandraStore


def run_report(
    spark: SparkSession, store: CassandraStore, query: ReportQuery, hours: list[int]
) -> ReportResult:
    session = spark.newSession()  # its own temporary views: reports run side by side
    read = read_partitions(session, store, [(query.property_id, h) for h in hours], persist=True)
    events = read.events.drop("hour", "shard")
    sessions = read.sessions.select(*SESSION_COLUMNS)
    visitors = read.visitors.select("property_id", "visitor_id", "first_time", "first_event_id")
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
        read.events.unpersist()
