"""The time footfall runs on: microseconds since the Unix epoch, from one injectable clock.

Everything that asks "what time is it" (the collector's ``received_at``, the report API's
``today`` and realtime window, retention, usage hours, key expiry) asks the :data:`Clock` the
:class:`~footfall.serve.Runtime` was given, so tests can run at a fixed instant and results do
not depend on when the suite runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from collections.abc import Callable
from importlib import resources
from zoneinfo import ZoneInfo

Clock = Callable[[], int]  # microseconds since the epoch
# the instants a time can be written in ISO 8601 without extended years: years 1 to 9999
EARLIEST_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
LATEST_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def system_clock() -> int:
    return time.time_ns() // 1000


class FixedClock:
    """A clock that stands still at ``start_us`` until moved (tests)."""

    def __init__(self, start_us: int) -> None:
        self._now = start_us
        self._lock = threading.Lock()

    def __call__(self) -> int:
        return self._now

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._now += round(seconds * 1_000_000)
            return self._now

    def set(self, now_us: int) -> None:
        with self._lock:
            self._now = now_us


def to_us(moment: dt.datetime) -> int:
    """An aware datetime as microseconds since the epoch (exact, no float rounding)."""
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def local_date(now_us: int, time_zone: str) -> dt.date:
    """The calendar date at ``now_us`` in ``time_zone``."""
    return (
        (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=now_us))
        .astimezone(ZoneInfo(time_zone))
        .date()
    )


@functools.cache
def _iana_zones() -> frozenset[str]:
    # the IANA names tzdata ships; zoneinfo alone also opens any file under the system's
    # zoneinfo directories (``localtime``, ``posixrules``), which are not time zone names
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone name (``Europe/Paris``, ``UTC``)."""
    return len(name) <= 64 and name in _iana_zones()


_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(value: str) -> dt.date | None:
    """A calendar day written ``YYYY-MM-DD`` (only that form: not ``20260518`` nor
    ``2026-W20-1``, which ``date.fromisoformat`` also takes), or None."""
    if not _DAY_RE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
