"""Event fields: engagement, key events, session id, custom params, local date and hour.

The free params map also gets what an app says that has no column of its own: the screen
class (``firebase_screen_class`` is kept as ``screen_class``) and, from the request's device
object, ``device_model``, ``device_brand`` and ``app_version``; an event's own parameter of
that name wins.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from zoneinfo import ZoneInfo

from footfall.process.draft import Draft, Drop
from footfall.process.page import title_param
from footfall.schema.events import RawEvent
from footfall.schema.wire import ParamValue

# params that have their own columns and are not repeated in the free params map
COLUMN_PARAMS = frozenset({"page_location", "page_referrer", "page_title"})
MAX_ENGAGEMENT_MS = 24 * 3_600_000


def _number(value: ParamValue | None) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def param_text(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def put_event_fields(d: Draft) -> Drop | None:
    params = d.raw.params
    ev = d.event
    engagement = _number(params.get("engagement_time_msec"))
    ev.engagement_time_ms = min(MAX_ENGAGEMENT_MS, max(0, int(engagement))) if engagement else 0
    session_id = params.get("session_id")
    ev.client_session_id = param_text(session_id) if session_id not in (None, "") else None
    ev.is_key_event = ev.event_name in d.prop.key_events
    ev.flags = ",".join(d.raw.flags)
    ev.params = free_params(d.raw)
    return None


def free_params(raw: RawEvent) -> dict[str, str]:
    """Every parameter without a column of its own, as text, with the app's names added."""
    params = raw.params
    title = title_param(params)
    free = {k: param_text(v) for k, v in params.items() if k not in COLUMN_PARAMS and k != title}
    screen_class = free.pop("firebase_screen_class", None)
    if screen_class is not None:
        free.setdefault("screen_class", screen_class)
    device = raw.device
    if device is not None:
        for name, value in (
            ("device_model", device.model),
            ("device_brand", device.brand),
            ("app_version", device.app_version),
        ):
            if value:
                free.setdefault(name, value)
    return free


@functools.lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def put_local_time(d: Draft) -> Drop | None:
    local = dt.datetime.fromtimestamp(d.event.event_time / 1e6, zone(d.prop.time_zone))
    d.event.event_date = local.date()
    d.event.event_hour = local.hour
    return None
