"""Embedded durable queue: an append-only log in SQLite (WAL mode, ``synchronous=FULL``).

Group commit: every ``publish`` call hands its messages to one writer thread and waits. The
writer takes everything that is waiting, appends it in one transaction and commits once, so
many concurrent requests share one fsync. A caller's future resolves only after that commit.

Consumers read with their own connection (WAL lets readers run beside the writer), keep their
committed offset in the same file, and rows older than the retention window that every group
has committed are trimmed, so raw events can be replayed for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from footfall.queue import Batch, Message, QueueUnavailable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    appended_at INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_appended_at ON log (appended_at);
CREATE TABLE IF NOT EXISTS consumer_offsets (
    grp TEXT PRIMARY KEY,
    committed INTEGER NOT NULL
);
"""
MAX_GROUP_MESSAGES = 20_000
TRIM_EVERY_S = 60.0


def _connect(path: str) -> sqlite3.Connection:
    """Opening writes nothing when the file is set up already (WAL mode, tables there), so the
    queue opens on a nearly full disk and the processor can drain it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


_Pending = tuple[list[bytes], asyncio.Future[None], asyncio.AbstractEventLoop]


class LocalPublisher:
    def __init__(self, path: str, *, retention_hours: int = 168) -> None:
        self.path = path
        self.retention_us = retention_hours * 3_600_000_000
        self._conn = _connect(path)
        self._inbox: queue.Queue[_Pending | None] = queue.Queue()
        self._closed = False
        self.commits = 0  # transactions committed (each one fsync), for tests and metrics
        self._thread = threading.Thread(target=self._run, name="footfall-queue-writer", daemon=True)
        self._thread.start()

    async def publish(self, messages: Sequence[Message]) -> None:
        if self._closed:
            raise QueueUnavailable("queue is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._inbox.put(([value for _key, value in messages], future, loop))
        await future

    def _run(self) -> None:
        last_trim = time.monotonic()
        while True:
            first = self._inbox.get()
            if first is None:
                return
            group = [first]
            count = len(first[0])
            while count < MAX_GROUP_MESSAGES:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._inbox.put(None)  # finish this group, then stop
                    break
                group.append(item)
                count += len(item[0])
            self._write(group)
            if time.monotonic() - last_trim > TRIM_EVERY_S:
                last_trim = time.monotonic()
                try:
                    self.trim()
                except sqlite3.Error:  # e.g. a full disk; the next trim tries again
                    log.exception("queue trim failed")

    def _write(self, group: list[_Pending]) -> None:
        now = time.time_ns() // 1000
        error: BaseException | None = None
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO log (appended_at, value) VALUES (?, ?)",
                [(now, value) for values, _f, _l in group for value in values],
            )
            self._conn.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:
            log.exception("queue append failed")
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            error = exc
        for _values, future, loop in group:
            loop.call_soon_threadsafe(_settle, future, error)

    def trim(self, now_us: int | None = None) -> int:
        """Delete rows past retention that every consumer group has committed."""
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        cur = self._conn.execute(
            "DELETE FROM log WHERE appended_at < ? AND offset <= "
            "(SELECT coalesce(min(committed), 0) FROM consumer_offsets)",
            (now_us - self.retention_us,),
        )
        return cur.rowcount

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._inbox.put(None)
        self._thread.join(timeout=30)
        self._conn.close()


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(QueueUnavailable(f"queue append failed: {error}"))


def pending(path: str, group: str) -> int:
    """Messages not yet committed by ``group``, read on a short-lived connection of its own."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(offset), 0) FROM log) - "
            "coalesce((SELECT committed FROM consumer_offsets WHERE grp = ?), 0)",
            (group,),
        ).fetchone()
    finally:
        conn.close()
    return max(0, int(row[0]))


class LocalConsumer:
    POLL_STEP_S = 0.02

    def __init__(self, path: str, group: str) -> None:
        self.group = group
        self._conn = _connect(path)
        if (
            self._conn.execute("SELECT 1 FROM consumer_offsets WHERE grp = ?", (group,)).fetchone()
            is None
        ):
            self._conn.execute(
                "INSERT OR IGNORE INTO consumer_offsets (grp, committed) VALUES (?, 0)", (group,)
            )
        self.position = self._committed()

    def _committed(self) -> int:
        row = self._conn.execute(
            "SELECT committed FROM consumer_offsets WHERE grp = ?", (self.group,)
        ).fetchone()
        return int(row[0]) if row else 0

    def poll(self, max_messages: int, timeout: float) -> Batch:
        deadline = time.monotonic() + timeout
        while True:
            rows = self._conn.execute(
                "SELECT offset, value FROM log WHERE offset > ? ORDER BY offset LIMIT ?",
                (self.position, max_messages),
            ).fetchall()
            if rows:
                first, last = rows[0][0], rows[-1][0]
                self.position = last
                return Batch([bytes(r[1]) for r in rows], first, last)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Batch([], self.position + 1, self.position)
            time.sleep(min(self.POLL_STEP_S, remaining))

    def commit(self, batch: Batch) -> None:
        if not batch.messages:
            return
        self._conn.execute(
            "UPDATE consumer_offsets SET committed = max(committed, ?) WHERE grp = ?",
            (batch.last_offset, self.group),
        )

    def seek(self, since_us: int) -> None:
        row = self._conn.execute(
            "SELECT coalesce(min(offset), (SELECT coalesce(max(offset), 0) + 1 FROM log)) "
            "FROM log WHERE appended_at >= ?",
            (since_us,),
        ).fetchone()
        start = int(row[0]) - 1
        self._conn.execute(
            "UPDATE consumer_offsets SET committed = ? WHERE grp = ?", (start, self.group)
        )
        self.position = start

    def close(self) -> None:
        self._conn.close()
