"""Usage per property per hour: requests, bytes, events accepted, rejected by reason, flagged,
rate limited. Counted in memory on the request path and added to the store every few seconds
(and at shutdown), so a crash loses at most that much of the statistics, never events."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from footfall.clock import system_clock
from footfall.store import UsageRow, UsageStore

HOUR_US = 3_600_000_000


class UsageMeter:
    def __init__(self, store: UsageStore, clock: Callable[[], int] | None = None) -> None:
        self.store = store
        self.clock = clock or system_clock
        self._counts: Counter[tuple[str, int, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, property_id: str, metric: str, value: int = 1) -> None:
        if not value:
            return
        hour = self.clock() // HOUR_US * HOUR_US
        with self._lock:
            self._counts[(property_id, hour, metric)] += value

    def flush(self) -> int:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        rows: list[UsageRow] = [(p, h, m, v) for (p, h, m), v in counts.items()]
        if rows:
            try:
                self.store.add_usage(rows)
            except Exception:
                with self._lock:  # keep them for the next flush
                    self._counts.update(counts)
                raise
        return len(rows)
