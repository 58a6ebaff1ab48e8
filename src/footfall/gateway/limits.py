"""Rate limits: token buckets per API key, per property (one for its collector, one for its
reports), and for failed authentications per client address. A refused request gets 429 with
``Retry-After`` (whole seconds)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import msgspec


class Limit(msgspec.Struct, frozen=True):
    rate: float  # tokens per second; 0 turns the limit off
    burst: float  # bucket size


class Buckets:
    """Token buckets by key, refilled continuously; idle buckets are forgotten."""

    MAX_BUCKETS = 100_000

    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, updated = self._buckets.get(key, (self.limit.burst, now))
        return min(self.limit.burst, tokens + (now - updated) * self.limit.rate)

    def take(self, key: str, cost: float = 1.0) -> float:
        """0 if allowed, else the seconds until ``cost`` tokens are there."""
        if self.limit.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.MAX_BUCKETS:
                self._forget_full(now)
            return (cost - tokens) / self.limit.rate

    def peek(self, key: str) -> float:
        """Like take, without taking: seconds until one token (0 when one is there)."""
        if self.limit.rate <= 0:
            return 0.0
        with self._lock:
            tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.limit.rate

    def _forget_full(self, now: float) -> None:
        full_after = self.limit.burst / self.limit.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}


def retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class RateLimits:
    def __init__(
        self,
        *,
        per_key: Limit,
        per_property: Limit,
        auth_failures: Limit,
        reports_per_property: Limit | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = Buckets(per_key, clock)
        # the collector's bucket: its measurement id is public, so anyone can empty it; reports
        # draw from their own, which a flood of collect requests never touches
        self.properties = Buckets(per_property, clock)
        self.reports = Buckets(reports_per_property or per_property, clock)
        self.auth_failures = Buckets(auth_failures, clock)
