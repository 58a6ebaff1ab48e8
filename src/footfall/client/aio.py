"""``AsyncClient``: track from the event loop; worker tasks send in the background."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from footfall.client.buffer import Batch
from footfall.client.delivery import Stats
from footfall.client.sender import Sender


class AsyncClient(Sender[httpx.AsyncBaseTransport, Callable[[float], Awaitable[object]]]):
    """Sends events to a footfall collector from tasks on the running event loop.

    It may be made anywhere (at import, in a settings module); its tasks start with the first
    ``track``, which must run on the event loop's thread. ``await aclose()`` (or ``async with``)
    sends what is queued. If the loop ends first (``asyncio.run`` returns, the tasks are
    cancelled), what was left is sent at interpreter exit by a plain ``httpx.Client``.
    """

    def _fresh(self) -> None:
        super()._fresh()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None
        self._wake: asyncio.Event | None = None
        self._nudge: asyncio.Event | None = None  # aclose(): end the waits before retries
        self._closing = self._flushing = False
        self._deadline: float | None = None
        self._exit_hook: Callable[[], None] | None = None

    def _before_track(self) -> None:
        asyncio.get_running_loop()  # RuntimeError outside the loop, before anything is queued

    def _after_track(self, wake: bool) -> None:
        if not self._tasks or all(t.done() for t in self._tasks):
            self._start()
        if wake:
            assert self._wake is not None
            self._wake.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once nothing is pending, False on ``timeout``."""
        limit = self.options.close_timeout if timeout is None else timeout
        deadline = self.clock() + limit
        self._flushing = True
        try:
            while len(self.buffer) or self.in_flight:
                if self._wake is None or self.clock() >= deadline:
                    return False
                self._wake.set()
                await asyncio.sleep(0.01)
            return True
        finally:
            self._flushing = self._closing

    async def aclose(self, timeout: float | None = None) -> Stats:
        """Stop taking events, send what is queued (retrying until ``timeout``, by default
        ``Options.close_timeout``), and return what became of every event. Idempotent."""
        if self.closed:
            return self.stats
        limit = self.options.close_timeout if timeout is None else timeout
        self.closed = self._closing = self._flushing = True
        self._deadline = self.clock() + limit
        if self._wake is not None and self._nudge is not None:
            self._wake.set()
            self._nudge.set()
        if self._tasks:
            _done, alive = await asyncio.wait(self._tasks, timeout=limit)
            for t in alive:
                t.cancel()  # an undelivered batch goes back to the queue, counted unsent
            if alive:
                await asyncio.wait(alive)
        self.ledger.add(unsent=len(self.buffer.drain()))
        if self._http is not None:
            await self._http.aclose()
        self._unhook()
        return self.stats

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the tasks ---------------------------------------------------------------------------

    def _start(self) -> None:
        loop = asyncio.get_running_loop()  # RuntimeError outside a running loop, as it should
        # a client of an earlier loop (asyncio.run twice) is left to the garbage collector:
        # its connections belong to a loop that is closed, so it cannot be closed from here
        self._http = httpx.AsyncClient(
            transport=self._transport,
            headers=self.headers,
            timeout=self.options.timeout,
            follow_redirects=False,
        )
        self._wake = asyncio.Event()
        self._nudge = asyncio.Event()
        self._tasks = [
            loop.create_task(self._work(), name=f"footfall-client-{n}")
            for n in range(self.options.max_concurrency)
        ]
        if self._exit_hook is None:
            self._exit_hook = self._at_exit
            atexit.register(self._exit_hook)

    def _unhook(self) -> None:
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None

    async def _work(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            wait = self.buffer.wait_time(flushing=self._flushing)
            if wait == 0:
                batch = self.buffer.take(flushing=self._flushing)
                if batch is not None:
                    await self._deliver_async(batch)
                continue
            if wait is None and self._closing:
                return
            wake.clear()  # no await since wait_time: a track cannot have slipped in between
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)

    async def _deliver_async(self, first: Batch) -> None:
        http = self._http
        assert http is not None
        self.in_flight += len(first)
        plan = self._plan(first)
        try:
            step = next(plan)
            while True:
                if isinstance(step, Batch):
                    try:
                        result: object = await http.post(
                            self.url, params=self.params, content=step.body()
                        )
                    except httpx.TransportError as exc:
                        result = exc
                else:
                    result = await self._pause(step)
                step = plan.send(result)
        except StopIteration:
            pass
        finally:
            plan.close()  # cancelled mid-way: the unfinished batches go back to the queue
            self.in_flight -= len(first)

    async def _pause(self, seconds: float) -> bool:
        if self._deadline is not None:
            seconds = min(seconds, max(0.0, self._deadline - self.clock()))
        if self._sleep is not None:
            await self._sleep(seconds)
        elif self._nudge is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), seconds)
            self._nudge.clear()  # one nudge ends the waits of that moment, not the later ones
        return self._deadline is None or self.clock() < self._deadline

    def _at_exit(self) -> None:
        """The loop is gone: send what is left with a plain httpx client, for close_timeout."""
        self._exit_hook = None
        if self.closed or not len(self.buffer):
            return
        self.closed = True
        transport = self._transport if isinstance(self._transport, httpx.BaseTransport) else None
        deadline = self.clock() + self.options.close_timeout

        def pause(seconds: float) -> bool:
            time.sleep(max(0.0, min(seconds, deadline - self.clock())))
            return self.clock() < deadline

        with httpx.Client(
            transport=transport, headers=self.headers, timeout=self.options.timeout
        ) as http:
            while self.clock() < deadline:
                batch = self.buffer.take(flushing=True)
                if batch is None:
                    break
                self._deliver(http, batch, pause)
        self.ledger.add(unsent=len(self.buffer.drain()))
