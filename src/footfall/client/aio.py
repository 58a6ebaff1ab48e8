"""``AsyncClient``: track from the event loop; worker tasks send in the background."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

import httpx

from footfall.client.buffer import Batch
from footfall.client.delivery import Stats
from footfall.client.events import ParamValue, Timestamp
from footfall.client.options import DEFAULT_USER_AGENT, Options
from footfall.client.sender import Sender, wall_clock_us


class AsyncClient(Sender):
    """Sends events to a footfall collector from tasks on the running event loop.

    It may be made anywhere (at import, in a settings module); its tasks start with the first
    ``track``, which must run on the event loop's thread. ``await aclose()`` (or ``async with``)
    sends what is queued. If the loop ends first (``asyncio.run`` returns, the tasks are
    cancelled), what was left is sent at interpreter exit by a plain ``httpx.Client``.
    """

    def __init__(
        self,
        endpoint: str,
        measurement_id: str,
        *,
        api_secret: str | None = None,
        api_key: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        options: Options | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        now_us: Callable[[], int] = wall_clock_us,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        """As :class:`footfall.client.Client`; ``sleep`` is awaited before retries."""
        self._transport = transport
        self._sleep = sleep
        super().__init__(
            endpoint,
            measurement_id,
            api_secret=api_secret,
            api_key=api_key,
            user_agent=user_agent,
            options=options,
            clock=clock,
            now_us=now_us,
            random=random,
        )

    def _fresh(self) -> None:
        super()._fresh()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None
        self._wake: asyncio.Event | None = None
        self._nudge: asyncio.Event | None = None  # aclose(): end the waits before retries
        self._closing = self._flushing = False
        self._deadline: float | None = None
        self._exit_hook: Callable[[], None] | None = None

    def track(
        self,
        name: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        client_id: str | None = None,
        user_id: str | None = None,
        timestamp: Timestamp | None = None,
        event_id: str | None = None,
        user_agent: str | None = None,
        ip_override: str | None = None,
    ) -> str:
        """Queue one event (no I/O, no await); returns its ``event_id``. The arguments are
        those of :meth:`footfall.client.Client.track`."""
        event_id, wake = self._enqueue(
            name,
            params,
            client_id=client_id,
            user_id=user_id,
            timestamp=timestamp,
            event_id=event_id,
            user_agent=user_agent,
            ip_override=ip_override,
        )
        if not self._tasks or all(t.done() for t in self._tasks):
            self._start()
        assert self._wake is not None
        if wake:
            self._wake.set()
        return event_id

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
        if self._http is not None:
            # the tasks of an earlier loop (asyncio.run twice) are gone, and so is its client
            self._http = None
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
