"""A SparkSession configured from footfall's settings: master, connector jars, the Cassandra
contact points and consistency level of the store URL."""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from footfall.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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
        "spark.pyspark.python": sys.executable,
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
        # executors run footfall's own code (rollup cells): the same interpreter as this process.
        # pyspark takes the executors' interpreter from PYSPARK_PYTHON (spark.pyspark.python is
        # read only by spark-submit)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder: Any = SparkSession.builder.appName(app_name).master(settings.spark_master)
        for key, value in spark_conf(settings).items():
            builder = builder.config(key, value)
        spark: SparkSession = builder.getOrCreate()
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
