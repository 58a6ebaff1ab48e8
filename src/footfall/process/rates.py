"""Exchange rates: loaded by the operator, stored, and used to convert revenue.

Rates are quoted against one base currency for the whole server (the first load sets it): a
rate of ``0.92`` for EUR on 2026-05-18 says that one unit of the base bought 0.92 EUR that day.
An amount in currency S is converted to currency T on a day as ``amount * rate(T) / rate(S)``
(the base's own rate is 1), with the rates of the latest day on or before it that has one, in
exact rational arithmetic, rounded once to integer micros, half to even. There is no rate
before a currency's first day.

Rates live in the store (:class:`~footfall.store.RateStore`), never fetched from anywhere, so
re-processing with the same rates gives the same revenue. Every process keeps them in memory
and reloads them when the store's change stamp moves (checked every few seconds).
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

import msgspec

from footfall.clock import iso_day
from footfall.errors import ApiError
from footfall.schema import money
from footfall.store import MetaStore, RateRow, RateStore

BASE_KEY = "exchange_rates:base"
STAMP_KEY = "exchange_rates:changed"
MAX_RATES_PER_LOAD = 100_000
MAX_RATE = Decimal(10) ** 9
MAX_FACTORS = 100_000  # conversion factors kept (one per currency pair and day seen)
MAX_RATE_CHARS = 40
REFRESH_SECONDS = 5.0
EARLIEST_DAY = dt.date(1970, 1, 1)


class RatesBackend(RateStore, MetaStore, Protocol):
    """What the rates need from a store."""


class RatesIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/admin/exchange-rates``: units of each currency per one unit of ``base``, by day.
    Rates are JSON strings or numbers, read as exact decimals."""

    base: str
    rates: dict[str, dict[str, msgspec.Raw]]  # read one by one, to name a bad one


class Table(msgspec.Struct, frozen=True):
    """One currency's rates: days ascending, and the rate of each."""

    days: tuple[dt.date, ...]
    rates: tuple[Fraction, ...]

    def on(self, day: dt.date) -> Fraction | None:
        i = bisect.bisect_right(self.days, day)
        return self.rates[i - 1] if i else None


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def parse_code(value: str, field: str) -> str:
    """A currency code in a request, upper-cased; 400 naming ``field`` otherwise."""
    code = money.currency_code(value)
    if code is None:
        raise _bad(f"{field}: {value[:20]!r} is not a three-letter ISO 4217 code")
    return code


def parse_day(value: str, field: str, earliest: dt.date = EARLIEST_DAY) -> dt.date:
    """A ``YYYY-MM-DD`` day in a request, from ``earliest``; 400 naming ``field`` otherwise."""
    day = iso_day(value)
    if day is None:
        raise _bad(f"{field}: {value[:20]!r} is not a date (YYYY-MM-DD)")
    if day < earliest:
        raise _bad(f"{field}: {value} is before {earliest}")
    return day


def _rate(raw: msgspec.Raw, field: str) -> str:
    try:
        sent = msgspec.json.decode(raw, type=str | int | float)
    except UnicodeDecodeError:
        raise _bad(f"{field}: not valid UTF-8") from None
    except (msgspec.ValidationError, msgspec.DecodeError):
        sent = None
    # a JSON number is read from its text as sent, by the contract's own decimal reader
    text = sent if isinstance(sent, str) or sent is None else bytes(raw).decode()
    value = money.decimal_of(text)
    if value is None:
        raise _bad(f"{field} must be a decimal number, as a JSON number or string")
    if value <= 0 or value >= MAX_RATE:
        raise _bad(f"{field} must be a positive number below 10^9")
    text = format(value.normalize(), "f")
    if len(text) > MAX_RATE_CHARS:
        raise _bad(f"{field} has more than {MAX_RATE_CHARS} digits")
    return text


def parse_rates(body: RatesIn) -> tuple[str, list[RateRow]]:
    """The base and the rows of a load, validated; 400 naming the field otherwise."""
    base = parse_code(body.base, "base")
    rows: list[RateRow] = []
    for day_text, by_currency in body.rates.items():
        day = parse_day(day_text, "rates")
        for currency, value in by_currency.items():
            field = f"rates.{day_text}.{currency[:20]}"
            code = parse_code(currency, field)
            if code == base:
                raise _bad(f"{field}: the base currency's rate is 1 by definition; leave it out")
            rows.append((code, day, _rate(value, field)))
            if len(rows) > MAX_RATES_PER_LOAD:
                raise _bad(f"rates: at most {MAX_RATES_PER_LOAD} rates per request")
    if not rows:
        raise _bad("rates: at least one rate is required")
    return base, rows


class ExchangeRates:
    """The stored rates, cached in memory, and currency conversion with them."""

    def __init__(self, store: RatesBackend, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._base: str | None = None
        self._tables: dict[str, Table] = {}
        # (source, target, day) → target units per source unit, for the tables loaded
        self._factors: dict[tuple[str, str, dt.date], Fraction | None] = {}
        self._stamp: str | None = None
        self._checked = -float("inf")  # time.monotonic() of the last look at the stamp

    # -- loading ------------------------------------------------------------------------------

    def load(self, body: RatesIn) -> dict[str, object]:
        """Store a load of rates (insert or replace per currency and day)."""
        base, rows = parse_rates(body)
        stored = self.store.set_meta(BASE_KEY, base, only_if_absent=True)
        if stored != base:
            raise ApiError(
                409, f"rates on this server are quoted against {stored}: send base {stored}"
            )
        self.store.put_rates(base, rows)
        self.store.set_meta(STAMP_KEY, uuid.uuid4().hex)
        self.refresh(force=True)
        days = sorted({day for _c, day, _r in rows})
        return {
            "base": base,
            "stored": len(rows),
            "currencies": sorted({c for c, _d, _r in rows}),
            "firstDay": days[0].isoformat(),
            "lastDay": days[-1].isoformat(),
        }

    def refresh(self, *, force: bool = False) -> None:
        """Reload the rates if the store's stamp changed (at most every ``refresh_seconds``)."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_seconds:
            return
        with self._lock:
            if not force and now - self._checked < self.refresh_seconds:
                return
            stamp = self.store.get_meta(STAMP_KEY)
            if force or stamp != self._stamp:
                base = self.store.get_meta(BASE_KEY)
                rows = self.store.exchange_rates(base) if base else []
                self._tables = _tables(rows)
                self._base = base
                self._stamp = stamp
                self._factors = {}
            self._checked = now

    # -- reading ------------------------------------------------------------------------------

    def rate(self, currency: str, day: dt.date) -> Fraction | None:
        """Units of ``currency`` per unit of the base on ``day`` (latest day on or before)."""
        self.refresh()
        return self._rate(currency, day)

    def _rate(self, currency: str, day: dt.date) -> Fraction | None:
        if currency == self._base:
            return Fraction(1)
        table = self._tables.get(currency)
        return table.on(day) if table else None

    def convert(self, micros: int, source: str, target: str, day: dt.date) -> int | None:
        """``micros`` of ``source`` in micros of ``target`` on ``day``; None without a rate."""
        if source == target:
            return micros
        self.refresh()
        factors = self._factors  # before the tables: a reload replaces the tables, then this
        key = (source, target, day)
        if key not in factors:  # kept until the rates are reloaded
            r_source, r_target = self._rate(source, day), self._rate(target, day)
            if len(factors) >= MAX_FACTORS:
                factors.clear()
            factors[key] = None if r_source is None or r_target is None else r_target / r_source
        factor = factors[key]
        return None if factor is None else round(micros * factor)  # half to even, exact

    def listing(
        self, currency: str | None, start: dt.date | None, end: dt.date | None, limit: int
    ) -> dict[str, object]:
        """The stored rates in the shape of a load, filtered; ``truncated`` past ``limit``."""
        base = self.store.get_meta(BASE_KEY)
        rows = self.store.exchange_rates(base) if base else []
        days: dict[str, dict[str, str]] = {}
        count = 0
        for code, day, rate in sorted(rows, key=lambda r: (r[1], r[0])):
            if (currency and code != currency) or (start and day < start) or (end and day > end):
                continue
            if count == limit:
                return {"base": base, "rates": days, "truncated": True}
            days.setdefault(day.isoformat(), {})[code] = rate
            count += 1
        return {"base": base, "rates": days, "truncated": False}


def _tables(rows: list[RateRow]) -> dict[str, Table]:
    by_currency: dict[str, list[tuple[dt.date, Fraction]]] = {}
    for code, day, rate in rows:
        by_currency.setdefault(code, []).append((day, Fraction(Decimal(rate))))
    out: dict[str, Table] = {}
    for code, entries in by_currency.items():
        entries.sort()
        out[code] = Table(tuple(d for d, _r in entries), tuple(r for _d, r in entries))
    return out
