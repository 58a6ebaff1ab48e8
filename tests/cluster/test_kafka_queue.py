"""The Kafka queue adapter against the broker that deploy/cluster.sh starts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from footfall.queue import QueueUnavailable, open_consumer, open_publisher, pending

pytestmark = pytest.mark.cluster
BROKERS = "127.0.0.1:9092"


@pytest.fixture
def topic() -> Iterator[str]:
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"footfall.test.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    yield f"kafka://{BROKERS}/{name}"
    admin.delete_topics([name])[name].result(30)


def drain(consumer, want: int, timeout: float = 60) -> list[bytes]:  # type: ignore[no-untyped-def]
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        batch = consumer.poll(1000, 1.0)
        got += batch.messages
        consumer.commit(batch)
    return got


def test_publish_consume_commit_and_resume(topic: str) -> None:
    pub = open_publisher(topic)
    values = [f"m{i}".encode() for i in range(50)]
    asyncio.run(pub.publish([(f"visitor{i % 7}".encode(), v) for i, v in enumerate(values)]))
    consumer = open_consumer(topic, "g1")
    assert sorted(drain(consumer, 50)) == sorted(values)
    consumer.close()
    assert pending(topic, "g1") == 0
    asyncio.run(pub.publish([(b"k", b"later")]))
    assert pending(topic, "g1") == 1
    again = open_consumer(topic, "g1")  # resumes after the committed offsets
    assert drain(again, 1) == [b"later"]
    again.close()
    pub.close()


def test_an_uncommitted_batch_is_read_again_by_the_group(topic: str) -> None:
    pub = open_publisher(topic)
    asyncio.run(pub.publish([(b"k", f"x{i}".encode()) for i in range(10)]))
    first = open_consumer(topic, "g2")
    seen: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(seen) < 10 and time.monotonic() < deadline:
        seen += first.poll(100, 1.0).messages  # never committed: as if the processor crashed
    first.close()
    second = open_consumer(topic, "g2")
    assert sorted(drain(second, 10)) == sorted(seen)
    second.close()
    pub.close()


def test_one_visitor_keeps_its_order(topic: str) -> None:
    pub = open_publisher(topic)
    asyncio.run(pub.publish([(b"same-visitor", f"{i:03d}".encode()) for i in range(100)]))
    consumer = open_consumer(topic, "g3")
    got = drain(consumer, 100)
    assert got == sorted(got)
    consumer.close()
    pub.close()


def test_unreachable_brokers_fail_fast(topic: str) -> None:
    pub = open_publisher("kafka://127.0.0.1:1/nowhere")

    async def attempt() -> None:
        await asyncio.wait_for(pub.publish([(b"k", b"v")]), timeout=30)

    with pytest.raises(QueueUnavailable):
        asyncio.run(attempt())
    pub.close()
