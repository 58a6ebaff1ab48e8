"""Money in the event contract: exact decimal amounts, kept as integer micros.

A ``value`` parameter is a JSON number or a numeric string. Either way it is read from its
decimal text (the collector keeps a JSON number's text, see :func:`exact_value`), never through
a binary float, and stored as integer micros (millionths of the currency unit): sums are exact
and ``4050.9`` is reported as ``4050.9``. More than six decimals round half to even.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

import msgspec

from footfall.schema.wire import ParamValue, WireEvent

MICROS = 1_000_000
MAX_AMOUNT = Decimal(10) ** 12  # |value| below a trillion: micros fit a signed 64-bit integer
CURRENCY_RE = re.compile(r"[A-Za-z]{3}")
# a decimal number as text: digits with an optional point and a short exponent (no "NaN",
# "Infinity" or digit separators, which Decimal would also take)
NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?")
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, Emax=10**6, Emin=-(10**6))
_STEP = Decimal("0.000001")


def decimal_of(value: ParamValue | Decimal | None) -> Decimal | None:
    """The exact amount a parameter value says, or None if it is not a finite number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # only events queued before values kept their decimal text: a float's shortest
        # round-trip text is the JSON number it was decoded from, up to 15 digits
        number = Decimal(repr(value))
    else:
        text = value.strip()
        if not NUMBER_RE.fullmatch(text):
            return None
        number = Decimal(text)
    return number if number.is_finite() else None


def to_micros(value: ParamValue | Decimal | None) -> int | None:
    """The amount in integer micros (half to even past six decimals); None when it is not a
    finite number or not below ``MAX_AMOUNT`` in size."""
    number = decimal_of(value)
    if number is None or abs(number) >= MAX_AMOUNT:
        return None
    return int(number.quantize(_STEP, context=_CONTEXT).scaleb(6, context=_CONTEXT))


def amount(micros: int) -> Decimal:
    """Integer micros as an exact decimal amount."""
    return Decimal(micros).scaleb(-6, context=_CONTEXT)


def format_amount(value: Decimal) -> str:
    """Plain decimal text without trailing zeros: ``4050.9``, ``1000``, ``-0.5``."""
    text = format(value.normalize(context=_CONTEXT), "f")
    return "0" if text in ("-0", "0") else text


def currency_code(value: ParamValue | None) -> str | None:
    """An ISO 4217-shaped code (three letters, upper-cased), or None."""
    if isinstance(value, str) and CURRENCY_RE.fullmatch(value.strip()):
        return value.strip().upper()
    return None


class _ExactValue(msgspec.Struct, frozen=True):
    value: Decimal | None = None


class _ExactParams(msgspec.Struct):
    params: _ExactValue = _ExactValue()


_EXACT = msgspec.json.Decoder(_ExactParams)


def exact_value(event: WireEvent, raw: bytes) -> WireEvent:
    """``event`` with a JSON-number ``value`` parameter replaced by its decimal text as sent.

    The event decoder reads numbers as floats, which round (``0.1 + 0.2``); the value is read
    again from the event's JSON as a decimal and kept as a string, which the contract allows.
    """
    if not isinstance(event.params.get("value"), float):
        return event
    exact = _EXACT.decode(raw).params.value
    if exact is None:
        return event
    text = format(exact, "f")
    if len(text) > 40:  # 1e-50: the short scientific form
        text = str(exact)
    return msgspec.structs.replace(event, params={**event.params, "value": text})
