"""The event contract as queued and stored (version 1).

``RawEvent`` is what the collector puts on the queue: the client's event exactly as received,
stamped with ``event_id``, ``received_at``, the client address and user agent. It is immutable
history; everything else is derived from it and can be rebuilt.

An app's event carries ``app_instance_id`` (never together with ``client_id``) and the
request's ``device`` object; both are optional fields added after version 1 was first stored,
so older payloads decode with them unset and the version stays 1.

``EnrichedEvent`` is what the processor stores for reports. It never holds the client address.
"""

from __future__ import annotations

import datetime as dt
import enum

import msgspec

from footfall.schema.wire import Device, ParamValue

SCHEMA_VERSION = 1


class Item(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One entry of an ecommerce event's ``items`` (GA4's item fields), plus up to
    ``rules.MAX_ITEM_PARAMS`` custom item parameters in ``params``."""

    item_id: str | None = None
    item_name: str | None = None
    affiliation: str | None = None
    coupon: str | None = None
    discount: str | None = None  # the amount's decimal text, exact
    index: int | None = None
    item_brand: str | None = None
    item_category: str | None = None
    item_category2: str | None = None
    item_category3: str | None = None
    item_category4: str | None = None
    item_category5: str | None = None
    item_list_id: str | None = None
    item_list_name: str | None = None
    item_variant: str | None = None
    location_id: str | None = None
    price: str | None = None  # the amount's decimal text, exact (money.to_micros reads it)
    quantity: int | None = None
    promotion_id: str | None = None
    promotion_name: str | None = None
    creative_name: str | None = None
    creative_slot: str | None = None
    params: dict[str, ParamValue] = {}


class UserLocation(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """GA4 Measurement Protocol's ``user_location``: where a server says its visitor is."""

    city: str | None = None
    region_id: str | None = None  # ISO 3166-2, e.g. US-CA
    country_id: str | None = None  # ISO 3166-1 alpha-2
    subcontinent_id: str | None = None  # UN M49, e.g. 021
    continent_id: str | None = None  # UN M49, e.g. 019


class RawEvent(msgspec.Struct, kw_only=True, frozen=True):
    property_id: str
    event_id: str
    name: str
    event_time: int  # microseconds since the epoch, UTC, as the client said (or received_at)
    received_at: int  # microseconds since the epoch, UTC, server clock
    params: dict[str, ParamValue] = {}
    client_id: str | None = None
    user_id: str | None = None
    ip: str = ""
    user_agent: str = ""
    accept_language: str = ""
    protocol: str = "native"
    flags: tuple[str, ...] = ()  # e.g. "foreign_hostname", set by the collector
    v: int = SCHEMA_VERSION
    # an app's events (GA4 Measurement Protocol for Firebase): the installation's id, which
    # counts as the visitor instead of client_id, and the device object of the request. Both
    # default to None, so raw events stored before apps decode unchanged.
    app_instance_id: str | None = None
    device: Device | None = None
    # added with the drop-in protocols, all optional so older payloads decode unchanged:
    # an ecommerce event's items; the visitor's user properties at the event (name -> value);
    # where a server says the visitor is; the consent the request carried
    # (ad_user_data/ad_personalization: GRANTED or DENIED) and non_personalized_ads
    items: tuple[Item, ...] | None = None
    user_properties: dict[str, ParamValue] | None = None
    user_location: UserLocation | None = None
    consent: dict[str, str] | None = None
    non_personalized_ads: bool | None = None
    # an event a protocol acknowledged but could not accept (GA4's /mp/collect answers 2xx
    # whatever it drops): queued all the same, with why, so the processor puts it in the dead
    # letters (DropReason.REJECTED) and it is never lost silently
    rejection: str | None = None


class EnrichedEvent(msgspec.Struct, kw_only=True):
    property_id: str
    event_id: str
    event_name: str
    event_time: int
    received_at: int
    event_date: dt.date  # in the property's time zone
    event_hour: int  # 0..23 in the property's time zone
    visitor_id: str = ""
    client_id: str | None = None
    user_id: str | None = None
    client_session_id: str | None = None
    session_key: str = ""
    page_location: str = ""
    page_host: str = ""
    page_path: str = ""
    page_title: str = ""
    page_referrer: str = ""
    source: str = "(direct)"
    medium: str = "(none)"
    campaign: str = "(direct)"
    campaign_id: str = ""
    term: str = ""
    content: str = ""
    click_id: str = ""
    click_id_type: str = ""
    channel_group: str = "Direct"
    country_id: str = ""  # ISO 3166-1 alpha-2; empty when unknown
    country: str = ""  # the country's English name
    device_category: str = "desktop"
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    language_code: str = ""  # lower-case BCP 47 tag, e.g. en-us
    language: str = ""  # the language's English name, e.g. English
    screen_resolution: str = ""
    engagement_time_ms: int = 0
    is_key_event: bool = False
    # the value parameter in integer micros of the property's currency (converted at the
    # exchange rate of event_date); None without a value, or without a rate for its currency
    value_micros: int | None = None
    currency: str = ""  # the currency the value was sent in (the property's when not given)
    flags: str = ""  # the raw event's flags and revenue_unconverted, comma-separated
    params: dict[str, str] = {}


class Session(msgspec.Struct, kw_only=True):
    property_id: str
    session_key: str
    visitor_id: str
    client_session_id: str | None
    start_time: int
    end_time: int
    event_count: int
    page_views: int
    engagement_ms: int
    key_events: int
    engaged: bool
    landing_page: str
    source: str
    medium: str
    campaign: str
    channel_group: str


class DropReason(enum.StrEnum):
    BOT = "bot"
    UNDECODABLE = "undecodable"
    UNKNOWN_PROPERTY = "unknown_property"
    INVALID = "invalid"
    REJECTED = "rejected"  # refused by the collector's rules, acknowledged all the same


class DeadLetter(msgspec.Struct, kw_only=True):
    property_id: str
    event_id: str
    reason: DropReason
    detail: str
    received_at: int
    payload: bytes  # the raw event as queued (msgpack)
