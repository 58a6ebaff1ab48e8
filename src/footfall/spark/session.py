"""A SparkSession configured from footfall's settings: master, connector jars, the Cassandra
contact points and consistency level of the store URL."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from footfall.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from footfall.store.cassandra import CassandraStore

_lock = threading.Lock()


def cassandra_conf(store_url: str) -> dict[str, str]:
    parts = urlsplit(store_url)
    hosts = parts.netloc.rsplit(":", 1)[0] if ":" in parts.netloc else parts.netloc
    return {
        "spark.cassandra.connection.host": hosts or "127.0.0.1",
        "spark.cassandra.connection.port": str(parts.port or 9042),
    }


def spark_conf(settings: Settings) -> dict[str, str]:
    conf = {
        "spark.sql.extensions": "com.datastax.spark.connector.CassandraSparkExtensions",
        "spark.cassandra.input.consistency.level": settings.cassandra_consistency,
        "spark.cassandra.output.consistency.level": settings.cassandra_consistency,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark_partitions),
        "spark.default.parallelism": str(settings.spark_partitions),
        "spark.executor.memory": settings.spark_executor_memory,
        "spark.ui.showConsoleProgress": "false",
        **cassandra_conf(settings.store_url),
    }
    if settings.spark_master.startswith("spark://"):
        # on a shared standalone cluster, an idle application (the API between Spark SQL
        # reports, the scheduler between runs) gives its executors back to the others
        conf.update(
            {
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.shuffleTracking.enabled": "true",
                "spark.dynamicAllocation.shuffleTracking.timeout": "30s",
                "spark.dynamicAllocation.executorIdleTimeout": "15s",
                "spark.dynamicAllocation.minExecutors": "0",
                "spark.executor.cores": "1",
            }
        )
    if settings.spark_cores:
        conf["spark.cores.max"] = str(settings.spark_cores)
    if settings.spark_jars:
        conf["spark.jars"] = settings.spark_jars
    return conf


def open_spark(settings: Settings, app_name: str) -> SparkSession:
    """The process's SparkSession (created once; its JVM starts here)."""
    from pyspark.sql import SparkSession

    with _lock:
        builder: Any = SparkSession.builder.appName(app_name).master(settings.spark_master)
        for key, value in spark_conf(settings).items():
            builder = builder.config(key, value)
        spark: SparkSession = builder.getOrCreate()
        # executors run footfall's own code (rollup cells) in this process's interpreter; the
        # context otherwise takes it from PYSPARK_PYTHON (spark.pyspark.python is spark-submit's)
        spark.sparkContext.pythonExec = sys.executable
        spark.sparkContext.setLogLevel("WARN")
        return spark


def cassandra_table(
    spark: SparkSession, keyspace: str, table: str, *, direct_join: bool = False
) -> Any:
    reader = spark.read.format("org.apache.spark.sql.cassandra").options(
        keyspace=keyspace, table=table
    )
    if direct_join:
        # joined on its partition key: read only the partitions the other side names
        reader = reader.option("directJoinSetting", "on")
    return reader.load()


class Partitions(NamedTuple):
    events: Any  # every column of the events, hour and shard included
    sessions: Any  # the sessions of those events' visitors
    visitors: Any  # those visitors' first events


def read_partitions(
    spark: SparkSession,
    store: CassandraStore,
    hours: Iterable[tuple[str, int]],
    *,
    persist: bool = False,
) -> Partitions:
    """The events of these (property, UTC hour) buckets, every shard, with the sessions and first
    events of their visitors: all read by partition key (direct joins), never a table scan.
    With ``persist`` the events are read once for both uses (the caller unpersists them)."""
    keys = spark.createDataFrame(
        [(p, h, s) for p, h in hours for s in range(store.shards)],
        "property_id string, hour long, shard int",
    )
    from pyspark.sql import functions as F

    ks = store.keyspace
    events = keys.join(
        cassandra_table(spark, ks, "events", direct_join=True), ["property_id", "hour", "shard"]
    )
    # rows written before schema version 3 hold their value in the legacy double column, read
    # to micros half to even, as schema.money.to_micros reads it on the realtime path
    legacy = F.when(F.abs(F.col("value")) < 1e12, F.bround(F.col("value") * 1e6).cast("long"))
    events = events.withColumn("value_micros", F.coalesce(F.col("value_micros"), legacy)).drop(
        "value"
    )
    if persist:
        events = events.persist()
    visitor_keys = events.select("property_id", "visitor_id").distinct()
    by_visitor = ["property_id", "visitor_id"]
    return Partitions(
        events,
        visitor_keys.join(cassandra_table(spark, ks, "sessions", direct_join=True), by_visitor),
        visitor_keys.join(cassandra_table(spark, ks, "visitors", direct_join=True), by_visitor),
    )
