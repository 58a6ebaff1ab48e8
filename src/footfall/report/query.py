"""A validated report question, independent of any store, and the store's answer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec


class ResolvedRange(msgspec.Struct, frozen=True):
    name: str
    start: dt.date
    end: dt.date


class StringMatch(msgspec.Struct, frozen=True, tag="string"):
    field: str
    match_type: str  # EXACT BEGINS_WITH ENDS_WITH CONTAINS FULL_REGEXP PARTIAL_REGEXP
    value: str
    case_sensitive: bool


class InList(msgspec.Struct, frozen=True, tag="in_list"):
    field: str
    values: tuple[str, ...]
    case_sensitive: bool


class NumericCompare(msgspec.Struct, frozen=True, tag="numeric"):
    field: str
    operation: str  # EQUAL LESS_THAN LESS_THAN_OR_EQUAL GREATER_THAN GREATER_THAN_OR_EQUAL
    value: float


class Between(msgspec.Struct, frozen=True, tag="between"):
    field: str
    low: float
    high: float


class IsEmpty(msgspec.Struct, frozen=True, tag="empty"):
    field: str


class And(msgspec.Struct, frozen=True, tag="and"):
    parts: tuple[FilterNode, ...]


class Or(msgspec.Struct, frozen=True, tag="or"):
    parts: tuple[FilterNode, ...]


class Not(msgspec.Struct, frozen=True, tag="not"):
    part: FilterNode


FilterNode = StringMatch | InList | NumericCompare | Between | IsEmpty | And | Or | Not


class Order(msgspec.Struct, frozen=True):
    field: str
    is_metric: bool
    desc: bool
    order_type: str = "ALPHANUMERIC"  # ALPHANUMERIC CASE_INSENSITIVE_ALPHANUMERIC NUMERIC


class ReportQuery(msgspec.Struct, frozen=True, kw_only=True):
    property_id: str
    date_ranges: tuple[ResolvedRange, ...]
    dimensions: tuple[str, ...]  # includes "dateRange" first when there are several ranges
    metrics: tuple[str, ...]
    filter: FilterNode | None
    order_bys: tuple[Order, ...]
    limit: int
    offset: int
    aggregations: frozenset[str]
    # realtime reports: a time window (µs since the epoch) instead of date ranges, and the
    # moment minutesAgo counts from
    window: tuple[int, int] | None = None
    now_us: int = 0


MetricValue = int | float | Decimal  # Decimal: currency metrics, exact


class ReportRow(msgspec.Struct, frozen=True, array_like=True):
    dimensions: tuple[str, ...]
    metrics: tuple[MetricValue, ...]


class ReportResult(msgspec.Struct, frozen=True, kw_only=True):
    rows: list[ReportRow]
    row_count: int
    totals: list[ReportRow] = []  # one per date range (dimension values "RESERVED_TOTAL")
    minimums: list[ReportRow] = []
    maximums: list[ReportRow] = []
