"""Turn a ``RunReportRequest`` into a :class:`ReportQuery`, refusing anything the catalog lacks.

Every refusal is a 400 whose message names the offending field, as GA4 does.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

from footfall.errors import invalid
from footfall.report import catalog
from footfall.report.dates import resolve_date
from footfall.report.query import (
    And,
    Between,
    FilterNode,
    InList,
    IsEmpty,
    Not,
    NumericCompare,
    Or,
    Order,
    ReportQuery,
    ResolvedRange,
    StringMatch,
)
from footfall.report.request import (
    MAX_FILTER_NODES,
    MAX_LIMIT,
    FilterExpression,
    NumericValue,
    OrderBy,
    RunReportRequest,
)

MAX_DIMENSIONS = 9
MAX_METRICS = 10
MAX_DATE_RANGES = 4
DEFAULT_LIMIT = 10_000
MAX_IN_LIST = 1_000
MAX_INT64 = 2**63 - 1  # GA4's int64 fields (offset, int64Value)
MATCH_TYPES = ("EXACT", "BEGINS_WITH", "ENDS_WITH", "CONTAINS", "FULL_REGEXP", "PARTIAL_REGEXP")
NUMERIC_OPS = ("EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL")
ORDER_TYPES = ("ALPHANUMERIC", "CASE_INSENSITIVE_ALPHANUMERIC", "NUMERIC")
AGGREGATIONS = ("TOTAL", "MINIMUM", "MAXIMUM")


def build_query(req: RunReportRequest, property_id: str, today: dt.date) -> ReportQuery:
    ranges = _date_ranges(req, today)
    dims = check_names("dimensions", [d.name for d in req.dimensions], MAX_DIMENSIONS)
    for i, name in enumerate(dims):
        if name == "dateRange":
            raise invalid(
                f"dimensions[{i}]: dateRange is added automatically with several dateRanges"
            )
        if not catalog.is_dimension(name):
            raise invalid(f"dimensions[{i}]: {name[:80]!r} is not a valid dimension")
    metrics = check_names("metrics", [m.name for m in req.metrics], MAX_METRICS)
    if not metrics:
        raise invalid("metrics: at least one metric is required")
    for i, name in enumerate(metrics):
        if name not in catalog.METRICS:
            raise invalid(f"metrics[{i}]: {name[:80]!r} is not a valid metric")
    if len(ranges) > 1:
        dims = ("dateRange", *dims)
    counter = [0]
    flt = (
        build_filter(req.dimension_filter, "dimensionFilter", counter, _report_dimension)
        if req.dimension_filter is not None
        else None
    )
    if req.limit < 0:
        raise invalid("limit: must not be negative")
    if req.limit > MAX_LIMIT:
        raise invalid(f"limit: {str(req.limit)[:30]} is over the maximum of {MAX_LIMIT}")
    if req.offset < 0:
        raise invalid("offset: must not be negative")
    if req.offset > MAX_INT64:
        raise invalid(f"offset: {str(req.offset)[:30]} is over the maximum of {MAX_INT64}")
    aggs = build_aggregations(req.metric_aggregations)
    return ReportQuery(
        property_id=property_id,
        date_ranges=ranges,
        dimensions=dims,
        metrics=metrics,
        filter=flt,
        order_bys=build_order_bys(req.order_bys, dims, metrics),
        limit=req.limit or DEFAULT_LIMIT,
        offset=req.offset,
        aggregations=aggs,
    )


def build_aggregations(values: list[str]) -> frozenset[str]:
    for i, agg in enumerate(values):
        if agg not in AGGREGATIONS:
            raise invalid(
                f"metricAggregations[{i}]: {agg[:40]!r} is not one of {', '.join(AGGREGATIONS)}"
            )
    return frozenset(values)


def check_names(field: str, names: list[str], limit: int) -> tuple[str, ...]:
    if len(names) > limit:
        raise invalid(f"{field}: {len(names)} requested; the limit is {limit}")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise invalid(f"{field}[{i}]: {name[:80]!r} is requested twice")
        seen.add(name)
    return tuple(names)


def _date_ranges(req: RunReportRequest, today: dt.date) -> tuple[ResolvedRange, ...]:
    if not req.date_ranges:
        raise invalid("dateRanges: at least one date range is required")
    if len(req.date_ranges) > MAX_DATE_RANGES:
        raise invalid(f"dateRanges: {len(req.date_ranges)} given; the limit is {MAX_DATE_RANGES}")
    out = []
    names: set[str] = set()
    for i, r in enumerate(req.date_ranges):
        start = resolve_date(r.start_date, today, f"dateRanges[{i}].startDate")
        end = resolve_date(r.end_date, today, f"dateRanges[{i}].endDate")
        if start > end:
            raise invalid(f"dateRanges[{i}]: startDate {start} is after endDate {end}")
        name = r.name or f"date_range_{i}"
        if name.startswith(("date_range_", "RESERVED_")) and r.name:
            raise invalid(f"dateRanges[{i}].name: {name!r} uses a reserved prefix")
        if name in names:
            raise invalid(f"dateRanges[{i}].name: {name!r} is used twice")
        names.add(name)
        out.append(ResolvedRange(name, start, end))
    return tuple(out)


def _report_dimension(name: str) -> bool:
    return catalog.is_dimension(name) and name != "dateRange"


def build_filter(
    expr: FilterExpression, path: str, counter: list[int], is_dimension: Callable[[str], bool]
) -> FilterNode:
    """A validated filter tree; ``is_dimension`` says which field names it may use."""
    counter[0] += 1
    if counter[0] > MAX_FILTER_NODES:
        raise invalid(f"{path}: the filter has more than {MAX_FILTER_NODES} expressions")
    chosen = [
        k
        for k in ("and_group", "or_group", "not_expression", "filter")
        if getattr(expr, k) is not None
    ]
    if len(chosen) != 1:
        raise invalid(
            f"{path}: exactly one of andGroup, orGroup, notExpression, filter is required"
        )
    if expr.and_group is not None or expr.or_group is not None:
        group = expr.and_group if expr.and_group is not None else expr.or_group
        assert group is not None
        key = "andGroup" if expr.and_group is not None else "orGroup"
        if not group.expressions:
            raise invalid(f"{path}.{key}: expressions must not be empty")
        parts = tuple(
            build_filter(e, f"{path}.{key}.expressions[{i}]", counter, is_dimension)
            for i, e in enumerate(group.expressions)
        )
        return And(parts) if expr.and_group is not None else Or(parts)
    if expr.not_expression is not None:
        return Not(
            build_filter(expr.not_expression, f"{path}.notExpression", counter, is_dimension)
        )
    f = expr.filter
    assert f is not None
    fpath = f"{path}.filter"
    if not is_dimension(f.field_name):
        if f.field_name in catalog.METRICS:
            raise invalid(
                f"{fpath}.fieldName: {f.field_name!r} is a metric; dimensionFilter takes dimensions"
            )
        raise invalid(f"{fpath}.fieldName: {f.field_name[:80]!r} is not a valid dimension")
    kinds = [
        k
        for k in (
            "string_filter",
            "in_list_filter",
            "numeric_filter",
            "between_filter",
            "empty_filter",
        )
        if getattr(f, k) is not None
    ]
    if len(kinds) != 1:
        raise invalid(
            f"{fpath}: exactly one of stringFilter, inListFilter, numericFilter, betweenFilter, "
            "emptyFilter is required"
        )
    if f.string_filter is not None:
        s = f.string_filter
        if s.match_type not in MATCH_TYPES:
            raise invalid(
                f"{fpath}.stringFilter.matchType: {s.match_type[:40]!r} is not one of {', '.join(MATCH_TYPES)}"
            )
        if len(s.value) > 1000:
            raise invalid(f"{fpath}.stringFilter.value: longer than 1000 characters")
        return StringMatch(f.field_name, s.match_type, s.value, s.case_sensitive)
    if f.in_list_filter is not None:
        values = f.in_list_filter.values
        if not values:
            raise invalid(f"{fpath}.inListFilter.values: must not be empty")
        if len(values) > MAX_IN_LIST:
            raise invalid(f"{fpath}.inListFilter.values: more than {MAX_IN_LIST} values")
        return InList(f.field_name, tuple(values), f.in_list_filter.case_sensitive)
    if f.numeric_filter is not None:
        op = f.numeric_filter.operation
        if op not in NUMERIC_OPS:
            raise invalid(
                f"{fpath}.numericFilter.operation: {op[:40]!r} is not one of {', '.join(NUMERIC_OPS)}"
            )
        return NumericCompare(
            f.field_name, op, _number(f.numeric_filter.value, f"{fpath}.numericFilter.value")
        )
    if f.between_filter is not None:
        low = _number(f.between_filter.from_value, f"{fpath}.betweenFilter.fromValue")
        high = _number(f.between_filter.to_value, f"{fpath}.betweenFilter.toValue")
        return Between(f.field_name, low, high)
    return IsEmpty(f.field_name)


def _number(v: NumericValue, path: str) -> float:
    if v.int64_value is not None:
        if not -MAX_INT64 - 1 <= v.int64_value <= MAX_INT64:
            raise invalid(f"{path}.int64Value: outside the 64-bit integer range")
        return float(v.int64_value)
    if v.double_value is not None:
        if not math.isfinite(v.double_value):
            raise invalid(f"{path}.doubleValue: must be a finite number")
        return v.double_value
    raise invalid(f"{path}: int64Value or doubleValue is required")


def build_order_bys(
    order_bys: list[OrderBy], dims: tuple[str, ...], metrics: tuple[str, ...]
) -> tuple[Order, ...]:
    out = []
    for i, ob in enumerate(order_bys):
        path = f"orderBys[{i}]"
        if (ob.metric is None) == (ob.dimension is None):
            raise invalid(f"{path}: exactly one of metric or dimension is required")
        if ob.metric is not None:
            if ob.metric.metric_name not in metrics:
                raise invalid(
                    f"{path}.metric.metricName: {ob.metric.metric_name[:80]!r} is not a metric of this request"
                )
            out.append(Order(ob.metric.metric_name, True, ob.desc))
        else:
            assert ob.dimension is not None
            name = ob.dimension.dimension_name
            if name not in dims:
                raise invalid(
                    f"{path}.dimension.dimensionName: {name[:80]!r} is not a dimension of this request"
                )
            if ob.dimension.order_type not in ORDER_TYPES:
                raise invalid(
                    f"{path}.dimension.orderType: {ob.dimension.order_type[:40]!r} is not one of {', '.join(ORDER_TYPES)}"
                )
            out.append(Order(name, False, ob.desc, ob.dimension.order_type))
    return tuple(out)
