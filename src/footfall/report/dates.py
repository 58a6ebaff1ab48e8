"""GA4 date range values: ``YYYY-MM-DD``, ``today``, ``yesterday``, ``NdaysAgo``.

Every form meets the same floor, GA4's earliest date: a range cannot start before it, whichever
way it is written.
"""

from __future__ import annotations

import datetime as dt
import re

from footfall.clock import iso_day
from footfall.errors import invalid

DAYS_AGO_RE = re.compile(r"([0-9]+)daysAgo")
EARLIEST = dt.date(2015, 8, 14)  # GA4's earliest allowed date
MAX_DAYS_AGO_DIGITS = 6  # more than the days since EARLIEST for the next two thousand years


def resolve_date(value: str, today: dt.date, field: str) -> dt.date:
    if value == "today":
        day = today
    elif value == "yesterday":
        day = today - dt.timedelta(days=1)
    elif m := DAYS_AGO_RE.fullmatch(value):
        digits = m.group(1)
        if len(digits) > MAX_DAYS_AGO_DIGITS or (today - EARLIEST).days < int(digits):
            raise invalid(
                f"{field}: {value[:40]!r} is before the earliest allowed date {EARLIEST} "
                f"(at most {max(0, (today - EARLIEST).days)}daysAgo)"
            )
        day = today - dt.timedelta(days=int(digits))
    else:
        found = iso_day(value)
        if found is None:
            raise invalid(
                f"{field}: {value[:40]!r} is not a date; use YYYY-MM-DD, today, yesterday or NdaysAgo"
            )
        day = found
    if day < EARLIEST:
        raise invalid(f"{field}: {value[:40]} is before the earliest allowed date {EARLIEST}")
    return day
