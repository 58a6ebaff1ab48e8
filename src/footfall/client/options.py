"""The sender's bounds and timings, checked once when a client is made."""

from __future__ import annotations

import dataclasses

from footfall import __version__

# The User-Agent header of every request. It names footfall's SDK and passes the processor's
# bot filter, so an event sent without a visitor's user agent (a background job, a webhook) is
# still counted, as GA4's Measurement Protocol counts it. Python's and curl's own agents
# (python-httpx, python-requests, curl) are dropped as crawlers.
DEFAULT_USER_AGENT = f"footfall-python/{__version__}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """How a client batches, retries and bounds its memory (defaults fit the collector's
    defaults: 25 events and 130,000 bytes per request, 25 params per event)."""

    # a request holds events of one envelope: at most this many, and at most this many bytes
    max_batch_events: int = 25
    max_batch_bytes: int = 120_000
    # a queued event waits at most this long (seconds) before its batch is sent
    flush_interval: float = 1.0
    # the queue's bounds; past either, the oldest queued events are dropped and counted
    max_queue_events: int = 10_000
    max_queue_bytes: int = 16_000_000
    # requests in flight at once (threads of the sync client, tasks of the asyncio one)
    max_concurrency: int = 4
    # seconds for each request (connect, write, read)
    timeout: float = 10.0
    # retries: attempt n waits between half and all of min(max_retry_delay, backoff_base * 2**n);
    # a Retry-After is honoured up to max_retry_after
    backoff_base: float = 0.5
    max_retry_delay: float = 30.0
    max_retry_after: float = 600.0
    # seconds after which a batch that keeps failing is given up (counted failed); None: retry
    # until close() runs out of time
    give_up_after: float | None = None
    # how long close() (and the flush at interpreter exit) keeps trying to deliver
    close_timeout: float = 10.0
    # the collector's max_params_per_event: more in one event would refuse its whole request
    max_params_per_event: int = 25

    def __post_init__(self) -> None:
        positive = {
            "max_batch_events": self.max_batch_events,
            "max_queue_events": self.max_queue_events,
            "max_concurrency": self.max_concurrency,
            "max_params_per_event": self.max_params_per_event,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not 1_000 <= self.max_batch_bytes <= 130_000:
            raise ValueError(
                "max_batch_bytes must be 1,000 to 130,000 (the collector's max_body_bytes)"
            )
        if self.max_queue_bytes < self.max_batch_bytes:
            raise ValueError("max_queue_bytes must be at least max_batch_bytes")
        if self.max_concurrency > 64:
            raise ValueError("max_concurrency must be at most 64")
        timings = {
            "flush_interval": self.flush_interval,
            "timeout": self.timeout,
            "backoff_base": self.backoff_base,
            "max_retry_delay": self.max_retry_delay,
            "max_retry_after": self.max_retry_after,
            "close_timeout": self.close_timeout,
        }
        for name, seconds in timings.items():
            if not 0 <= seconds <= 86_400:
                raise ValueError(f"{name} must be 0 to 86400 seconds, not {seconds!r}")
        if self.timeout <= 0:
            raise ValueError("timeout must be more than 0 seconds")
        if self.give_up_after is not None and self.give_up_after <= 0:
            raise ValueError("give_up_after must be None or more than 0 seconds")
