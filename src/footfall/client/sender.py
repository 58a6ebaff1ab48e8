"""What the sync and the asyncio client share: ``track`` into the buffer, the request a batch
becomes, and the synchronous delivery loop (the sync client's threads run it; the asyncio client
runs it once at interpreter exit, when its event loop is gone)."""

from __future__ import annotations

import contextlib
import logging
import os
import random as _random
import time
from collections.abc import Callable, Generator, Mapping
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import httpx

from footfall.client.buffer import Batch, Buffer
from footfall.client.delivery import (
    Backoff,
    Ledger,
    Outcome,
    Rules,
    Stats,
    Step,
    redact_httpx_logs,
)
from footfall.client.events import (
    ParamValue,
    Timestamp,
    make_envelope,
    make_event,
    timestamp_micros,
)
from footfall.client.options import DEFAULT_USER_AGENT, Options

log = logging.getLogger("footfall.client")
COLLECT_PATH = "/v1/collect"


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def collect_url(endpoint: str) -> str:
    """``https://host[:port][/prefix]`` → its ``/v1/collect`` URL (given as is if it ends so)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "endpoint must be an http:// or https:// URL, e.g. https://footfall.example.com"
        )
    if parts.query or parts.fragment:
        raise ValueError(
            "endpoint must not have a query string: give the api_secret as api_secret="
        )
    path = parts.path.rstrip("/")
    if not path.endswith(COLLECT_PATH):
        path += COLLECT_PATH
    return f"{parts.scheme}://{parts.netloc}{path}"


TransportT = TypeVar("TransportT")  # httpx.BaseTransport, or httpx.AsyncBaseTransport
SleepT = TypeVar("SleepT")  # seconds → None, or → an awaitable


class Sender(Generic[TransportT, SleepT]):
    """The part of a client that needs no I/O of its own."""

    def __init__(
        self,
        endpoint: str,
        measurement_id: str,
        *,
        api_secret: str | None = None,
        api_key: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        options: Options | None = None,
        transport: TransportT | None = None,
        clock: Callable[[], float] = time.monotonic,
        now_us: Callable[[], int] = wall_clock_us,
        sleep: SleepT | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        """``endpoint`` is the server's base URL; give ``api_secret`` (a stream's) or
        ``api_key`` (a ``write`` key) for server-side sending. ``transport`` replaces httpx's
        (``httpx.MockTransport`` in tests); ``clock`` (monotonic seconds), ``now_us`` (event
        times), ``sleep`` (the wait before a retry) and ``random`` (its jitter) are for tests."""
        self._transport, self._sleep = transport, sleep
        if not measurement_id or not isinstance(measurement_id, str):
            raise ValueError("measurement_id is required (e.g. G-XXXXXXXXXX)")
        if api_secret is not None and api_key is not None:
            raise ValueError("give api_secret or api_key, not both")
        if not user_agent or len(user_agent) > 512:
            raise ValueError("user_agent must be 1 to 512 characters")
        self.options = options or Options()
        self.url = collect_url(endpoint)
        self.params = {"measurement_id": measurement_id}
        if api_secret is not None:
            self.params["api_secret"] = api_secret
            redact_httpx_logs()  # httpx logs request URLs, and the secret is in the query
        self.headers = {"content-type": "application/json", "user-agent": user_agent}
        if api_key is not None:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.server_side = api_secret is not None or api_key is not None
        self.clock, self.now_us, self.random = clock, now_us, random
        self._pid = os.getpid()
        self._fresh()

    def _fresh(self) -> None:
        """The state of a client that has sent nothing (also a forked child's)."""
        o = self.options
        self.buffer = Buffer(
            max_events=o.max_queue_events,
            max_bytes=o.max_queue_bytes,
            batch_events=o.max_batch_events,
            batch_bytes=o.max_batch_bytes,
            flush_interval=o.flush_interval,
            clock=self.clock,
        )
        self.ledger = Ledger()
        backoff = Backoff(o.backoff_base, o.max_retry_delay, o.max_retry_after)
        self.rules = Rules(self.ledger, backoff, self.random)
        self.in_flight = 0
        self.closed = False

    def __repr__(self) -> str:  # never the secret or the key
        return f"<{type(self).__name__} {self.url} {self.params['measurement_id']}>"

    @property
    def stats(self) -> Stats:
        return self.ledger.snapshot(len(self.buffer) + self.in_flight)

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
        """Queue one event (no I/O, nothing awaited); returns its ``event_id``.

        ``timestamp`` (a datetime, naive = UTC, or epoch microseconds) defaults to now;
        ``user_agent`` and ``ip_override`` are the visitor's, for a server sending on its
        behalf (they need an api_secret or api_key). Raises ``ValueError`` for what would make
        the collector refuse the whole request, and ``RuntimeError`` once closed."""
        self._before_track()
        if self.closed:
            raise RuntimeError("this footfall client is closed")
        envelope = make_envelope(
            client_id, user_id, user_agent, ip_override, server_side=self.server_side
        )
        time_us = timestamp_micros(timestamp) if timestamp is not None else self.now_us()
        event = make_event(
            name,
            params,
            event_id=event_id,
            time_us=time_us,
            max_params=self.options.max_params_per_event,
        )
        if not self.buffer.fits(envelope, event):
            raise ValueError(
                f"event {name[:40]!r} is {len(event.json)} bytes of JSON: more than fits in one "
                f"request of max_batch_bytes ({self.options.max_batch_bytes})"
            )
        dropped, wake = self.buffer.put(envelope, event)
        self.ledger.add(tracked=1, dropped=dropped)
        if dropped:
            log.warning("footfall client queue is full: dropped the %d oldest events", dropped)
        self._after_track(wake)
        return event.event_id

    def _before_track(self) -> None:
        """The client's own check before an event is queued."""

    def _after_track(self, wake: bool) -> None:
        """Start the senders if need be; wake one if ``wake`` (a batch may be ready)."""
        raise NotImplementedError

    def _request(self, http: httpx.Client, batch: Batch) -> httpx.Response | Exception:
        try:
            return http.post(self.url, params=self.params, content=batch.body())
        except httpx.TransportError as exc:  # connection refused or reset, timeouts, protocol
            return exc

    def _gives_up(self, started: float, outcome: Outcome) -> bool:
        limit = self.options.give_up_after
        return limit is not None and self.clock() - started + outcome.delay > limit

    def _log_retry(self, batch: Batch, outcome: Outcome, attempt: int) -> None:
        level = logging.WARNING if attempt == 1 else logging.DEBUG
        log.log(
            level,
            "footfall: %s; retrying %d events in %.1f s (attempt %d)",
            outcome.why,
            len(batch),
            outcome.delay,
            attempt + 1,
        )

    def _plan(self, first: Batch) -> Generator[Batch | float, object, None]:
        """The retry rules as a conversation, the same for threads and tasks: it yields a
        batch to send (and is sent the response or the exception) or seconds to wait before
        a retry (and is sent whether there is still time). Closed early (a cancelled task),
        it puts what it had not finished back in the queue."""
        todo = [first]
        try:
            while todo:
                batch = todo[-1]
                started, attempt = self.clock(), 0
                while True:
                    result = yield batch
                    assert isinstance(result, httpx.Response | Exception)
                    outcome = self.rules.judge(batch, result, attempt)
                    if outcome.step is not Step.RETRY:
                        todo.pop()
                        if outcome.step is Step.SPLIT:
                            todo.extend(batch.halves())
                        break
                    attempt += 1
                    if self._gives_up(started, outcome):
                        todo.pop()
                        self.rules.give_up(batch, unsent=False)
                        break
                    self._log_retry(batch, outcome, attempt)
                    if not (yield outcome.delay):
                        todo.pop()
                        self.rules.give_up(batch, unsent=True)
                        break
        except GeneratorExit:
            for batch in todo:
                self.buffer.requeue(batch)
            raise

    def _deliver(self, http: httpx.Client, first: Batch, pause: Callable[[float], bool]) -> None:
        """Send a batch until it is done; ``pause(seconds)`` waits before a retry and says
        False when there is no more time (the batch then counts as unsent)."""
        plan = self._plan(first)
        step = next(plan)
        with contextlib.suppress(StopIteration):
            while True:
                reply = self._request(http, step) if isinstance(step, Batch) else pause(step)
                step = plan.send(reply)
