"""The consumer loop: poll a batch, process it, write it, then commit the queue offset.

The offset is committed only after the store has the batch, so a crash anywhere in between
means the batch is read again, and the store's dedupe on ``event_id`` makes that harmless.
A failing store is retried with backoff from the last committed offset.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from footfall.process.processor import Processor
from footfall.queue import Consumer, DeadLetters, NoDeadLetters
from footfall.store import EventStore
from footfall.store.disk import is_disk_full

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
DISK_FULL_BACKOFF_S = (
    5.0  # a full disk is retried often: processing resumes soon after space returns
)
Count = Callable[[str, str, int], None]  # (property_id, usage metric, value)


class Worker:
    def __init__(
        self,
        open_consumer: Callable[[], Consumer],
        processor: Processor,
        store: EventStore,
        *,
        batch_size: int,
        flush_interval: float,
        dead_letters: DeadLetters | None = None,
        count_usage: Count | None = None,
    ) -> None:
        self._open_consumer = open_consumer
        self.count_usage = count_usage
        self.dead_letters = dead_letters or NoDeadLetters()
        self.consumer = open_consumer()
        self.processor = processor
        self.store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.batches = 0
        self.last_batch_at = 0.0  # time.time() of the last committed batch
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tasks: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()

    def submit(self, task: Callable[[], Any]) -> Future[Any]:
        """Run ``task`` on the processing thread between batches (nothing else writes meanwhile)."""
        future: Future[Any] = Future()
        self._tasks.put((task, future))
        if not self.alive:
            self._run_tasks()
        return future

    def _run_tasks(self) -> None:
        while True:
            try:
                task, future = self._tasks.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(task())
                except Exception as exc:
                    future.set_exception(exc)

    def run_once(self, timeout: float) -> int:
        """Handle at most one batch; returns how many messages it had."""
        batch = self.consumer.poll(self.batch_size, timeout)
        if not batch.messages:
            return 0
        writes, stats = self.processor.process(batch.messages)
        self.store.write(writes)
        self.dead_letters.send(writes.dead_letters)
        self.consumer.commit(batch)
        if self.count_usage is not None:
            # once per stored event: after the commit, so a batch read again is not counted twice
            for (property_id, currency), n in stats.revenue_unconverted.items():
                self.count_usage(property_id, f"revenue_unconverted:{currency}", n)
        self.batches += 1
        self.last_batch_at = time.time()
        log.debug(
            "batch of %d: stored %d, duplicates %d, dropped %s",
            stats.received,
            stats.stored,
            stats.duplicates,
            stats.dropped,
        )
        return len(batch.messages)

    def drain(self, timeout: float = 0.0) -> int:
        """Process until the queue is empty (tests and shutdown)."""
        total = 0
        while n := self.run_once(timeout):
            total += n
        return total

    def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self._run_tasks()
            try:
                n = self.run_once(self.flush_interval)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                full = is_disk_full(exc)
                if full:
                    log.warning("processing waits for disk space: %s", self.last_error)
                else:
                    log.exception("processing failed; retrying from the last committed offset")
                self._stop.wait(backoff)
                backoff = min(DISK_FULL_BACKOFF_S if full else MAX_BACKOFF_S, backoff * 2)
                try:
                    self.consumer.close()
                    self.consumer = self._open_consumer()
                except Exception:  # e.g. a full disk: the next round fails and tries again
                    log.exception("reopening the queue consumer failed")
                continue
            backoff = 0.5
            self.last_error = ""
            if 0 < n < self.batch_size:
                # a partial batch: let the next one gather for one flush interval
                self._stop.wait(self.flush_interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="footfall-processor", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.consumer.close()
