"""What a pipeline step works on: the raw event, its property, and the enriched event so far."""

from __future__ import annotations

import msgspec

from footfall.property import Property
from footfall.schema.events import DropReason, EnrichedEvent, RawEvent


class Draft:
    __slots__ = ("event", "prop", "raw")

    def __init__(self, raw: RawEvent, prop: Property, event: EnrichedEvent) -> None:
        self.raw = raw
        self.prop = prop
        self.event = event


class Drop(msgspec.Struct, frozen=True):
    reason: DropReason
    detail: str
