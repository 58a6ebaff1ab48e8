"""Contract rules for one event: names, parameter values and times.

Limits follow GA4's Measurement Protocol: names up to 40 characters that start with a letter,
parameter values up to 100 characters (page_location 1000, page_referrer 420, page_title 300).
Each rule failure is a :class:`Rejection` with a stable ``reason`` code and a readable message.
"""

from __future__ import annotations

import math
import re

import msgspec

from footfall.schema import money
from footfall.schema.wire import ParamValue, WireEvent

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
EVENT_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
# the screen parameters GA4 Measurement Protocol for Firebase sends: exceptions to the reserved
# firebase_ prefix (for parameter names only, and spelled exactly so)
FIREBASE_PARAMS = frozenset({"firebase_screen", "firebase_screen_class"})
LONG_VALUES = {"page_location": 1000, "page_referrer": 420, "page_title": 300}
MAX_VALUE_CHARS = 100
MAX_CLIENT_ID_CHARS = 128
MAX_USER_ID_CHARS = 256
MAX_USER_AGENT_CHARS = 512
MAX_DEVICE_CHARS = 100  # each field of the request's device object
INT64 = range(-(2**63), 2**63)  # integers are stored as 64-bit values


class Rejection(msgspec.Struct, frozen=True):
    reason: str
    message: str


def check_name(kind: str, name: str) -> Rejection | None:
    if not NAME_RE.fullmatch(name):
        return Rejection(
            f"invalid_{kind}_name",
            f"{kind} name {name[:60]!r} must start with a letter, use only letters, digits and "
            "underscores, and be at most 40 characters",
        )
    if name.lower().startswith(RESERVED_PREFIXES) and not (
        kind == "param" and name in FIREBASE_PARAMS
    ):
        return Rejection(f"reserved_{kind}_name", f"{kind} name {name!r} uses a reserved prefix")
    return None


def check_value(name: str, value: ParamValue) -> Rejection | None:
    if isinstance(value, str):
        limit = LONG_VALUES.get(name, MAX_VALUE_CHARS)
        if len(value) > limit:
            return Rejection(
                "param_value_too_long",
                f"params.{name} is {len(value)} characters; the limit is {limit}",
            )
    elif isinstance(value, float) and not math.isfinite(value):
        return Rejection("invalid_param_value", f"params.{name} must be a finite number")
    elif isinstance(value, int) and value not in INT64:
        return Rejection(
            "invalid_param_value", f"params.{name} is outside the 64-bit integer range"
        )
    return None


def check_money(params: dict[str, ParamValue]) -> Rejection | None:
    """``value`` is a finite amount below a trillion; ``currency`` a three-letter code."""
    if "value" in params:
        number = money.decimal_of(params["value"])
        if number is None:
            return Rejection(
                "invalid_param_value", "params.value must be a number or a numeric string"
            )
        if abs(number) >= money.MAX_AMOUNT:
            return Rejection("invalid_param_value", "params.value must be below 10^12 in size")
    if "currency" in params and money.currency_code(params["currency"]) is None:
        return Rejection(
            "invalid_currency", "params.currency must be a three-letter ISO 4217 code such as USD"
        )
    return None


def check_event(event: WireEvent) -> Rejection | None:
    """Everything about one event that does not depend on time or on the request."""
    if problem := check_name("event", event.name):
        return problem
    if event.event_id is not None and not EVENT_ID_RE.fullmatch(event.event_id):
        return Rejection(
            "invalid_event_id",
            "event_id must be 1 to 64 characters of letters, digits and _ . : -",
        )
    for name, value in event.params.items():
        if problem := check_name("param", name):
            return problem
        if problem := check_value(name, value):
            return problem
    return check_money(event.params)


def check_time(
    event_time: int, now: int, *, max_age_us: int, max_future_us: int
) -> Rejection | None:
    if event_time < now - max_age_us:
        return Rejection(
            "event_too_old",
            f"event time is more than {max_age_us // 3_600_000_000} hours in the past "
            "(sending history needs an admin token)",
        )
    if event_time > now + max_future_us:
        return Rejection(
            "event_in_future",
            f"event time is more than {max_future_us // 60_000_000} minutes in the future",
        )
    return None
