"""GA4 date range values: ``YYYY-MM-DD``, ``today``, ``yesterday``, ``NdaysAgo``."""

from __future__ import annotations

import datetime as dt
import re

from footfall.errors import invalid

DAYS_AGO_RE = re.compile(r"(\d{1,4})daysAgo")
EARLIEST = dt.date(2015, 8, 14)  # GA4's earliest allowed date


def resolve_date(value: str, today: dt.date, field: str) -> dt.date:
    if value == "today":
        return today
    if value == "yesterday":
        return today - dt.timedelta(days=1)
    if m := DAYS_AGO_RE.fullmatch(value):
        return today - dt.timedelta(days=int(m.group(1)))
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(
            f"{field}: {value[:40]!r} is not a date; use YYYY-MM-DD, today, yesterday or NdaysAgo"
        ) from None
    if day < EARLIEST:
        raise invalid(f"{field}: {value} is before the earliest allowed date {EARLIEST}")
    return day
