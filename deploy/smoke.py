"""Smoke test of a running deploy/cluster.sh cluster: each engine does one real thing.

Run it through the script, which sets JAVA_HOME, SPARK_HOME, SPARK_CONF_DIR and the venv:
    bash deploy/cluster.sh smoke [--connectors]

- Kafka: create a topic, produce one message (acks=all, idempotent), consume it back, delete the topic.
- Cassandra: create a keyspace and a table, insert a row, select it back, drop the keyspace.
- Spark: a PySpark job on spark://127.0.0.1:7077 that counts 1000 rows.
- with --connectors, also: Spark reads the Kafka topic (spark-sql-kafka) and the Cassandra table
  (spark-cassandra-connector) through the jars in spark-defaults.conf.

Prints one line per check with its time; exits non-zero on the first failure.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid

KAFKA = "127.0.0.1:9092"
CASSANDRA = ("127.0.0.1", 9042)
SPARK_MASTER = "spark://127.0.0.1:7077"


def timed(label: str):
    def wrap(fn):
        def run(*args, **kwargs):
            start = time.monotonic()
            result = fn(*args, **kwargs)
            print(f"ok  {label:<28} {time.monotonic() - start:6.1f}s  {result}", flush=True)
            return result

        return run

    return wrap


@timed("kafka produce/consume")
def kafka_roundtrip(topic: str, keep: bool) -> str:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": KAFKA})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)

    value = uuid.uuid4().hex.encode()
    producer = Producer({"bootstrap.servers": KAFKA, "acks": "all", "enable.idempotence": True})
    delivered: list[str] = []

    def on_delivery(err, msg):
        if err is not None:
            raise RuntimeError(f"delivery failed: {err}")
        delivered.append(f"{msg.topic()}[{msg.partition()}]@{msg.offset()}")

    producer.produce(topic, key=b"smoke", value=value, on_delivery=on_delivery)
    if producer.flush(30) != 0 or not delivered:
        raise RuntimeError("message not acknowledged within 30 s")

    consumer = Consumer(
        {
            "bootstrap.servers": KAFKA,
            "group.id": f"smoke-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise RuntimeError(f"consume error: {msg.error()}")
            if msg.value() == value:
                break
        else:
            raise RuntimeError("message not consumed within 60 s")
    finally:
        consumer.close()
    if not keep:
        admin.delete_topics([topic])[topic].result(30)
    return f"topic {topic}, produced and consumed {delivered[0]}"


@timed("cassandra insert/select")
def cassandra_roundtrip(keyspace: str, keep: bool) -> str:
    from cassandra.cluster import Cluster

    cluster = Cluster([CASSANDRA[0]], port=CASSANDRA[1])
    try:
        session = cluster.connect()
        version = session.execute("SELECT release_version FROM system.local").one()[0]
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.kv (k text PRIMARY KEY, v text)")
        value = uuid.uuid4().hex
        session.execute(f"INSERT INTO {keyspace}.kv (k, v) VALUES (%s, %s)", ("smoke", value))
        row = session.execute(f"SELECT v FROM {keyspace}.kv WHERE k = %s", ("smoke",)).one()
        if row is None or row.v != value:
            raise RuntimeError(f"read back {row!r}, wrote {value}")
        if not keep:
            session.execute(f"DROP KEYSPACE {keyspace}")
        return f"Cassandra {version}, keyspace {keyspace}, row written and read back"
    finally:
        cluster.shutdown()


def spark_session(name: str):
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(SPARK_MASTER)
        .appName(name)
        .config("spark.cores.max", "1")
        .config("spark.executor.memory", "512m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


@timed("spark count 1000 rows")
def spark_count(spark) -> str:
    n = spark.range(1000).count()
    if n != 1000:
        raise RuntimeError(f"counted {n}")
    parity = spark.range(1000).selectExpr("id % 2 AS p").groupBy("p").count().collect()
    return f"Spark {spark.version}, count=1000, groupBy -> {sorted(r['count'] for r in parity)}"


@timed("spark reads kafka topic")
def spark_kafka(spark, topic: str) -> str:
    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", KAFKA)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
    )
    n = df.count()
    if n < 1:
        raise RuntimeError("no rows read from Kafka")
    return f"{n} record(s) from {topic}"


@timed("spark reads cassandra table")
def spark_cassandra(spark, keyspace: str) -> str:
    df = (
        spark.read.format("org.apache.spark.sql.cassandra")
        .options(keyspace=keyspace, table="kv")
        .option("spark.cassandra.connection.host", CASSANDRA[0])
        .load()
    )
    rows = df.collect()
    if not rows:
        raise RuntimeError("no rows read from Cassandra")
    return f"{len(rows)} row(s) from {keyspace}.kv"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.ERROR)
    connectors = "--connectors" in argv
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    suffix = uuid.uuid4().hex[:8]
    topic, keyspace = f"footfall-smoke-{suffix}", f"footfall_smoke_{suffix}"
    start = time.monotonic()
    kafka_roundtrip(topic, keep=connectors)
    cassandra_roundtrip(keyspace, keep=connectors)
    spark = spark_session("footfall-smoke")
    try:
        spark_count(spark)
        if connectors:
            spark_kafka(spark, topic)
            spark_cassandra(spark, keyspace)
    finally:
        spark.stop()
    if connectors:  # clean up what the connector checks read
        from cassandra.cluster import Cluster
        from confluent_kafka.admin import AdminClient

        # keep a reference to the client until its future resolves
        admin = AdminClient({"bootstrap.servers": KAFKA})
        admin.delete_topics([topic])[topic].result(30)
        cluster = Cluster([CASSANDRA[0]], port=CASSANDRA[1])
        try:
            cluster.connect().execute(f"DROP KEYSPACE {keyspace}")
        finally:
            cluster.shutdown()
    print(f"smoke passed in {time.monotonic() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
