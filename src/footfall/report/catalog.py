"""Every dimension and metric a report may name, with GA4's names and definitions.

A name that is not here is refused before any query is built; stores map these names to their
own columns (and a test checks that every store knows every name).
"""

from __future__ import annotations

import re

import msgspec

CUSTOM_EVENT_PREFIX = "customEvent:"
PARAM_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


class DimensionDef(msgspec.Struct, frozen=True):
    name: str
    description: str
    numeric: bool = False  # values sort and compare as numbers


class MetricDef(msgspec.Struct, frozen=True):
    name: str
    type: str  # GA4 MetricType: TYPE_INTEGER, TYPE_FLOAT, TYPE_SECONDS, TYPE_CURRENCY
    description: str
    # currency metrics: a sum of money measures, as (measure, +1 or -1) terms
    money: tuple[tuple[str, int], ...] = ()


# GA4's ecommerce events. Purchase revenue sums the value of these events (GA4 counts the app
# stores' subscription conversions and renewals as purchases too); refunds subtract.
PURCHASE_EVENTS = (
    "purchase",
    "ecommerce_purchase",
    "in_app_purchase",
    "app_store_subscription_convert",
    "app_store_subscription_renew",
)
REFUND_EVENTS = ("refund", "app_store_refund")
# money measures: the sum of the events' value, in integer micros of the property's currency,
# over the events of these names. Every engine (report SQL, rollup cells, Spark SQL) sums
# these and derives the currency metrics from the ``money`` terms below.
MONEY_MEASURES: dict[str, tuple[str, ...]] = {
    "purchase": PURCHASE_EVENTS,
    "refund": REFUND_EVENTS,
}


_DIMENSIONS = [
    DimensionDef("date", "Date of the event, YYYYMMDD, in the property's time zone", numeric=True),
    DimensionDef("dateHour", "Date and hour of the event, YYYYMMDDHH", numeric=True),
    DimensionDef("hour", "Hour of the day of the event, 00-23", numeric=True),
    DimensionDef("pagePath", "Path of the page (no query string)"),
    DimensionDef("pageTitle", "Title of the page"),
    DimensionDef("unifiedScreenName", "Page title (web) or screen name (app)"),
    DimensionDef("pageLocation", "Full URL of the page"),
    DimensionDef("pageReferrer", "Referring URL of the event"),
    DimensionDef("hostName", "Host name of the page"),
    DimensionDef("landingPage", "Path of the first page viewed in the session"),
    DimensionDef("eventName", "Name of the event"),
    DimensionDef("sessionSource", "Source that started the session"),
    DimensionDef("sessionMedium", "Medium that started the session"),
    DimensionDef("sessionSourceMedium", "Session source and medium, 'source / medium'"),
    DimensionDef("sessionCampaignName", "Campaign that started the session"),
    DimensionDef("sessionDefaultChannelGroup", "GA4 default channel group of the session"),
    DimensionDef("country", "Country of the visitor (English name)"),
    DimensionDef("countryId", "Country of the visitor (ISO 3166-1 alpha-2)"),
    DimensionDef("deviceCategory", "desktop, mobile or tablet"),
    DimensionDef("browser", "Browser family"),
    DimensionDef("operatingSystem", "Operating system family"),
    DimensionDef("operatingSystemVersion", "Version of the operating system"),
    DimensionDef("operatingSystemWithVersion", "Operating system and its version, e.g. 'iOS 17.1'"),
    DimensionDef("language", "Language of the browser (English name)"),
    DimensionDef("languageCode", "Language of the browser (BCP 47 tag)"),
    DimensionDef("screenResolution", "Screen resolution, WIDTHxHEIGHT"),
]

_METRICS = [
    MetricDef(
        "activeUsers",
        "TYPE_INTEGER",
        "Distinct users with an engaged session, a first visit or engagement time",
    ),
    MetricDef("totalUsers", "TYPE_INTEGER", "Distinct users who logged any event"),
    MetricDef("newUsers", "TYPE_INTEGER", "Distinct users whose first event is in the row"),
    MetricDef("sessions", "TYPE_INTEGER", "Distinct sessions with an event in the row"),
    MetricDef(
        "engagedSessions",
        "TYPE_INTEGER",
        "Sessions longer than 10 s of engagement, with a key event, or with 2+ page views",
    ),
    MetricDef("engagementRate", "TYPE_FLOAT", "engagedSessions / sessions"),
    MetricDef("bounceRate", "TYPE_FLOAT", "1 - engagementRate: sessions that were not engaged"),
    MetricDef(
        "averageSessionDuration",
        "TYPE_SECONDS",
        "Mean of (last event time - first event time) over the row's sessions",
    ),
    MetricDef("screenPageViews", "TYPE_INTEGER", "page_view and screen_view events"),
    MetricDef("screenPageViewsPerSession", "TYPE_FLOAT", "screenPageViews / sessions"),
    MetricDef("eventCount", "TYPE_INTEGER", "Events"),
    MetricDef("eventsPerSession", "TYPE_FLOAT", "eventCount / sessions"),
    MetricDef("sessionsPerUser", "TYPE_FLOAT", "sessions / totalUsers"),
    MetricDef("userEngagementDuration", "TYPE_SECONDS", "Sum of engagement_time_msec, in seconds"),
    MetricDef("keyEvents", "TYPE_INTEGER", "Events whose name is one of the property's key events"),
    MetricDef(
        "totalRevenue",
        "TYPE_CURRENCY",
        "Purchase revenue minus refunds (footfall receives no ad revenue)",
        money=(("purchase", 1), ("refund", -1)),
    ),
    MetricDef(
        "purchaseRevenue",
        "TYPE_CURRENCY",
        "Value of purchase, in_app_purchase and app store subscription events, minus refunds",
        money=(("purchase", 1), ("refund", -1)),
    ),
    MetricDef(
        "grossPurchaseRevenue",
        "TYPE_CURRENCY",
        "Value of purchase, in_app_purchase and app store subscription events, before refunds",
        money=(("purchase", 1),),
    ),
    MetricDef(
        "refundAmount",
        "TYPE_CURRENCY",
        "Value of refund and app_store_refund events",
        money=(("refund", 1),),
    ),
]

DIMENSIONS: dict[str, DimensionDef] = {d.name: d for d in _DIMENSIONS}
METRICS: dict[str, MetricDef] = {m.name: m for m in _METRICS}
CURRENCY_METRICS = frozenset(m.name for m in _METRICS if m.type == "TYPE_CURRENCY")


def custom_param(name: str) -> str | None:
    """The event parameter behind ``customEvent:<param>``, or None for any other name."""
    if not name.startswith(CUSTOM_EVENT_PREFIX):
        return None
    param = name[len(CUSTOM_EVENT_PREFIX) :]
    return param if PARAM_NAME_RE.fullmatch(param) else None


def is_dimension(name: str) -> bool:
    return name in DIMENSIONS or custom_param(name) is not None or name == "dateRange"


def is_numeric_dimension(name: str) -> bool:
    d = DIMENSIONS.get(name)
    return d is not None and d.numeric
