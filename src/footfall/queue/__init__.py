"""The queue port: publish durably, consume in batches, commit after the store has them.

Adapters are chosen by URL: ``memory://name`` (tests), ``local:///path/queue.sqlite3``
(embedded, SQLite in WAL mode with group commit), ``kafka://host:port[,host:port]/topic``
(cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

import msgspec

from footfall.schema.events import DeadLetter

# (partition key, value): the key keeps one visitor's events in order where the queue partitions
Message = tuple[bytes, bytes]


class QueueUnavailable(Exception):
    """The queue could not make a batch durable in time; the caller should answer 503."""


class Batch(msgspec.Struct, frozen=True):
    messages: list[bytes]
    first_offset: int
    last_offset: int
    # partitioned queues: the next offset to commit for each partition the batch read
    positions: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.messages)


class Publisher(Protocol):
    async def publish(self, messages: Sequence[Message]) -> None:
        """Return only once every message is durable; raise QueueUnavailable otherwise."""

    def close(self) -> None: ...


class Consumer(Protocol):
    def poll(self, max_messages: int, timeout: float) -> Batch:
        """The next messages after the last poll (empty batch if none arrived within timeout)."""

    def commit(self, batch: Batch) -> None:
        """Mark the batch done; after a restart, consumption resumes after it."""

    def seek(self, since_us: int) -> None:
        """Rewind so the next poll returns messages appended at or after ``since_us``."""

    def close(self) -> None: ...


class DeadLetters(Protocol):
    """Where the processor also sends the events it drops (the store keeps them in any case)."""

    def send(self, letters: Sequence[DeadLetter]) -> None: ...

    def close(self) -> None: ...


class NoDeadLetters:
    """Embedded queues: dead letters live in the store only."""

    def send(self, letters: Sequence[DeadLetter]) -> None:
        pass

    def close(self) -> None:
        pass


def open_dead_letters(url: str) -> DeadLetters:
    if urlsplit(url).scheme == "kafka":
        from footfall.queue.kafka import KafkaDeadLetters

        return KafkaDeadLetters(*kafka_target(url))
    return NoDeadLetters()


def open_publisher(url: str, *, retention_hours: int = 168) -> Publisher:
    parts = urlsplit(url)
    if parts.scheme == "memory":
        from footfall.queue.memory import MemoryPublisher, memory_log

        return MemoryPublisher(memory_log(parts.netloc or "default"))
    if parts.scheme == "local":
        from footfall.queue.local import LocalPublisher

        return LocalPublisher(local_path(url), retention_hours=retention_hours)
    if parts.scheme == "kafka":
        from footfall.queue.kafka import KafkaPublisher

        return KafkaPublisher(*kafka_target(url))
    raise ValueError(f"no queue adapter for {url!r}")


def local_path(url: str) -> str:
    """The file of a ``local://`` URL: ``local:///abs/q.sqlite3`` or ``local://rel/q.sqlite3``."""
    parts = urlsplit(url)
    path = parts.netloc + parts.path
    if not path:
        raise ValueError(f"queue URL {url!r} names no file")
    return path


def kafka_target(url: str) -> tuple[str, str]:
    """(brokers, topic) of ``kafka://host:port[,host:port]/topic``."""
    parts = urlsplit(url)
    topic = parts.path.strip("/")
    if not parts.netloc or not topic:
        raise ValueError(f"queue URL {url!r} needs brokers and a topic: kafka://host:9092/topic")
    return parts.netloc, topic


def pending(url: str, group: str) -> int:
    """Messages appended but not yet committed by ``group`` (for readiness and tests)."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        from footfall.queue.memory import memory_log

        log = memory_log(parts.netloc or "default")
        with log.cond:
            return len(log.entries) - log.committed.get(group, 0)
    if parts.scheme == "local":
        from footfall.queue.local import pending as local_pending

        return local_pending(local_path(url), group)
    if parts.scheme == "kafka":
        from footfall.queue.kafka import pending as kafka_pending

        return kafka_pending(*kafka_target(url), group)
    raise ValueError(f"no queue adapter for {url!r}")


def open_consumer(url: str, group: str) -> Consumer:
    parts = urlsplit(url)
    if parts.scheme == "memory":
        from footfall.queue.memory import MemoryConsumer, memory_log

        return MemoryConsumer(memory_log(parts.netloc or "default"), group)
    if parts.scheme == "local":
        from footfall.queue.local import LocalConsumer

        return LocalConsumer(local_path(url), group)
    if parts.scheme == "kafka":
        from footfall.queue.kafka import KafkaConsumer

        return KafkaConsumer(*kafka_target(url), group)
    raise ValueError(f"no queue adapter for {url!r}")
