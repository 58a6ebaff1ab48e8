"""The bounded queue of events waiting to be sent, grouped into batches per envelope.

A batch is ready when one envelope has a full batch (by count or by bytes), when the oldest
queued event has waited ``flush_interval``, or at once while flushing. A full queue (by count or
by bytes) drops its oldest events to make room and says how many it dropped. Thread-safe: the
sync client's threads and ``track`` share one buffer under its lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from footfall.client.events import Envelope, Event, envelope_json

_EVENTS_KEY = b'"events":['  # then the events joined by commas, then "]}"


def request_overhead(envelope: Envelope) -> int:
    """Bytes of a request body besides its events and the commas between them."""
    env = envelope_json(envelope)
    return len(env) + (1 if env else 0) + len(_EVENTS_KEY) + 3  # "{" … "]}"


class Batch:
    """Events of one envelope that go in one request, always with the same ``event_id`` s."""

    __slots__ = ("envelope", "events")

    def __init__(self, envelope: Envelope, events: list[Event]) -> None:
        self.envelope = envelope
        self.events = events

    def body(self) -> bytes:
        env = envelope_json(self.envelope)
        head = b"{" + env + b"," if env else b"{"
        return head + _EVENTS_KEY + b",".join(e.json for e in self.events) + b"]}"

    def halves(self) -> tuple[Batch, Batch]:
        mid = len(self.events) // 2
        return Batch(self.envelope, self.events[:mid]), Batch(self.envelope, self.events[mid:])

    def __len__(self) -> int:
        return len(self.events)


class _Item:
    __slots__ = ("at", "envelope", "event", "live")

    def __init__(self, envelope: Envelope, event: Event, at: float) -> None:
        self.envelope, self.event, self.at, self.live = envelope, event, at, True


class _Group:
    __slots__ = ("items", "n", "overhead", "size")

    def __init__(self, envelope: Envelope) -> None:
        self.items: deque[_Item] = deque()
        self.n = 0
        self.size = 0  # bytes of the live events' JSON
        self.overhead = request_overhead(envelope)


class Buffer:
    def __init__(
        self,
        *,
        max_events: int,
        max_bytes: int,
        batch_events: int,
        batch_bytes: int,
        flush_interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.max_events, self.max_bytes = max_events, max_bytes
        self.batch_events, self.batch_bytes = batch_events, batch_bytes
        self.flush_interval = flush_interval
        self.clock = clock
        self.lock = threading.Lock()
        self._order: deque[_Item] = deque()  # every queued item, oldest first (dead ones too)
        self._groups: dict[Envelope, _Group] = {}
        self._full: dict[Envelope, None] = {}  # envelopes with a full batch, in order
        self._count = 0
        self._bytes = 0

    def __len__(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        """Bytes of the queued events' JSON."""
        return self._bytes

    def fits(self, envelope: Envelope, event: Event) -> bool:
        """Whether the event fits in a request of its own (else it can never be sent)."""
        return request_overhead(envelope) + len(event.json) <= self.batch_bytes

    def put(self, envelope: Envelope, event: Event) -> tuple[int, bool]:
        """Queue the event. Returns how many of the oldest events were dropped to make room,
        and whether a sender waiting for events should wake: the queue was empty, or the
        envelope's batch is now full (else its wait for the oldest event's age still holds)."""
        size = len(event.json)
        with self.lock:
            was_empty = not self._count
            dropped = 0
            while self._count and (
                self._count + 1 > self.max_events or self._bytes + size > self.max_bytes
            ):
                self._drop_oldest()
                dropped += 1
            item = _Item(envelope, event, self.clock())
            self._order.append(item)
            group = self._groups.get(envelope)
            if group is None:
                group = self._groups[envelope] = _Group(envelope)
            group.items.append(item)
            self._add(group, item, +1)
            self._compact()
            return dropped, was_empty or envelope in self._full

    def requeue(self, batch: Batch) -> None:
        """Put a batch that was not delivered back, ready to go first (no bound applies: its
        events were counted in the queue's bounds when they were tracked)."""
        with self.lock:
            group = self._groups.get(batch.envelope)
            if group is None:
                group = self._groups[batch.envelope] = _Group(batch.envelope)
            for event in reversed(batch.events):
                item = _Item(batch.envelope, event, float("-inf"))
                self._order.appendleft(item)
                group.items.appendleft(item)
                self._add(group, item, +1)
            self._full[batch.envelope] = None

    def wait_time(self, *, flushing: bool = False) -> float | None:
        """Seconds until a batch is ready: 0 if one is now, None while the queue is empty."""
        with self.lock:
            if not self._count:
                return None
            if self._full or flushing:
                return 0.0
            oldest = self._oldest()
            return max(0.0, oldest.at + self.flush_interval - self.clock())

    def take(self, *, flushing: bool = False) -> Batch | None:
        """The next ready batch, or None."""
        with self.lock:
            if not self._count:
                return None
            if self._full:
                envelope = next(iter(self._full))
            else:
                oldest = self._oldest()
                if not flushing and self.clock() < oldest.at + self.flush_interval:
                    return None
                envelope = oldest.envelope
            return self._batch(envelope)

    def drain(self) -> list[Event]:
        """Empty the queue, returning what it held."""
        with self.lock:
            events = [item.event for item in self._order if item.live]
            self._order.clear()
            self._groups.clear()
            self._full.clear()
            self._count = self._bytes = 0
            return events

    # -- under the lock ------------------------------------------------------------------

    def _oldest(self) -> _Item:
        while not self._order[0].live:
            self._order.popleft()
        return self._order[0]

    def _add(self, group: _Group, item: _Item, sign: int) -> None:
        size = len(item.event.json)
        group.n += sign
        group.size += sign * size
        self._count += sign
        self._bytes += sign * size
        envelope = item.envelope
        commas = max(0, group.n - 1)
        if group.n >= self.batch_events or group.overhead + group.size + commas >= self.batch_bytes:
            self._full[envelope] = None
        else:
            self._full.pop(envelope, None)
        if not group.n:
            del self._groups[envelope]

    def _kill(self, group: _Group, item: _Item) -> None:
        item.live = False
        self._add(group, item, -1)

    def _drop_oldest(self) -> None:
        item = self._oldest()
        self._order.popleft()
        self._kill(self._groups[item.envelope], item)

    def _batch(self, envelope: Envelope) -> Batch:
        group = self._groups[envelope]
        room = self.batch_bytes - group.overhead
        events: list[Event] = []
        while group.items and len(events) < self.batch_events:
            item = group.items[0]
            if not item.live:
                group.items.popleft()
                continue
            cost = len(item.event.json) + (1 if events else 0)
            if events and cost > room:
                break
            room -= cost
            group.items.popleft()
            events.append(item.event)
            self._kill(group, item)  # may delete the group once it is empty
        return Batch(envelope, events)

    def _compact(self) -> None:
        """Forget dead items once they outnumber the live ones, so memory follows the bound."""
        if len(self._order) <= 2 * self._count + 64:
            return
        self._order = deque(item for item in self._order if item.live)
        for group in self._groups.values():
            group.items = deque(item for item in group.items if item.live)
