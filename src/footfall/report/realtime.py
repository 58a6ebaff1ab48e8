"""``runRealtimeReport``: what happened in the last minutes (GA4: the last 30), from the
enriched events directly."""

from __future__ import annotations

import msgspec

from footfall.errors import ApiError
from footfall.report.query import ReportQuery
from footfall.report.request import MAX_LIMIT, Dimension, FilterExpression, Metric, OrderBy
from footfall.report.validate import (
    DEFAULT_LIMIT,
    build_aggregations,
    build_filter,
    build_order_bys,
    check_names,
)

DIMENSIONS = (
    "country",
    "countryId",
    "deviceCategory",
    "eventName",
    "minutesAgo",
    "unifiedScreenName",
    "pagePath",
)
METRICS = ("activeUsers", "eventCount", "keyEvents", "screenPageViews")
MAX_MINUTES = 30
MINUTE_US = 60_000_000


class _Camel(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    pass


class MinuteRange(_Camel):
    start_minutes_ago: int = MAX_MINUTES - 1
    end_minutes_ago: int = 0
    name: str | None = None


class RunRealtimeReportRequest(_Camel):
    dimensions: list[Dimension] = []
    metrics: list[Metric] = []
    dimension_filter: FilterExpression | None = None
    limit: int = 0
    metric_aggregations: list[str] = []
    order_bys: list[OrderBy] = []
    minute_ranges: list[MinuteRange] = []
    return_property_quota: bool = False
    property: str | None = None


def build_realtime_query(
    req: RunRealtimeReportRequest, property_id: str, now_us: int
) -> ReportQuery:
    dims = check_names("dimensions", [d.name for d in req.dimensions], len(DIMENSIONS))
    for i, name in enumerate(dims):
        if name not in DIMENSIONS:
            raise ApiError(400, f"dimensions[{i}]: {name[:80]!r} is not a realtime dimension")
    metrics = check_names("metrics", [m.name for m in req.metrics], len(METRICS))
    if not metrics:
        raise ApiError(400, "metrics: at least one metric is required")
    for i, name in enumerate(metrics):
        if name not in METRICS:
            raise ApiError(400, f"metrics[{i}]: {name[:80]!r} is not a realtime metric")
    if len(req.minute_ranges) > 1:
        raise ApiError(400, "minuteRanges: at most one range")
    window = req.minute_ranges[0] if req.minute_ranges else MinuteRange()
    if not 0 <= window.end_minutes_ago <= window.start_minutes_ago < MAX_MINUTES:
        raise ApiError(
            400, f"minuteRanges[0]: need 0 <= endMinutesAgo <= startMinutesAgo <= {MAX_MINUTES - 1}"
        )
    if not 0 <= req.limit <= MAX_LIMIT:
        raise ApiError(400, f"limit: must be between 0 and {MAX_LIMIT}")
    aggregations = build_aggregations(req.metric_aggregations)
    if aggregations - {"TOTAL"}:
        raise ApiError(400, "metricAggregations: realtime reports support TOTAL only")
    counter = [0]
    flt = (
        build_filter(req.dimension_filter, "dimensionFilter", counter, lambda n: n in DIMENSIONS)
        if req.dimension_filter is not None
        else None
    )
    # minute m ago covers (now - (m+1) min, now - m min]
    start = now_us - (window.start_minutes_ago + 1) * MINUTE_US
    end = now_us - window.end_minutes_ago * MINUTE_US
    return ReportQuery(
        property_id=property_id,
        date_ranges=(),
        dimensions=dims,
        metrics=metrics,
        filter=flt,
        order_bys=build_order_bys(req.order_bys, dims, metrics),
        limit=req.limit or DEFAULT_LIMIT,
        offset=0,
        aggregations=aggregations,
        window=(start, end),
        now_us=now_us,
    )
