"""Answer a report from rollup cells, with the report SQL's semantics.

A request fits a dimension set when every dimension and every filter field it names is in the
set (date, dateHour and hour are in all of them). The answer groups the cells of the requested
dates by the requested dimensions, merges their sketches and computes the metrics; filters,
ordering, paging, totals, minimums and maximums follow :mod:`footfall.store.duckdb.report_sql`
(three-valued logic where a numeric filter meets a value that is not a number included).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from footfall.errors import invalid
from footfall.report import catalog
from footfall.report.query import (
    And,
    Between,
    FilterNode,
    InList,
    IsEmpty,
    MetricValue,
    Not,
    NumericCompare,
    Or,
    ReportQuery,
    ReportResult,
    ReportRow,
    StringMatch,
)
from footfall.rollup.cells import DIMENSION_SETS, TIME_DIMENSIONS, Merged, Packed
from footfall.store.duckdb.report_sql import NOT_SET, metric_values

Values = dict[str, str]


def filter_fields(node: FilterNode | None) -> set[str]:
    match node:
        case None:
            return set()
        case And(parts) | Or(parts):
            return set().union(*(filter_fields(p) for p in parts))
        case Not(part):
            return filter_fields(part)
        case StringMatch() | InList() | NumericCompare() | Between() | IsEmpty():
            return {node.field}
    raise AssertionError(f"unknown filter node {node!r}")


def fitting_set(query: ReportQuery) -> str | None:
    """The smallest dimension set that answers the query, or None (then events answer it)."""
    if query.window is not None:
        return None
    needed = (set(query.dimensions) | filter_fields(query.filter)) - TIME_DIMENSIONS
    fits = [name for name, dims in DIMENSION_SETS.items() if needed <= set(dims)]
    return min(fits, key=lambda n: len(DIMENSION_SETS[n])) if fits else None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _pattern(value: str, case_sensitive: bool) -> re.Pattern[str]:
    try:
        return re.compile(value, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise invalid(f"dimensionFilter: invalid regular expression ({exc})") from None


@functools.lru_cache(maxsize=256)
def _lowered(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(s.lower() for s in values)


def matches(node: FilterNode, v: Values) -> bool | None:  # noqa: PLR0911, PLR0912
    """SQL's three-valued truth of a filter for one row's dimension values (None: unknown)."""
    match node:
        case And(parts):
            results = [matches(p, v) for p in parts]
            return False if False in results else (None if None in results else True)
        case Or(parts):
            results = [matches(p, v) for p in parts]
            return True if True in results else (None if None in results else False)
        case Not(part):
            result = matches(part, v)
            return None if result is None else not result
        case StringMatch(field, match_type, value, case_sensitive):
            x = v[field]
            if match_type == "FULL_REGEXP":
                return _pattern(value, case_sensitive).fullmatch(x) is not None
            if match_type == "PARTIAL_REGEXP":
                return _pattern(value, case_sensitive).search(x) is not None
            if not case_sensitive:
                x, value = x.lower(), value.lower()
            return {
                "EXACT": x == value,
                "BEGINS_WITH": x.startswith(value),
                "ENDS_WITH": x.endswith(value),
                "CONTAINS": value in x,
            }[match_type]
        case InList(field, values, case_sensitive):
            if not case_sensitive:
                return v[field].lower() in _lowered(values)
            return v[field] in values
        case NumericCompare(field, operation, value):
            n = _number(v[field])
            if n is None:
                return None
            return {
                "EQUAL": n == value,
                "LESS_THAN": n < value,
                "LESS_THAN_OR_EQUAL": n <= value,
                "GREATER_THAN": n > value,
                "GREATER_THAN_OR_EQUAL": n >= value,
            }[operation]
        case Between(field, low, high):
            n = _number(v[field])
            return None if n is None else low <= n <= high
        case IsEmpty(field):
            return v[field] == NOT_SET
    raise AssertionError(f"unknown filter node {node!r}")


class RollupRow:
    """One stored cell: its local date and hour, its set's dimension values, its contents."""

    __slots__ = ("dims", "event_date", "event_hour", "packed")

    def __init__(
        self, event_date: dt.date, event_hour: int, dims: Sequence[str], packed: Packed
    ) -> None:
        self.event_date, self.event_hour, self.dims, self.packed = (
            event_date,
            event_hour,
            tuple(dims),
            packed,
        )

    def values(self, set_dims: Sequence[str]) -> Values:
        day = self.event_date.strftime("%Y%m%d")
        hour = f"{self.event_hour:02d}"
        v = dict(zip(set_dims, self.dims, strict=True))
        v.update(date=day, dateHour=day + hour, hour=hour)
        return v


def _groups(
    query: ReportQuery, dims: Sequence[str], rows: Sequence[tuple[RollupRow, Values]]
) -> dict[tuple[str, ...], Merged]:
    groups: dict[tuple[str, ...], Merged] = {}
    for row, values in rows:
        for r in query.date_ranges:
            if not r.start <= row.event_date <= r.end:
                continue
            values["dateRange"] = r.name
            key = tuple(values[d] for d in dims)
            group = groups.get(key)
            if group is None:
                group = groups[key] = Merged()
            group.add(row.packed)
    return groups


def _metric_values(query: ReportQuery, m: dict[str, int | float]) -> tuple[MetricValue, ...]:
    return metric_values(query, tuple(m[name] for name in query.metrics))


Grouped = tuple[tuple[str, ...], dict[str, int | float]]


def _sort_parts(query: ReportQuery) -> list[tuple[Callable[[Grouped], Any], bool]]:
    """(key, descending) per ORDER BY term of the report SQL, ties broken by the dimensions."""

    def metric(name: str) -> Callable[[Grouped], Any]:
        return lambda r: r[1][name]

    def dimension(i: int, how: str) -> Callable[[Grouped], Any]:
        if how == "NUMERIC":
            return lambda r: _number(r[0][i])
        if how == "CASE_INSENSITIVE_ALPHANUMERIC":
            return lambda r: r[0][i].lower()
        return lambda r: r[0][i]

    parts = [
        (
            metric(ob.field)
            if ob.is_metric
            else dimension(query.dimensions.index(ob.field), ob.order_type),
            ob.desc,
        )
        for ob in query.order_bys
    ]
    if not query.order_bys:
        parts.append((metric(query.metrics[0]), True))
    parts.extend((dimension(i, "ALPHANUMERIC"), False) for i in range(len(query.dimensions)))
    return parts


def _sort(query: ReportQuery, rows: list[Grouped]) -> None:
    parts = _sort_parts(query)

    def compare(a: Grouped, b: Grouped) -> int:
        for key, desc in parts:
            x, y = key(a), key(b)
            if x == y:
                continue
            if x is None or y is None:  # NULLS LAST in either direction
                return 1 if x is None else -1
            return (1 if x < y else -1) if desc else (-1 if x < y else 1)
        return 0

    rows.sort(key=functools.cmp_to_key(compare))


def answer(query: ReportQuery, dimension_set: str, cells: Iterable[RollupRow]) -> ReportResult:
    set_dims = DIMENSION_SETS[dimension_set]
    kept: list[tuple[RollupRow, Values]] = []
    for row in cells:
        values = row.values(set_dims)
        if query.filter is None or matches(query.filter, values) is True:
            kept.append((row, values))
    dims = query.dimensions
    groups = _groups(query, dims, kept)
    grouped = [(key, g.metrics()) for key, g in groups.items()]
    _sort(query, grouped)
    page = grouped[query.offset : query.offset + query.limit]
    result_rows = [ReportRow(key, _metric_values(query, m)) for key, m in page]
    minimums: list[ReportRow] = []
    maximums: list[ReportRow] = []
    if grouped and query.aggregations & {"MINIMUM", "MAXIMUM"}:
        columns = list(zip(*[_metric_values(query, m) for _key, m in grouped], strict=True))
        if "MINIMUM" in query.aggregations:
            minimums = [ReportRow(("RESERVED_MIN",) * len(dims), tuple(min(c) for c in columns))]
        if "MAXIMUM" in query.aggregations:
            maximums = [ReportRow(("RESERVED_MAX",) * len(dims), tuple(max(c) for c in columns))]
    totals: list[ReportRow] = []
    if "TOTAL" in query.aggregations:
        totals = _totals(query, kept)
    return ReportResult(
        rows=result_rows,
        row_count=len(grouped),
        totals=totals,
        minimums=minimums,
        maximums=maximums,
    )


def _totals(query: ReportQuery, kept: Sequence[tuple[RollupRow, Values]]) -> list[ReportRow]:
    nd = len(query.dimensions)
    by_range = nd > 0 and query.dimensions[0] == "dateRange"
    groups = _groups(query, ("dateRange",) if by_range else (), kept)
    if not by_range:
        found = groups[()].metrics() if groups else dict.fromkeys(catalog.METRICS, 0.0)
        return [ReportRow(("RESERVED_TOTAL",) * nd, _metric_values(query, found))]
    zeros = _metric_values(query, dict.fromkeys(catalog.METRICS, 0.0))
    return [
        ReportRow(
            (r.name, *(["RESERVED_TOTAL"] * (nd - 1))),
            _metric_values(query, groups[(r.name,)].metrics()) if (r.name,) in groups else zeros,
        )
        for r in query.date_ranges
    ]
