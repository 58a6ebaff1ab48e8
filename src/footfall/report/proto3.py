"""Report request bodies in every proto3 JSON form Google's server accepts, turned into the one
canonical shape the msgspec structs of ``request.py`` and ``realtime.py`` decode.

Google's own client (``google-analytics-data``, REST transport) prints requests with protobuf's
``json_format`` and ``$alt=json;enum-encoding=int``: enums as numbers (``"matchType": 2``),
int64 as strings (``"limit": "10"``), fields at their default value left out. Other clients print
defaults (``""``, ``false``, ``0``, ``[]``, ``null``) or use the proto field names
(``date_ranges``). Canonical means: camelCase names, enum names, ints and floats, and no field at
its default value, so a struct's default applies. Fields with presence (members of a ``oneof``,
``optional`` ones) keep an explicit default: ``{"int64Value": "0"}`` is the number 0 and
``"startMinutesAgo": 0`` is minute 0.

Fields of GA4's messages that footfall does not implement (``metricFilter``, ``comparisons``,
``Metric.expression``, …) are dropped when they hold their default, and otherwise left for the
struct to refuse by name. Fields GA4 does not have are left alone, so they are refused too.

The field table follows GA4's v1beta protos (``google/analytics/data/v1beta/data.proto`` and
``analytics_data_api.proto``); ``tests/test_proto3.py`` checks it against the installed client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import msgspec

from footfall.errors import invalid
from footfall.report.request import MAX_FILTER_NODES

T = TypeVar("T")

# The deepest request GA4 accepts is a filter tree of MAX_FILTER_NODES expressions nested one in
# another: each andGroup/orGroup costs two levels (the group, then its expression), and the
# batch request, the report, the leaf filter, its stringFilter/betweenFilter and a NumericValue
# four more. Anything deeper is refused before the filter is counted.
MAX_DEPTH: Final = 2 * MAX_FILTER_NODES + 4
INT64: Final = (-(2**63), 2**63 - 1)
INT32: Final = (-(2**31), 2**31 - 1)
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_DOUBLE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")

ENUMS: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    "MatchType": (
        ("MATCH_TYPE_UNSPECIFIED", 0),
        ("EXACT", 1),
        ("BEGINS_WITH", 2),
        ("ENDS_WITH", 3),
        ("CONTAINS", 4),
        ("FULL_REGEXP", 5),
        ("PARTIAL_REGEXP", 6),
    ),
    "Operation": (
        ("OPERATION_UNSPECIFIED", 0),
        ("EQUAL", 1),
        ("LESS_THAN", 2),
        ("LESS_THAN_OR_EQUAL", 3),
        ("GREATER_THAN", 4),
        ("GREATER_THAN_OR_EQUAL", 5),
    ),
    "OrderType": (
        ("ORDER_TYPE_UNSPECIFIED", 0),
        ("ALPHANUMERIC", 1),
        ("CASE_INSENSITIVE_ALPHANUMERIC", 2),
        ("NUMERIC", 3),
    ),
    "MetricAggregation": (
        ("METRIC_AGGREGATION_UNSPECIFIED", 0),
        ("TOTAL", 1),
        ("COUNT", 4),
        ("MINIMUM", 5),
        ("MAXIMUM", 6),
    ),
    "MetricType": (
        ("METRIC_TYPE_UNSPECIFIED", 0),
        ("TYPE_INTEGER", 1),
        ("TYPE_FLOAT", 2),
        ("TYPE_SECONDS", 4),
        ("TYPE_MILLISECONDS", 5),
        ("TYPE_MINUTES", 6),
        ("TYPE_HOURS", 7),
        ("TYPE_STANDARD", 8),
        ("TYPE_CURRENCY", 9),
        ("TYPE_FEET", 10),
        ("TYPE_MILES", 11),
        ("TYPE_METERS", 12),
        ("TYPE_KILOMETERS", 13),
    ),
}
_BY_NUMBER = {name: {n: v for v, n in values} for name, values in ENUMS.items()}
_BY_NAME = {name: dict(values) for name, values in ENUMS.items()}


@dataclass(frozen=True)
class Field:
    """One field of a GA4 request message.

    ``kind`` is ``string``, ``bool``, ``int32``, ``int64``, ``double``, ``enum`` (``ref`` names
    the enum) or ``message`` (``ref`` names the message; ``None`` for a message footfall does not
    implement). ``oneof`` marks a member of a oneof, ``optional`` a proto3 ``optional`` scalar;
    both keep an explicit default value.
    """

    json: str
    kind: str
    ref: str | None = None
    repeated: bool = False
    oneof: bool = False
    optional: bool = False
    supported: bool = True

    @property
    def proto(self) -> str:
        return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), self.json)


def _unsupported(json: str, kind: str, **kw: Any) -> Field:
    return Field(json, kind, supported=False, **kw)


_FILTER_ONEOF = {"oneof": True}
MESSAGES: Final[dict[str, tuple[Field, ...]]] = {
    "RunReportRequest": (
        Field("property", "string"),
        Field("dimensions", "message", "Dimension", repeated=True),
        Field("metrics", "message", "Metric", repeated=True),
        Field("dateRanges", "message", "DateRange", repeated=True),
        Field("dimensionFilter", "message", "FilterExpression"),
        _unsupported("metricFilter", "message"),
        Field("offset", "int64"),
        Field("limit", "int64"),
        Field("metricAggregations", "enum", "MetricAggregation", repeated=True),
        Field("orderBys", "message", "OrderBy", repeated=True),
        Field("currencyCode", "string"),
        _unsupported("cohortSpec", "message"),
        Field("keepEmptyRows", "bool"),
        Field("returnPropertyQuota", "bool"),
        _unsupported("comparisons", "message", repeated=True),
    ),
    "RunRealtimeReportRequest": (
        Field("property", "string"),
        Field("dimensions", "message", "Dimension", repeated=True),
        Field("metrics", "message", "Metric", repeated=True),
        Field("dimensionFilter", "message", "FilterExpression"),
        _unsupported("metricFilter", "message"),
        Field("limit", "int64"),
        Field("metricAggregations", "enum", "MetricAggregation", repeated=True),
        Field("orderBys", "message", "OrderBy", repeated=True),
        Field("returnPropertyQuota", "bool"),
        Field("minuteRanges", "message", "MinuteRange", repeated=True),
    ),
    "BatchRunReportsRequest": (
        Field("property", "string"),
        Field("requests", "message", "RunReportRequest", repeated=True),
    ),
    "Dimension": (Field("name", "string"), _unsupported("dimensionExpression", "message")),
    "Metric": (
        Field("name", "string"),
        _unsupported("expression", "string"),
        _unsupported("invisible", "bool"),
    ),
    "DateRange": (
        Field("startDate", "string"),
        Field("endDate", "string"),
        Field("name", "string"),
    ),
    "MinuteRange": (
        Field("startMinutesAgo", "int32", optional=True),
        Field("endMinutesAgo", "int32", optional=True),
        Field("name", "string"),
    ),
    "FilterExpression": (
        Field("andGroup", "message", "FilterExpressionList", **_FILTER_ONEOF),
        Field("orGroup", "message", "FilterExpressionList", **_FILTER_ONEOF),
        Field("notExpression", "message", "FilterExpression", **_FILTER_ONEOF),
        Field("filter", "message", "Filter", **_FILTER_ONEOF),
    ),
    "FilterExpressionList": (Field("expressions", "message", "FilterExpression", repeated=True),),
    "Filter": (
        Field("fieldName", "string"),
        Field("stringFilter", "message", "StringFilter", **_FILTER_ONEOF),
        Field("inListFilter", "message", "InListFilter", **_FILTER_ONEOF),
        Field("numericFilter", "message", "NumericFilter", **_FILTER_ONEOF),
        Field("betweenFilter", "message", "BetweenFilter", **_FILTER_ONEOF),
        Field("emptyFilter", "message", "EmptyFilter", **_FILTER_ONEOF),
    ),
    "StringFilter": (
        Field("matchType", "enum", "MatchType"),
        Field("value", "string"),
        Field("caseSensitive", "bool"),
    ),
    "InListFilter": (Field("values", "string", repeated=True), Field("caseSensitive", "bool")),
    "NumericFilter": (
        Field("operation", "enum", "Operation"),
        Field("value", "message", "NumericValue"),
    ),
    "BetweenFilter": (
        Field("fromValue", "message", "NumericValue"),
        Field("toValue", "message", "NumericValue"),
    ),
    "EmptyFilter": (),
    "NumericValue": (
        Field("int64Value", "int64", oneof=True),
        Field("doubleValue", "double", oneof=True),
    ),
    "OrderBy": (
        Field("metric", "message", "MetricOrderBy", oneof=True),
        Field("dimension", "message", "DimensionOrderBy", oneof=True),
        _unsupported("pivot", "message", oneof=True),
        Field("desc", "bool"),
    ),
    "MetricOrderBy": (Field("metricName", "string"),),
    "DimensionOrderBy": (
        Field("dimensionName", "string"),
        Field("orderType", "enum", "OrderType"),
    ),
}
_FIELDS: dict[str, dict[str, Field]] = {
    message: {key: f for f in fields for key in {f.json, f.proto}}
    for message, fields in MESSAGES.items()
}


class _Unset:
    pass


_UNSET: Final = _Unset()


def canonical(value: Any, message: str) -> Any:
    """``value`` (decoded JSON) as the canonical form of the GA4 ``message``; raises a 400
    naming the field for an enum number GA4 lacks, an integer out of its range, or a double that
    is NaN or infinite. Anything not of the expected JSON type is left for the struct to refuse."""
    return _message(value, message, "", 0)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _message(value: Any, message: str, path: str, depth: int) -> Any:
    if not isinstance(value, dict):
        return value
    if depth > MAX_DEPTH:
        raise invalid(f"{path}: nested more than {MAX_DEPTH} levels deep")
    fields = _FIELDS[message]
    out: dict[str, Any] = {}
    for key, item in value.items():
        f = fields.get(key)
        if f is None:
            out[key] = item  # not a GA4 field: the struct refuses it by name
            continue
        here = _join(path, f.json)
        if f.json != f.proto and f.json in value and f.proto in value:
            raise invalid(f"{here}: given twice, as {f.json} and as {f.proto}")
        if item is None:
            continue  # null is the default value of every field
        if not f.supported:
            if not _is_default(f, item):
                out[f.json] = item
            continue
        if f.repeated:
            if not isinstance(item, list):
                out[f.json] = item
            elif item:
                out[f.json] = [_value(f, v, f"{here}[{i}]", depth + 1) for i, v in enumerate(item)]
            continue
        v = _value(f, item, here, depth + 1)
        if v is _UNSET or (not (f.oneof or f.optional) and _is_default(f, v)):
            continue
        out[f.json] = v
    return out


def _is_default(f: Field, v: Any) -> bool:
    if f.repeated:
        return isinstance(v, list) and not v
    if f.kind == "message":
        return isinstance(v, dict) and not v and not f.oneof
    if f.kind == "string":
        return isinstance(v, str) and not v
    if f.kind == "bool":
        return v is False
    return not isinstance(v, bool) and isinstance(v, int | float) and v == 0


def _value(f: Field, v: Any, path: str, depth: int) -> Any:
    if f.kind == "message":
        assert f.ref is not None
        return _message(v, f.ref, path, depth)
    if f.kind == "enum":
        assert f.ref is not None
        return _enum(f.ref, v, path, unset=not f.repeated)
    if f.kind in ("int64", "int32"):
        return _integer(v, path, INT64 if f.kind == "int64" else INT32)
    if f.kind == "double":
        return _double(v, path)
    return v


def _enum(enum: str, v: Any, path: str, *, unset: bool) -> Any:
    """An enum name for a name or a number; ``*_UNSPECIFIED`` (0) of a singular field is unset."""
    if isinstance(v, int) and not isinstance(v, bool):
        name = _BY_NUMBER[enum].get(v)
        if name is None:
            numbers = ", ".join(f"{n} ({v})" for v, n in ENUMS[enum] if n)
            raise invalid(f"{path}: {str(v)[:40]} is not a {enum} number; use one of {numbers}")
        v = name
    if unset and isinstance(v, str) and _BY_NAME[enum].get(v) == 0:
        return _UNSET
    return v


def _integer(v: Any, path: str, bounds: tuple[int, int]) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        if not _INTEGER.fullmatch(v):
            raise invalid(f"{path}: {v[:40]!r} is not an integer")
        v = int(v)
    elif isinstance(v, float):
        if not v.is_integer():
            raise invalid(f"{path}: {v!r} is not an integer")
        v = int(v)
    if isinstance(v, int) and not bounds[0] <= v <= bounds[1]:
        kind = "int64" if bounds == INT64 else "int32"
        raise invalid(f"{path}: {str(v)[:40]} is out of the {kind} range")
    return v


def _double(v: Any, path: str) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        if v in ("NaN", "Infinity", "-Infinity"):
            raise invalid(f"{path}: {v} is not a finite number")
        if len(v) > 400 or not _DOUBLE.fullmatch(v):
            raise invalid(f"{path}: {v[:40]!r} is not a number")
        v = float(v)
    elif isinstance(v, int):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        raise invalid(f"{path}: not a finite number")
    return v


class RequestDecoder(Generic[T]):
    """Decodes a report request body: JSON → :func:`canonical` → the msgspec struct ``type_``
    (named like its GA4 message). Raises ``msgspec.DecodeError`` for malformed JSON,
    ``msgspec.ValidationError`` for a field of the wrong type or unknown, ``ApiError`` (400)
    for a value outside what proto3 JSON allows."""

    def __init__(self, type_: type[T]) -> None:
        self.type = type_
        self.message = type_.__name__
        assert self.message in MESSAGES
        # a number beyond a double's range reads as infinity, which the field refuses by name
        self._json = msgspec.json.Decoder(float_hook=float)

    def decode(self, body: bytes) -> T:
        data = self._json.decode(body)
        return msgspec.convert(canonical(data, self.message), self.type)


def int_enums(query: Mapping[str, str]) -> bool:
    """Whether the query asks for enums as numbers (``$alt=json;enum-encoding=int``, as Google's
    REST clients send); a ``$alt`` other than JSON is refused."""
    alt = query.get("$alt", query.get("alt", "json"))
    form, *options = (part.strip() for part in alt.split(";"))
    if form != "json":
        raise invalid(f"$alt: {alt[:40]!r} is not supported; footfall answers JSON only")
    return "enum-encoding=int" in options


def with_int_enums(body: dict[str, Any]) -> dict[str, Any]:
    """A report or metadata response with its enums (the metrics' ``type``) as numbers."""
    numbers = _BY_NAME["MetricType"]
    for key in ("metricHeaders", "metrics"):
        for item in body.get(key, ()):
            if "type" in item:
                item["type"] = numbers.get(item["type"], 0)
    for report in body.get("reports", ()):
        with_int_enums(report)
    return body
