"""A property: one site or app whose events footfall collects and reports on."""

from __future__ import annotations

import msgspec

DEFAULT_KEY_EVENTS = ("purchase", "sign_up", "generate_lead")


class Property(msgspec.Struct, kw_only=True, frozen=True):
    property_id: str
    name: str
    measurement_id: str
    time_zone: str = "UTC"
    currency: str = "USD"
    key_events: tuple[str, ...] = DEFAULT_KEY_EVENTS
    created_at: int = 0  # microseconds since the epoch
