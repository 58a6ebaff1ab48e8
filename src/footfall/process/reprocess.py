"""Re-processing: rebuild a property's derived data from its raw events, beside the live data.

A rebuild runs the property's raw events through the pipeline again into a new *generation* of
events, sessions, visitors and dead letters (:class:`footfall.store.Generations`); reports and
the processor keep using the live generation meanwhile. It runs on its own thread,
``batch_size`` raw events at a time in ``(received_at, event_id)`` order, and each page is
written in one transaction together with the rebuild's cursor and counts: other properties'
events keep being processed, and after a crash the rebuild resumes where its last page ended.

When a page comes back short, the rebuild has caught up. Once the store says the new
generation is ready (at once on the embedded store; on the cluster when its rollups are built,
asked every few seconds off the processor thread), it finishes on the processor thread,
between two batches (``Worker.submit``), where no other write happens: it reads the raw events
its generation still lacks (those that arrived meanwhile, wherever they sort), then switches
the live generation in one transaction. The old generation is deleted after the switch.

Sessions depend only on the set of events and cookieless salts are kept for the raw retention
window, so within that window the result is the same every time. Raw events older than the
window have lost their client address: they re-process without a country and, without a
client_id, with a different visitor id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

import msgspec

from footfall.clock import Clock, system_clock
from footfall.process.pipeline import Pipeline
from footfall.process.processor import Processor
from footfall.schema.events import EnrichedEvent, RawEvent
from footfall.store import (
    DONE,
    FAILED,
    RUNNING,
    EventStore,
    Generation,
    Generations,
    LostRebuild,
    RawHistory,
    RawRow,
    Rebuild,
    SessionProbe,
    WriteSet,
)
from footfall.tenancy.model import Property

log = logging.getLogger(__name__)
Submit = Callable[[Callable[[], Any]], "Future[Any]"]
IDLE_WAIT_S = 5.0  # how long the thread sleeps when no rebuild runs (a request wakes it)
MAX_BACKOFF_S = 60.0
CLAIM_EVERY_S = 30.0  # how often rebuilds whose process stopped are looked for
NOT_READY_WAIT_S = 3.0  # between attempts to switch to a generation not ready yet
# on the cluster: other processors' batches read before a switch, and reports reading the old
# generation, are over within this long; then the old generation goes
CLUSTER_SETTLE_S = 120.0
T = TypeVar("T")


class RebuildStore(EventStore, RawHistory, Generations, Protocol):
    """What re-processing needs from a store."""


class Stopped(Exception):
    """The process stops: the rebuild stays running, to resume at the next start."""


class NotReady(Exception):
    """The rebuild has caught up, but its generation cannot be switched to yet."""

    def __init__(self, rebuild: Rebuild) -> None:
        super().__init__(rebuild.property_id)
        self.rebuild = rebuild


class GenerationView:
    """An event store seen as one generation: a rebuild's processor reads and writes only it."""

    def __init__(self, store: EventStore, generation: int) -> None:
        self.store = store
        self.generation = generation

    def known_event_ids(
        self, keys: Sequence[tuple[str, str]], *, generation: Generation = None
    ) -> set[tuple[str, str]]:
        return self.store.known_event_ids(keys, generation=self.generation)

    def session_events(
        self, probes: Sequence[SessionProbe], timeout_us: int, *, generation: Generation = None
    ) -> list[EnrichedEvent]:
        return self.store.session_events(probes, timeout_us, generation=self.generation)

    def live_generations(self, property_ids: Iterable[str]) -> dict[str, int]:
        return dict.fromkeys(property_ids, self.generation)  # the rebuild's, for every property

    def write(self, writes: WriteSet) -> None:
        writes.generation = self.generation
        self.store.write(writes)


class Rebuilder:
    """Runs every unfinished rebuild, one page of each in turn, on the ``footfall-reprocess``
    thread; at start, and every ``CLAIM_EVERY_S``, it claims the rebuilds left running.

    ``settle_s`` (0 on the embedded store) is how long after a switch the old generation is
    kept, and when the raw events still missing from the new one are read once more: on the
    cluster, other processors may have read the old live generation just before the switch,
    and reports still be reading it."""

    def __init__(
        self,
        store: RebuildStore,
        properties: Callable[[str], Property | None],
        pipeline: Pipeline,
        submit: Submit,
        clock: Clock = system_clock,
        *,
        batch_size: int,
        settle_s: float = 0.0,
    ) -> None:
        self.store = store
        self.properties = properties
        self.pipeline = pipeline
        self.submit = submit
        self.clock = clock
        self.batch_size = batch_size
        self.settle_us = round(settle_s * 1_000_000)
        self._decoder = msgspec.msgpack.Decoder(RawEvent)
        self._encoder = msgspec.msgpack.Encoder()
        self._lock = threading.Lock()
        self._running: dict[str, Rebuild] = {}
        self._settling: dict[str, Rebuild] = {}  # switched: the old generation still kept
        self._processors: dict[tuple[str, int], Processor] = {}
        self._retry: dict[str, tuple[float, float]] = {}  # property → (monotonic time, backoff)
        self._claimed_at: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the admin API and readiness use ---------------------------------------------

    def request(self, property_id: str) -> Rebuild:
        """Start a rebuild of the property, or return the one already running."""
        rebuild = self.store.begin_rebuild(property_id, self.clock())
        self.claim()
        self._wake.set()
        return rebuild

    def status(self, property_id: str) -> Rebuild | None:
        """The property's latest rebuild, as stored."""
        found = self.store.rebuilds(property_id)
        return found[0] if found else None

    def running(self) -> list[Rebuild]:
        with self._lock:
            return sorted(self._running.values(), key=lambda r: r.property_id)

    # -- the thread -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="footfall-reprocess", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("re-processing failed")
                worked = False
            if not worked:
                busy = self._retry or self._settling
                self._wake.wait(1.0 if busy else IDLE_WAIT_S)
                self._wake.clear()

    def claim(self) -> None:
        """Take the running rebuilds this process is to run (left by a crash, or asked for)."""
        claimed = self.store.claim_rebuilds(self.clock())
        with self._lock:
            for rebuild in claimed:
                self._running.setdefault(rebuild.property_id, rebuild)
        self._claimed_at = time.monotonic()

    def resume(self) -> None:
        """At start: claim the rebuilds left running, and settle the ones a crash left
        finished with their leftover generations still stored (not every rebuild ever run)."""
        self.claim()
        for rebuild in self.store.unsettled(self.clock()):
            self._settling.setdefault(rebuild.property_id, rebuild)

    def run_once(self) -> bool:
        """One page of every running rebuild that is not waiting to retry, and the settling
        of switched ones that are due; False if there was nothing to do."""
        if self._claimed_at is None:
            self.resume()
        elif time.monotonic() - self._claimed_at > CLAIM_EVERY_S:
            self.claim()
        worked = False
        for rebuild in self.running():
            if self._stop.is_set():
                return worked
            retry_at, _backoff = self._retry.get(rebuild.property_id, (0.0, 0.0))
            if time.monotonic() >= retry_at:
                worked = True
                self._attempt(rebuild)
        for pid, done in list(self._settling.items()):
            if self._stop.is_set():
                return worked
            if self.clock() >= (done.finished_at or 0) + self.settle_us:
                worked = True
                try:
                    self._settle(done)
                except Stopped:
                    return worked
                except LostRebuild:
                    log.info("settling property %s is done by another process now", pid)
                except Exception:
                    log.exception("settling the re-processing of property %s failed", pid)
                    continue
                del self._settling[pid]
        return worked

    def _attempt(self, rebuild: Rebuild) -> None:
        """One step of one rebuild, its failure kept on it and retried with backoff."""
        pid = rebuild.property_id
        after: Rebuild | None
        try:
            after = self._step(rebuild)
            self._retry.pop(pid, None)
        except Stopped:
            return
        except NotReady as wait:  # caught up, but the new generation cannot be switched to yet
            self._retry[pid] = (time.monotonic() + NOT_READY_WAIT_S, 0.0)
            after = wait.rebuild
        except LostRebuild:
            log.info("re-processing of property %s is run by another process now", pid)
            after = None
        except Exception as exc:
            backoff = min(MAX_BACKOFF_S, max(1.0, self._retry.get(pid, (0.0, 0.0))[1] * 2))
            self._retry[pid] = (time.monotonic() + backoff, backoff)
            log.exception("re-processing property %s failed; retrying in %.0f s", pid, backoff)
            after = self._failed_attempt(rebuild, exc)
        with self._lock:
            if after is not None and after.state == RUNNING:
                self._running[pid] = after
                return
            self._running.pop(pid, None)
        if after is not None:
            self._settling[pid] = after

    def drain(self) -> None:
        """Run until no rebuild is left (tests; the thread does this in a running server)."""
        while self.run_once():
            if self._retry:
                raise RuntimeError("a rebuild failed or cannot switch yet; see the log")

    # -- one rebuild ------------------------------------------------------------------------

    def _processor(self, rebuild: Rebuild) -> Processor:
        key = (rebuild.property_id, rebuild.generation)
        found = self._processors.get(key)
        if found is None:
            view = GenerationView(self.store, rebuild.generation)
            found = self._processors[key] = Processor(
                view, self.properties, self.pipeline, self.clock
            )
        return found

    def _read(self, rebuild: Rebuild, page: list[RawRow]) -> tuple[WriteSet, int]:
        """A page of raw events processed into the rebuild's generation (not written yet),
        and how many of them it did not hold yet."""
        messages = [
            self._encoder.encode(
                msgspec.structs.replace(self._decoder.decode(row.payload), ip=row.ip or "")
            )
            for row in page
        ]
        writes, stats = self._processor(rebuild).process(messages)
        writes.raw = []  # already stored, unchanged
        writes.generation = rebuild.generation
        return writes, stats.received - stats.duplicates

    def _step(self, rebuild: Rebuild) -> Rebuild:
        """Read the next page; when it is the last, finish. Returns the rebuild as it stands."""
        pid = rebuild.property_id
        if self.properties(pid) is None:
            now = self.clock()
            failed = msgspec.structs.replace(
                rebuild,
                state=FAILED,
                updated_at=now,
                finished_at=now,
                last_error="the property was deleted",
            )
            self.store.write(WriteSet(rebuild=failed))
            return failed
        page = self.store.raw_page(pid, rebuild.after, self.batch_size)
        if page:
            rebuild = self._write_page(rebuild, page, (page[-1].received_at, page[-1].event_id))
        if len(page) == self.batch_size:
            return rebuild
        if not self.store.generation_ready(rebuild):
            # asked here, off the processor thread: the catch-up there reads raw history, and
            # on the cluster the rollups of the new generation may take a rollup run to build
            raise NotReady(rebuild)
        done: Rebuild = self._on_processor_thread(lambda: self._finish(rebuild))
        if done.state == DONE:
            log.info(
                "re-processed property %s: %d raw events into generation %d",
                pid,
                done.raw_read,
                done.generation,
            )
        return done

    def _catch_up(self, rebuild: Rebuild) -> Rebuild:
        """Read every raw event the generation still lacks (wherever it sorts)."""
        pid = rebuild.property_id
        last: tuple[int, str] | None = None
        while page := self.store.raw_unbuilt(pid, rebuild.generation, self.batch_size):
            first = (page[0].received_at, page[0].event_id)
            if last is not None and first <= last:
                raise RuntimeError("re-processing made no progress on the raw events left")
            last = (page[-1].received_at, page[-1].event_id)
            # everything up to here is read now: a page after it holds only newer events
            rebuild = self._write_page(rebuild, page, max(rebuild.after or last, last))
        return rebuild

    def _write_page(self, rebuild: Rebuild, page: list[RawRow], after: tuple[int, str]) -> Rebuild:
        """Process a page into the rebuild's generation and store it with the rebuild's
        progress (its cursor at ``after``), in one write; returns the rebuild as stored."""
        writes, new = self._read(rebuild, page)
        read = rebuild.raw_read + new
        rebuild = writes.rebuild = msgspec.structs.replace(
            rebuild,
            after=after,
            raw_read=read,
            raw_total=max(rebuild.raw_total, read),
            updated_at=self.clock(),
            last_error="",
        )
        self.store.write(writes)
        return rebuild

    def _finish(self, rebuild: Rebuild) -> Rebuild:
        """On the processor thread: read what the generation still lacks, then switch to it."""
        rebuild = self._catch_up(rebuild)
        now = self.clock()
        done = msgspec.structs.replace(
            rebuild,
            state=DONE,
            raw_total=rebuild.raw_read,
            updated_at=now,
            finished_at=now,
            last_error="",
        )
        if not self.store.switch_generation(done):
            raise NotReady(rebuild)
        with self._lock:
            self._running.pop(rebuild.property_id, None)
        return done

    def _settle(self, done: Rebuild) -> None:
        """After a switch: once more what the generation lacks (where other processes wrote
        meanwhile), then delete the generations left behind, and store the rebuild settled."""
        if done.state == DONE and self.settle_us:
            done = self._on_processor_thread(lambda: self._catch_up(done))
        self.store.drop_generations(done.property_id)
        now = self.clock()
        total = done.raw_read if done.state == DONE else done.raw_total
        settled = msgspec.structs.replace(done, raw_total=total, updated_at=now, settled_at=now)
        self.store.write(WriteSet(rebuild=settled))
        with self._lock:
            self._processors = {
                k: v for k, v in self._processors.items() if k[0] != done.property_id
            }

    def _on_processor_thread(self, task: Callable[[], T]) -> T:
        future = self.submit(task)
        while True:
            try:
                result: T = future.result(timeout=1.0)
                return result
            except FutureTimeout:
                if self._stop.is_set() and future.cancel():
                    raise Stopped from None

    def _failed_attempt(self, rebuild: Rebuild, exc: Exception) -> Rebuild:
        """Keep the error on the rebuild (it stays running, and is retried)."""
        failed = msgspec.structs.replace(
            rebuild, updated_at=self.clock(), last_error=f"{type(exc).__name__} (see the log)"
        )
        try:
            stored = self.store.rebuilds(rebuild.property_id)
            if stored and stored[0].generation == rebuild.generation:
                failed = msgspec.structs.replace(
                    stored[0], updated_at=failed.updated_at, last_error=failed.last_error
                )
                if failed.state == RUNNING:
                    self.store.write(WriteSet(rebuild=failed))
        except Exception:
            log.exception("could not record the failure of a rebuild")
        return failed
