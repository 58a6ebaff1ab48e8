"""The cluster queue: an Apache Kafka topic, through confluent-kafka (librdkafka).

Publishing: ``acks=all`` with idempotence on, compressed and batched; ``publish`` returns only
when every message's delivery report says it is written to all in-sync replicas, and raises
:class:`QueueUnavailable` otherwise. While the brokers are unreachable it fails at once (a
background thread probes for their return), so the collector answers 503 instead of waiting.
The partition key (the visitor's client id, or address) keeps one visitor's events in order.

Consuming: a consumer group; offsets are committed by hand, after the store has the batch. A
crashed member's partitions move to the others, which start from the last committed offsets.

Dead letters: the processor sends every event it drops to ``<topic>.dead`` before committing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from footfall.queue import Batch, Message, QueueUnavailable
from footfall.schema.events import DeadLetter

log = logging.getLogger(__name__)
PROBE_EVERY_S = 1.0


def _client() -> Any:
    try:
        import confluent_kafka
    except ImportError:  # pragma: no cover - depends on the extra
        raise ImportError(
            "the Kafka queue needs the cluster extra: pip install 'footfall[cluster]'"
        ) from None
    return confluent_kafka


class KafkaPublisher:
    def __init__(self, brokers: str, topic: str, *, delivery_timeout_ms: int = 8000) -> None:
        ck = _client()
        self.topic = topic
        self._ck = ck
        self._producer = ck.Producer(
            {
                "bootstrap.servers": brokers,
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": "lz4",
                "linger.ms": 5,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 500_000,
                "message.timeout.ms": delivery_timeout_ms,
                "error_cb": self._on_error,
            }
        )
        self._down_since: float | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name="footfall-kafka-producer", daemon=True
        )
        self._thread.start()

    def _on_error(self, err: Any) -> None:
        if err.code() == self._ck.KafkaError._ALL_BROKERS_DOWN:
            if self._down_since is None:
                log.warning("all Kafka brokers are down; publishing answers unavailable")
            self._down_since = time.monotonic()

    def _serve(self) -> None:
        """Deliver callbacks, and while the brokers are down, probe for their return."""
        last_probe = 0.0
        while not self._closed.is_set():
            self._producer.poll(0.05)
            if self._down_since is not None and time.monotonic() - last_probe > PROBE_EVERY_S:
                last_probe = time.monotonic()
                try:
                    self._producer.list_topics(self.topic, timeout=1.0)
                except self._ck.KafkaException:
                    continue
                log.warning("Kafka brokers are back")
                self._down_since = None

    async def publish(self, messages: Sequence[Message]) -> None:
        if self._down_since is not None:
            raise QueueUnavailable("the Kafka brokers are unreachable")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for key, value in messages:
            future: asyncio.Future[None] = loop.create_future()

            def report(err: Any, _msg: Any, future: asyncio.Future[None] = future) -> None:
                loop.call_soon_threadsafe(_settle, future, err)

            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=report)
            except BufferError:
                raise QueueUnavailable("the Kafka producer's buffer is full") from None
            futures.append(future)
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise QueueUnavailable(
                f"Kafka did not take {len(failed)} of {len(results)} messages: {failed[0]}"
            )

    def close(self) -> None:
        self._producer.flush(10)
        self._closed.set()
        self._thread.join(timeout=5)


def _settle(future: asyncio.Future[None], err: Any) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(QueueUnavailable(str(err)))


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dead"


class KafkaDeadLetters:
    """The dead-letter topic (``<topic>.dead``): every event the processor drops, with its typed
    reason, keyed by ``property_id/event_id`` (a consumer of the topic can dedupe on the key;
    a batch processed again after a crash sends its letters again)."""

    def __init__(self, brokers: str, topic: str) -> None:
        ck = _client()
        self.topic = dead_letter_topic(topic)
        self._ck = ck
        self._producer = ck.Producer(
            {
                "bootstrap.servers": brokers,
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": "lz4",
                "linger.ms": 5,
                "message.timeout.ms": 30_000,
            }
        )

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Return once Kafka has every letter (before the batch's offsets are committed)."""
        if not letters:
            return
        errors: list[Any] = []

        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        for letter in letters:
            self._producer.produce(
                self.topic,
                key=f"{letter.property_id}/{letter.event_id}".encode(),
                value=msgspec.json.encode(letter),
                on_delivery=report,
            )
        remaining = self._producer.flush(60)
        if errors or remaining:
            raise QueueUnavailable(
                f"the dead-letter topic did not take {len(errors) + remaining} letters"
            )

    def close(self) -> None:
        self._producer.flush(10)


class KafkaConsumer:
    def __init__(self, brokers: str, topic: str, group: str) -> None:
        ck = _client()
        self._ck = ck
        self.topic = topic
        self._consumer = ck.Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
                "max.poll.interval.ms": 300_000,
            }
        )
        self._consumer.subscribe([topic])

    def poll(self, max_messages: int, timeout: float) -> Batch:
        deadline = time.monotonic() + timeout
        got: list[Any] = []
        while not got:
            remaining = max(0.0, deadline - time.monotonic())
            got = [
                m
                for m in self._consumer.consume(num_messages=max_messages, timeout=remaining)
                if m.error() is None
            ]
            if remaining <= 0:
                break
        positions: dict[int, int] = {}
        for m in got:
            positions[m.partition()] = max(positions.get(m.partition(), 0), m.offset() + 1)
        return Batch([m.value() for m in got], 0, len(got) - 1, positions)

    def commit(self, batch: Batch) -> None:
        if not batch.positions:
            return
        offsets = [self._ck.TopicPartition(self.topic, p, o) for p, o in batch.positions.items()]
        self._consumer.commit(offsets=offsets, asynchronous=False)

    def seek(self, since_us: int) -> None:
        assigned = self._consumer.assignment()
        deadline = time.monotonic() + 30
        while not assigned and time.monotonic() < deadline:
            self._consumer.consume(num_messages=1, timeout=0.5)  # join the group first
            assigned = self._consumer.assignment()
        wanted = [
            self._ck.TopicPartition(self.topic, tp.partition, since_us // 1000) for tp in assigned
        ]
        for tp in self._consumer.offsets_for_times(wanted, timeout=10):
            if tp.offset >= 0:
                self._consumer.seek(tp)
                self._consumer.commit(offsets=[tp], asynchronous=False)

    def close(self) -> None:
        self._consumer.close()


def pending(brokers: str, topic: str, group: str) -> int:
    """Messages in the topic that ``group`` has not committed (its lag)."""
    ck = _client()
    consumer = ck.Consumer(
        {"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=5)
        partitions = [ck.TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        lag = 0
        for tp in consumer.committed(partitions, timeout=5):
            low, high = consumer.get_watermark_offsets(tp, timeout=5)
            lag += high - (tp.offset if tp.offset >= 0 else low)
        return lag
    finally:
        consumer.close()


def ensure_topic(
    brokers: str, topic: str, *, partitions: int, replication: int, min_insync: int
) -> bool:
    """Create the topic if it does not exist; True if it was created."""
    ck = _client()
    # confluent_kafka's stubs miss these names; without the cluster extra it is untyped
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined,unused-ignore]

    admin = AdminClient({"bootstrap.servers": brokers})
    if topic in admin.list_topics(timeout=10).topics:
        return False
    config = {"min.insync.replicas": str(min_insync)}
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication, config=config)]
    )
    try:
        futures[topic].result(60)
    except ck.KafkaException as exc:
        if exc.args[0].code() != ck.KafkaError.TOPIC_ALREADY_EXISTS:
            raise
        return False
    return True
