"""What clients send to ``POST /v1/collect``: a GA4 Measurement Protocol body plus ``event_id``.

The envelope is decoded first with each event kept as raw JSON, so one bad event is rejected
on its own while the good ones in the same request are accepted.
"""

from __future__ import annotations

import msgspec

# GA4 accepts string, integer, float and boolean parameter values.
ParamValue = str | int | float | bool


class WireEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    params: dict[str, ParamValue] = {}
    # footfall additions: a client-chosen id that makes retries idempotent, and the event's own
    # time (GA4's request-level ``timestamp_micros`` applies when this is absent)
    event_id: str | None = None
    timestamp_micros: int | None = None


class Device(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """GA4 Measurement Protocol's ``device`` object: what an app (or a server sending on a
    browser's behalf) says about the device, instead of a browser user agent. ``app_version`` is
    a footfall extension. Stored with the raw event, so unknown fields are ignored when read
    back; the collector decodes :class:`WireDevice`, which refuses them."""

    category: str | None = None
    language: str | None = None
    screen_resolution: str | None = None
    operating_system: str | None = None
    operating_system_version: str | None = None
    model: str | None = None
    brand: str | None = None
    browser: str | None = None
    browser_version: str | None = None
    app_version: str | None = None


class WireDevice(Device, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The ``device`` object as a client sends it: an unknown field is a 400."""


class CollectEnvelope(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    events: list[msgspec.Raw]
    client_id: str | None = None
    # GA4 Measurement Protocol for Firebase: the app installation's id, in place of client_id
    app_instance_id: str | None = None
    user_id: str | None = None
    measurement_id: str | None = None
    timestamp_micros: int | None = None
    # GA4 Measurement Protocol device fields for server-side senders: the visitor's browser and
    # address, used instead of the sending server's own User-Agent header and address
    user_agent: str | None = None
    ip_override: str | None = None
    device: WireDevice | None = None
    # accepted for GA4 compatibility; not stored yet
    user_properties: dict[str, msgspec.Raw] | None = None
    non_personalized_ads: bool | None = None
    consent: dict[str, str] | None = None


class CollectRequest(CollectEnvelope, kw_only=True, forbid_unknown_fields=True):
    """The collect request as documented (OpenAPI): the envelope with its events spelled out.
    The collector decodes :class:`CollectEnvelope`, so one bad event is rejected alone."""

    events: list[WireEvent]  # type: ignore[assignment]  # the documented shape of each raw event


class EventResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    status: str  # "accepted" | "rejected"
    event_id: str | None = None
    reason: str | None = None
    message: str | None = None


class CollectResponse(msgspec.Struct, kw_only=True):
    accepted: int
    rejected: int
    events: list[EventResult]
