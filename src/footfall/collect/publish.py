"""The one way every ingestion protocol hands events on: to the queue, durably, counted.

A protocol module parses its wire shape and builds :class:`RawEvent` values; its routes then
call :meth:`Publish.send`, which checks the store still has room, publishes the events with the
settings' timeout (the request is answered only after the queue says they are durable), and
counts what was accepted, rejected and flagged in the property's usage and the metrics.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence

import msgspec

from footfall.clock import Clock, system_clock
from footfall.errors import ApiError
from footfall.gateway.access import Gateway
from footfall.gateway.ingest import Ingest
from footfall.queue import Publisher, QueueUnavailable
from footfall.schema.events import RawEvent
from footfall.settings import Settings
from footfall.store.disk import DiskSpace

_raw_encoder = msgspec.msgpack.Encoder()


class Publish:
    """What the collector's routes share: settings, gateway (and its admission path), the
    queue, the clock and the disk check. One per process, handed to each protocol's routes."""

    def __init__(
        self,
        settings: Settings,
        gateway: Gateway,
        publisher: Publisher,
        clock: Clock = system_clock,
        *,
        disk: DiskSpace | None = None,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.publisher = publisher
        self.clock = clock
        self.disk = disk
        self.ingest = Ingest(gateway)

    async def send(self, events: Sequence[RawEvent], *, key: str) -> None:
        """Queue ``events`` (partitioned by ``key``: the visitor's id, else the address) and
        return once they are durable; 507 when the store is full, 503 when the queue is not
        there. Events carrying a ``rejection`` are queued too, for the dead letters."""
        if not events:
            return
        if self.disk is not None:
            self.disk.admit()  # what is accepted must still fit in the store
        key_bytes = key.encode()
        messages = [(key_bytes, _raw_encoder.encode(ev)) for ev in events]
        try:
            await asyncio.wait_for(
                self.publisher.publish(messages), timeout=self.settings.publish_timeout
            )
        except (QueueUnavailable, TimeoutError):
            raise ApiError(503, "the queue is unavailable; retry later") from None

    def count(
        self,
        property_id: str,
        *,
        accepted: int,
        rejected: Iterable[str] = (),
        flags: Iterable[tuple[str, ...]] = (),
    ) -> None:
        """Usage and metrics for one request: accepted events, each rejected event's reason
        code, and each accepted event's flags."""
        usage, metrics = self.gateway.usage, self.gateway.metrics
        usage.add(property_id, "events_accepted", accepted)
        metrics.accepted.inc(accepted)
        for reason, n in Counter(rejected).items():
            usage.add(property_id, f"events_rejected:{reason}", n)
            metrics.rejected.labels(reason).inc(n)
        for flag, n in Counter(f for fs in flags for f in fs).items():
            usage.add(property_id, f"events_flagged:{flag}", n)
            metrics.flagged.labels(flag).inc(n)
