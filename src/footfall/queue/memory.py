"""In-process queue for tests: a list guarded by a condition variable."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from footfall.queue import Batch, Message

_LOGS: dict[str, MemoryLog] = {}
_LOGS_LOCK = threading.Lock()


class MemoryLog:
    def __init__(self) -> None:
        self.entries: list[tuple[int, bytes]] = []  # (appended_at_us, value); offset = index + 1
        self.committed: dict[str, int] = {}
        self.cond = threading.Condition()

    def append(self, values: Sequence[bytes]) -> None:
        now = time.time_ns() // 1000
        with self.cond:
            self.entries.extend((now, v) for v in values)
            self.cond.notify_all()


def memory_log(name: str) -> MemoryLog:
    with _LOGS_LOCK:
        return _LOGS.setdefault(name, MemoryLog())


def reset_memory_logs() -> None:
    with _LOGS_LOCK:
        _LOGS.clear()


class MemoryPublisher:
    def __init__(self, log: MemoryLog) -> None:
        self.log = log

    async def publish(self, messages: Sequence[Message]) -> None:
        self.log.append([value for _key, value in messages])

    def close(self) -> None:
        pass


class MemoryConsumer:
    def __init__(self, log: MemoryLog, group: str) -> None:
        self.log = log
        self.group = group
        with log.cond:
            self.position = log.committed.get(group, 0)

    def poll(self, max_messages: int, timeout: float) -> Batch:
        deadline = time.monotonic() + timeout
        with self.log.cond:
            while len(self.log.entries) <= self.position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Batch([], self.position + 1, self.position)
                self.log.cond.wait(remaining)
            start = self.position
            chunk = self.log.entries[start : start + max_messages]
            self.position = start + len(chunk)
            return Batch([v for _t, v in chunk], start + 1, self.position)

    def commit(self, batch: Batch) -> None:
        with self.log.cond:
            if batch.last_offset > self.log.committed.get(self.group, 0):
                self.log.committed[self.group] = batch.last_offset

    def seek(self, since_us: int) -> None:
        with self.log.cond:
            index = next(
                (i for i, (t, _v) in enumerate(self.log.entries) if t >= since_us),
                len(self.log.entries),
            )
            self.log.committed[self.group] = index
            self.position = index

    def close(self) -> None:
        pass
