"""Re-processing: rebuild a property's derived data from its raw events.

Enriched events, sessions, visitors and dead letters are deleted and recomputed from the raw
events as received. Sessions depend only on the set of events, cookieless salts are kept for
the raw retention window, so within that window the result is the same every time. Raw events
older than the window have lost their client address: they re-process without a country and,
without a client_id, with a different visitor id.
"""

from __future__ import annotations

import msgspec

from footfall.process.processor import Processor
from footfall.schema.events import RawEvent
from footfall.store import EventStore, RawHistory


def reprocess(
    property_id: str,
    history: RawHistory,
    store: EventStore,
    processor: Processor,
    *,
    batch_size: int = 2000,
) -> int:
    """Run after ``Worker.submit`` so nothing else writes meanwhile; returns raw events read."""
    decoder = msgspec.msgpack.Decoder(RawEvent)
    encoder = msgspec.msgpack.Encoder()
    history.reset_derived(property_id)
    after: tuple[int, str] | None = None
    total = 0
    while page := history.raw_page(property_id, after, batch_size):
        messages = [
            encoder.encode(msgspec.structs.replace(decoder.decode(row.payload), ip=row.ip or ""))
            for row in page
        ]
        writes, _stats = processor.process(messages)
        writes.raw = []  # already stored, unchanged
        store.write(writes)
        after = (page[-1].received_at, page[-1].event_id)
        total += len(page)
    return total
