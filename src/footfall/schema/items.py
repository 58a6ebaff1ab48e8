"""Contract rules for what an event carries beside its parameters: items and user properties.

Every protocol that sends them maps its wire shape onto plain values and calls these, so an
item or a user property is checked the same way whether it came over the native protocol, the
GA4 Measurement Protocol, gtag.js or Segment. Limits follow GA4: 200 items per event, each with
up to 10 custom parameters beside GA4's item fields; 25 user properties per request, names up to
24 characters and values up to 36.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from footfall.schema import money
from footfall.schema.events import Item
from footfall.schema.rules import INT64, MAX_VALUE_CHARS, Rejection, check_name, check_value
from footfall.schema.wire import ParamValue

MAX_ITEMS = 200
MAX_ITEM_PARAMS = 10  # custom parameters per item, beside GA4's item fields
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME_CHARS = 24
MAX_USER_PROPERTY_VALUE_CHARS = 36
USER_PROPERTY_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,23}")
RESERVED_USER_PROPERTIES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id"}
)
# GA4's item fields by kind; every other key of an item is a custom item parameter
ITEM_TEXT_FIELDS = frozenset(
    f.name
    for f in msgspec.structs.fields(Item)
    if f.name not in ("discount", "index", "price", "quantity", "params")
)
ITEM_MONEY_FIELDS = frozenset({"price", "discount"})
ITEM_INT_FIELDS = frozenset({"index", "quantity"})


class _Refused(Exception):
    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection


def check_items(items: object, *, at: str = "items") -> tuple[tuple[Item, ...], Rejection | None]:
    """A wire ``items`` list as :class:`Item` values, or the first problem (``at`` names where
    the list was, for the message). GA4 requires ``item_id`` or ``item_name`` in each item."""
    if not isinstance(items, list):
        return (), Rejection("invalid_items", f"{at} must be a list of objects")
    if len(items) > MAX_ITEMS:
        return (), Rejection(
            "too_many_items", f"{at} has {len(items)} items; the limit is {MAX_ITEMS} per event"
        )
    try:
        return tuple(_item(raw, at=f"{at}[{i}]") for i, raw in enumerate(items)), None
    except _Refused as refused:
        return (), refused.rejection


def _item(raw: object, *, at: str) -> Item:
    if not isinstance(raw, Mapping):
        raise _Refused(Rejection("invalid_items", f"{at} must be an object"))
    fields: dict[str, Any] = {}
    params: dict[str, ParamValue] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise _Refused(Rejection("invalid_items", f"{at} has a key that is not text"))
        if key in ITEM_TEXT_FIELDS:
            fields[key] = _item_text(value, at=f"{at}.{key}")
        elif key in ITEM_MONEY_FIELDS:
            if value is not None:
                fields[key] = _item_amount(value, at=f"{at}.{key}")
        elif key in ITEM_INT_FIELDS:
            number = _integer(value)
            if number is None:
                raise _Refused(Rejection("invalid_item_value", f"{at}.{key} must be an integer"))
            fields[key] = number
        else:
            params[key] = _item_param(key, value, at=at)
    if len(params) > MAX_ITEM_PARAMS:
        raise _Refused(
            Rejection(
                "too_many_item_params",
                f"{at} has {len(params)} custom parameters; the limit is {MAX_ITEM_PARAMS} per "
                "item",
            )
        )
    if not fields.get("item_id") and not fields.get("item_name"):
        raise _Refused(Rejection("item_without_id", f"{at} needs item_id or item_name"))
    return Item(**fields, params=params)


def _item_text(value: object, *, at: str) -> str:
    text = _text(value)
    if text is None or len(text) > MAX_VALUE_CHARS:
        raise _Refused(
            Rejection(
                "invalid_item_value",
                f"{at} must be text or a number of at most {MAX_VALUE_CHARS} characters",
            )
        )
    return text


def _item_amount(value: object, *, at: str) -> str:
    number = money.decimal_of(value) if isinstance(value, str | int | float) else None
    if number is None or abs(number) >= money.MAX_AMOUNT:
        raise _Refused(
            Rejection("invalid_item_value", f"{at} must be a number below 10^12 in size")
        )
    return value.strip() if isinstance(value, str) else _number_text(value)  # type: ignore[arg-type]


def _item_param(key: str, value: object, *, at: str) -> ParamValue:
    if problem := check_name("param", key):
        raise _Refused(Rejection(problem.reason, f"{at}: {problem.message}"))
    if not isinstance(value, str | int | float):
        raise _Refused(
            Rejection("invalid_item_value", f"{at}.{key} must be text, a number or a boolean")
        )
    if problem := check_value(key, value):
        raise _Refused(Rejection(problem.reason, f"{at}: {problem.message}"))
    return value


def check_user_properties(
    values: Mapping[str, object],
) -> tuple[dict[str, ParamValue], Rejection | None]:
    """User properties as plain ``name -> value`` (each protocol unwraps its own shape first:
    GA4's ``{"name": {"value": v}}``, gtag's ``up.name``, Segment's ``traits``). A ``None`` value
    is dropped (GA4 clears the property); anything else not text or a number is refused."""
    if len(values) > MAX_USER_PROPERTIES:
        return {}, Rejection(
            "too_many_user_properties",
            f"user_properties has {len(values)} entries; the limit is {MAX_USER_PROPERTIES}",
        )
    out: dict[str, ParamValue] = {}
    for name, value in values.items():
        if problem := check_user_property(name, value):
            return {}, problem
        if value is not None:
            out[name] = value  # type: ignore[assignment]  # checked above
    return out, None


def check_user_property(name: str, value: object) -> Rejection | None:
    """One user property's name and value (``None`` clears it, and is allowed)."""
    if not USER_PROPERTY_NAME_RE.fullmatch(name) or name.lower().startswith(
        ("_", "firebase_", "ga_", "google_")
    ):
        return Rejection(
            "invalid_user_property_name",
            f"user property name {name[:40]!r} must start with a letter, use only letters, "
            f"digits and underscores, be at most {MAX_USER_PROPERTY_NAME_CHARS} characters "
            "and not use a reserved prefix",
        )
    if name in RESERVED_USER_PROPERTIES:
        return Rejection("reserved_user_property_name", f"user property name {name!r} is reserved")
    return None if value is None else _user_property_value(name, value)


def _user_property_value(name: str, value: object) -> Rejection | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return Rejection(
            "invalid_user_property_value", f"user_properties.{name} must be text or a number"
        )
    if isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE_CHARS:
        return Rejection(
            "user_property_value_too_long",
            f"user_properties.{name} is {len(value)} characters; the limit is "
            f"{MAX_USER_PROPERTY_VALUE_CHARS}",
        )
    if (isinstance(value, float) and not math.isfinite(value)) or (
        isinstance(value, int) and value not in INT64
    ):
        return Rejection("invalid_user_property_value", f"user_properties.{name} is out of range")
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and (not isinstance(value, float) or math.isfinite(value)):
        return _number_text(value)
    return None


def _number_text(value: int | float) -> str:
    # a float's shortest round-trip text is the JSON number it was decoded from (to 15 digits)
    return str(value) if isinstance(value, int) else repr(value)


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in INT64 else None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
        return number if number in INT64 else None
    return None
