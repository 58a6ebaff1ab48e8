"""Re-processing: rebuild a property's derived data from its raw events, beside the live data.

A rebuild runs the property's raw events through the pipeline again into a new *generation* of
events, sessions, visitors and dead letters (:class:`footfall.store.Generations`); reports and
the processor keep using the live generation meanwhile. It runs on its own thread,
``batch_size`` raw events at a time in ``(received_at, event_id)`` order, and each page is
written in one transaction together with the rebuild's cursor and counts: other properties'
events keep being processed, and after a crash the rebuild resumes where its last page ended.

When a page comes back short, the rebuild has caught up. It finishes on the processor thread,
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
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

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
    Generations,
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


class RebuildStore(EventStore, RawHistory, Generations, Protocol):
    """What re-processing needs from a store."""


class Stopped(Exception):
    """The process stops: the rebuild stays running, to resume at the next start."""


class GenerationView:
    """An event store seen as one generation: a rebuild's processor reads and writes only it."""

    def __init__(self, store: EventStore, generation: int) -> None:
        self.store = store
        self.generation = generation

    def known_event_ids(
        self, keys: Sequence[tuple[str, str]], *, generation: int | None = None
    ) -> set[tuple[str, str]]:
        return self.store.known_event_ids(keys, generation=self.generation)

    def session_events(
        self, probes: Sequence[SessionProbe], timeout_us: int, *, generation: int | None = None
    ) -> list[EnrichedEvent]:
        return self.store.session_events(probes, timeout_us, generation=self.generation)

    def write(self, writes: WriteSet) -> None:
        writes.generation = self.generation
        self.store.write(writes)


class Rebuilder:
    """Runs every unfinished rebuild, one page of each in turn, on the ``footfall-reprocess``
    thread; resumes the ones a previous process left unfinished when it starts."""

    def __init__(
        self,
        store: RebuildStore,
        properties: Callable[[str], Property | None],
        pipeline: Pipeline,
        submit: Submit,
        clock: Clock = system_clock,
        *,
        batch_size: int,
    ) -> None:
        self.store = store
        self.properties = properties
        self.pipeline = pipeline
        self.submit = submit
        self.clock = clock
        self.batch_size = batch_size
        self._decoder = msgspec.msgpack.Decoder(RawEvent)
        self._encoder = msgspec.msgpack.Encoder()
        self._lock = threading.Lock()
        self._running: dict[str, Rebuild] = {}
        self._processors: dict[tuple[str, int], Processor] = {}
        self._retry: dict[str, tuple[float, float]] = {}  # property → (monotonic time, backoff)
        self._resumed = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the admin API and readiness use ---------------------------------------------

    def request(self, property_id: str) -> Rebuild:
        """Start a rebuild of the property, or return the one already running."""
        rebuild = self.store.begin_rebuild(property_id, self.clock())
        with self._lock:
            self._running.setdefault(property_id, rebuild)
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
                self._wake.wait(IDLE_WAIT_S if not self._retry else 1.0)
                self._wake.clear()

    def resume(self) -> None:
        """Pick up the rebuilds left running, and delete generations a crash left behind."""
        stored = self.store.rebuilds()
        with self._lock:
            for rebuild in stored:
                if rebuild.state == RUNNING:
                    self._running.setdefault(rebuild.property_id, rebuild)
        for rebuild in stored:
            self.store.drop_generations(rebuild.property_id)
        self._resumed = True

    def run_once(self) -> bool:
        """One page of every running rebuild that is not waiting to retry; False if none ran."""
        if not self._resumed:
            self.resume()
        worked = False
        for rebuild in self.running():
            if self._stop.is_set():
                break
            pid = rebuild.property_id
            retry_at, backoff = self._retry.get(pid, (0.0, 0.0))
            if time.monotonic() < retry_at:
                continue
            worked = True
            try:
                after = self._step(rebuild)
            except Stopped:
                break
            except Exception as exc:
                backoff = min(MAX_BACKOFF_S, max(1.0, backoff * 2))
                self._retry[pid] = (time.monotonic() + backoff, backoff)
                log.exception("re-processing property %s failed; retrying in %.0f s", pid, backoff)
                after = self._failed_attempt(rebuild, exc)
            else:
                self._retry.pop(pid, None)
            with self._lock:
                if after is None or after.state != RUNNING:
                    self._running.pop(pid, None)
                    self._processors = {k: v for k, v in self._processors.items() if k[0] != pid}
                else:
                    self._running[pid] = after
        return worked

    def drain(self) -> None:
        """Run until no rebuild is left (tests; the thread does this in a running server)."""
        while self.run_once() or self.running():
            if self._retry:
                raise RuntimeError("a rebuild failed; see the log")

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

    def _read(self, rebuild: Rebuild, page: list[RawRow]) -> WriteSet:
        """A page of raw events processed into the rebuild's generation (not written yet)."""
        messages = [
            self._encoder.encode(
                msgspec.structs.replace(self._decoder.decode(row.payload), ip=row.ip or "")
            )
            for row in page
        ]
        writes, _stats = self._processor(rebuild).process(messages)
        writes.raw = []  # already stored, unchanged
        writes.generation = rebuild.generation
        return writes

    def _step(self, rebuild: Rebuild) -> Rebuild | None:
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
            self.store.drop_generations(pid)
            return failed
        page = self.store.raw_page(pid, rebuild.after, self.batch_size)
        if page:
            writes = self._read(rebuild, page)
            read = rebuild.raw_read + len(page)
            rebuild = writes.rebuild = msgspec.structs.replace(
                rebuild,
                after=(page[-1].received_at, page[-1].event_id),
                raw_read=read,
                raw_total=max(rebuild.raw_total, read),
                updated_at=self.clock(),
                last_error="",
            )
            self.store.write(writes)
        if len(page) == self.batch_size:
            return rebuild
        done: Rebuild = self._on_processor_thread(lambda: self._finish(rebuild))
        self.store.drop_generations(pid)
        log.info(
            "re-processed property %s: %d raw events into generation %d",
            pid,
            done.raw_read,
            done.generation,
        )
        return done

    def _finish(self, rebuild: Rebuild) -> Rebuild:
        """On the processor thread: read what the generation still lacks, then switch to it."""
        pid = rebuild.property_id
        last: tuple[int, str] | None = None
        while page := self.store.raw_unbuilt(pid, rebuild.generation, self.batch_size):
            first = (page[0].received_at, page[0].event_id)
            if last is not None and first <= last:
                raise RuntimeError("re-processing made no progress on the raw events left")
            writes = self._read(rebuild, page)
            rebuild = writes.rebuild = msgspec.structs.replace(
                rebuild, raw_read=rebuild.raw_read + len(page), updated_at=self.clock()
            )
            self.store.write(writes)
            last = (page[-1].received_at, page[-1].event_id)
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
            raise RuntimeError("the stored rebuild is no longer this one")
        with self._lock:
            self._running.pop(pid, None)
        return done

    def _on_processor_thread(self, task: Callable[[], Rebuild]) -> Rebuild:
        future = self.submit(task)
        while True:
            try:
                result: Rebuild = future.result(timeout=1.0)
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
