"""Where reports run: threads of their own, and a bounded number at once per property and key.

A report's query and its response are built on a thread. Reports get a pool of
``report_workers`` threads that nothing else uses, so however many arrive, they never take
the threads the rest of the server runs blocking work on, and each running report has a reader
cursor of the store ready (the DuckDB store keeps one more than the pool). At most
``report_concurrency_per_property`` reports of one property and ``report_concurrency_per_key``
of one key run at once, each fewer than the pool, so one tenant's heavy reports always leave
room for the others'. A report that finds no room waits up to ``report_queue_timeout``
seconds, then gets 429 with ``Retry-After``.

Slots are counted on the event loop, so no lock is needed; a slot is given back only when its
thread has finished, even if the client has gone.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from footfall.errors import ApiError
from footfall.gateway.metrics import Metrics

T = TypeVar("T")


class ReportRunner:
    def __init__(
        self,
        *,
        workers: int,
        per_property: int,
        per_key: int,
        queue_timeout: float,
        metrics: Metrics | None = None,
    ) -> None:
        self.workers = workers
        self.per_property = per_property
        self.per_key = per_key
        self.queue_timeout = queue_timeout
        self.metrics = metrics
        self.running = 0
        self._by_property: Counter[str] = Counter()
        self._by_key: Counter[str] = Counter()
        # made on first use inside the event loop that serves requests (again if it changes)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._changed: asyncio.Condition | None = None

    def _room(self, property_id: str, key_id: str) -> str:
        """What is full ("" when the report may start)."""
        if self._by_property[property_id] >= self.per_property:
            return "property"
        if self._by_key[key_id] >= self.per_key:
            return "key"
        if self.running >= self.workers:
            return "server"
        return ""

    async def run(self, property_id: str, key_id: str, work: Callable[[], T]) -> T:
        """``work()`` on a report thread once there is room; 429 if none comes in time."""
        loop = asyncio.get_running_loop()
        if self._changed is None or self._limiter is None or self._loop is not loop:
            self._loop = loop
            self._changed = asyncio.Condition()
            self._limiter = anyio.CapacityLimiter(self.workers)
        changed, limiter = self._changed, self._limiter
        deadline = time.monotonic() + self.queue_timeout
        async with changed:
            while full := self._room(property_id, key_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._refused(full)
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    if full := self._room(property_id, key_id):
                        raise self._refused(full) from None
                    break
            self.running += 1
            self._by_property[property_id] += 1
            self._by_key[key_id] += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=limiter)
        finally:
            async with changed:
                self.running -= 1
                self._by_property[property_id] -= 1
                self._by_key[key_id] -= 1
                for counts, name in ((self._by_property, property_id), (self._by_key, key_id)):
                    if counts[name] <= 0:
                        del counts[name]
                changed.notify_all()

    def _refused(self, full: str) -> ApiError:
        if self.metrics is not None:
            self.metrics.rate_limited.labels("report_concurrency").inc()
        what = {
            "property": f"{self.per_property} reports of this property are running "
            "(report_concurrency_per_property)",
            "key": f"{self.per_key} reports of this API key are running "
            "(report_concurrency_per_key)",
            "server": f"{self.workers} reports are running on this server (report_workers)",
        }[full]
        return ApiError(429, f"{what}; retry when one has finished", retry_after=1)
