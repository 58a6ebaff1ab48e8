"""``Client``: track from any thread; daemon threads send in the background."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from types import TracebackType

import httpx

from footfall.client.delivery import Stats
from footfall.client.sender import Sender


class Client(Sender[httpx.BaseTransport, Callable[[float], object]]):
    """Sends events to a footfall collector from a background thread pool.

    ``track`` validates the event, gives it its ``event_id`` and time, queues it and returns at
    once; it never does I/O. The threads start with the first event (after a fork too, so a
    pre-forking server's workers each get their own). ``close()`` (also run at interpreter exit)
    sends what is queued, retrying for up to ``Options.close_timeout`` seconds.
    """

    def _fresh(self) -> None:
        super()._fresh()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._http: httpx.Client | None = None
        self._closing = False  # no more events: send everything, then stop
        self._deadline: float | None = None  # close's: no retry starts after it
        self._abandon = threading.Event()
        self._nudge = threading.Event()  # close(): end the waits before retries, try again now
        self._flushing = False  # send batches without waiting for flush_interval
        self._exit_hook: Callable[[], None] | None = None

    def _before_track(self) -> None:
        if os.getpid() != self._pid:  # a forked child: the parent's threads are not here
            self._pid = os.getpid()
            self._fresh()

    def _after_track(self, wake: bool) -> None:
        if wake or not self._threads:
            with self._cond:
                if not self._threads:
                    self._start()
                self._cond.notify()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now, without waiting for ``flush_interval``; True once
        nothing is pending (delivered, rejected or failed), False if ``timeout`` passed first."""
        limit = self.options.close_timeout if timeout is None else timeout
        deadline = self.clock() + limit
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            try:
                while len(self.buffer) or self.in_flight:
                    left = deadline - self.clock()
                    if left <= 0 or not self._threads:
                        return False
                    self._cond.wait(min(left, 0.1))
                return True
            finally:
                self._flushing = self._closing

    def close(self, timeout: float | None = None) -> Stats:
        """Stop taking events, send what is queued (retrying until ``timeout``, by default
        ``Options.close_timeout``), and return what became of every event. Idempotent."""
        if os.getpid() != self._pid:
            return self.stats  # a forked child that never tracked: the parent sends its events
        limit = self.options.close_timeout if timeout is None else timeout
        with self._cond:
            if self.closed:
                return self.stats
            self.closed = self._closing = self._flushing = True
            self._deadline = self.clock() + limit
            self._cond.notify_all()
            self._nudge.set()
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, self._deadline - self.clock()))
        if any(t.is_alive() for t in threads):
            self._abandon.set()
            self._nudge.set()
            with self._cond:
                self._cond.notify_all()
            for t in threads:  # a request in flight ends within its timeout
                t.join(self.options.timeout + 1)
        self.ledger.add(unsent=len(self.buffer.drain()))
        if self._http is not None:
            self._http.close()
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
        return self.stats

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the threads -----------------------------------------------------------------------

    def _start(self) -> None:
        """Under the condition: the HTTP client, the threads and the exit hook."""
        self._http = httpx.Client(
            transport=self._transport,
            headers=self.headers,
            timeout=self.options.timeout,
            follow_redirects=False,
        )
        for n in range(self.options.max_concurrency):
            t = threading.Thread(target=self._work, name=f"footfall-client-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        self._exit_hook = self._at_exit
        atexit.register(self._exit_hook)

    def _at_exit(self) -> None:
        self.close()

    def _work(self) -> None:
        http = self._http
        assert http is not None
        while True:
            with self._cond:
                while True:
                    if self._abandon.is_set():
                        return
                    wait = self.buffer.wait_time(flushing=self._flushing)
                    if wait == 0:
                        batch = self.buffer.take(flushing=self._flushing)
                        if batch is not None:
                            self.in_flight += len(batch)
                            break
                        continue
                    if wait is None and self._closing:
                        self._cond.notify_all()
                        return
                    self._cond.wait(wait)
            try:
                self._deliver(http, batch, self._pause)
            finally:
                with self._cond:
                    self.in_flight -= len(batch)
                    self._cond.notify_all()

    def _pause(self, seconds: float) -> bool:
        """Wait before a retry; False when close's time is up."""
        if self._deadline is not None:
            seconds = min(seconds, max(0.0, self._deadline - self.clock()))
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._nudge.wait(seconds)
            self._nudge.clear()  # one nudge ends the waits of that moment, not the later ones
        if self._abandon.is_set():
            return False
        return self._deadline is None or self.clock() < self._deadline
