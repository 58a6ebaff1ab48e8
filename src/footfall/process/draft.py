"""What a pipeline step works on: the raw event, its property, and the enriched event so far."""

from __future__ import annotations

import datetime as dt

import msgspec

from footfall.schema.events import DropReason, EnrichedEvent, RawEvent
from footfall.tenancy.model import Property


class Draft:
    __slots__ = ("event", "prop", "raw")

    def __init__(self, raw: RawEvent, prop: Property, event: EnrichedEvent) -> None:
        self.raw = raw
        self.prop = prop
        self.event = event


def start_draft(raw: RawEvent, prop: Property) -> Draft:
    """A draft whose enriched event has only what the raw event says; steps fill the rest."""
    event = EnrichedEvent(
        property_id=raw.property_id,
        event_id=raw.event_id,
        event_name=raw.name,
        event_time=raw.event_time,
        received_at=raw.received_at,
        event_date=dt.date(1970, 1, 1),  # put_local_time sets date and hour
        event_hour=0,
        client_id=raw.client_id,
        user_id=raw.user_id,
    )
    return Draft(raw, prop, event)


class Drop(msgspec.Struct, frozen=True):
    reason: DropReason
    detail: str
