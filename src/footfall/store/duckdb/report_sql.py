"""Compile a :class:`ReportQuery` to DuckDB SQL and run it.

Names come only from the tables below (keyed by catalog names); every value from the request
is a bound parameter. The query has three levels:

1. ``base``: one row per event in the date ranges and filter, with its dimension values;
2. ``per_session``: one row per (dimensions, session), so session metrics count each session
   once per row even when it has many events;
3. ``grouped``: one row per dimension combination, with the GA4 metrics.

Totals run the same query without dimensions, so distinct users and sessions are never summed.
"""

from __future__ import annotations

from typing import Any

import duckdb

from footfall.errors import invalid
from footfall.report import catalog
from footfall.report.query import (
    And,
    Between,
    FilterNode,
    InList,
    IsEmpty,
    Not,
    NumericCompare,
    Or,
    ReportQuery,
    ReportResult,
    ReportRow,
    StringMatch,
)

NOT_SET = "(not set)"

DIMENSION_SQL: dict[str, str] = {
    "date": "strftime(e.event_date, '%Y%m%d')",
    "dateHour": "strftime(e.event_date, '%Y%m%d') || lpad(CAST(e.event_hour AS VARCHAR), 2, '0')",
    "hour": "lpad(CAST(e.event_hour AS VARCHAR), 2, '0')",
    "pagePath": "e.page_path",
    "pageTitle": "e.page_title",
    "pageLocation": "e.page_location",
    "pageReferrer": "e.page_referrer",
    "hostName": "e.page_host",
    "landingPage": "s.landing_page",
    "eventName": "e.event_name",
    "sessionSource": "s.source",
    "sessionMedium": "s.medium",
    "sessionSourceMedium": "s.source || ' / ' || s.medium",
    "sessionCampaignName": "s.campaign",
    "sessionDefaultChannelGroup": "s.channel_group",
    "country": "e.country",
    "countryId": "e.country_id",
    "deviceCategory": "e.device_category",
    "browser": "e.browser",
    "operatingSystem": "e.os",
    "language": "e.language",
    "languageCode": "e.language_code",
    "screenResolution": "e.screen_resolution",
}
# realtime only
REALTIME_DIMENSION_SQL: dict[str, str] = {"unifiedScreenName": "e.page_title"}

_SESSIONS = "count(*)"
_ENGAGED = "count(*) FILTER (WHERE engaged)"
_PER_SESSION_RATIO = (
    "::DOUBLE / nullif(count(*), 0)"  # NULL (reported as 0) when there are no sessions
)
_RATE = f"CASE WHEN {_SESSIONS} = 0 THEN 0.0 ELSE ({_ENGAGED})::DOUBLE / {_SESSIONS} END"

METRIC_SQL: dict[str, str] = {
    "activeUsers": "count(DISTINCT vid) FILTER (WHERE active)",
    "totalUsers": "count(DISTINCT vid)",
    "newUsers": "count(DISTINCT vid) FILTER (WHERE has_new)",
    "sessions": _SESSIONS,
    "engagedSessions": _ENGAGED,
    "engagementRate": _RATE,
    "bounceRate": f"CASE WHEN {_SESSIONS} = 0 THEN 0.0 ELSE 1.0 - {_RATE} END",
    "averageSessionDuration": "coalesce(avg(dur), 0) / 1e6",
    "screenPageViews": "sum(views)",
    "screenPageViewsPerSession": f"sum(views){_PER_SESSION_RATIO}",
    "eventCount": "sum(events)",
    "eventsPerSession": f"sum(events){_PER_SESSION_RATIO}",
    "sessionsPerUser": f"{_SESSIONS}::DOUBLE / nullif(count(DISTINCT vid), 0)",
    "userEngagementDuration": "sum(eng) / 1000.0",
    "keyEvents": "sum(key_events)",
    "totalRevenue": "sum(revenue)",
}
INTEGER_METRICS = {n for n, m in catalog.METRICS.items() if m.type == "TYPE_INTEGER"}

_PER_SESSION = """
    count(*) AS events,
    count(*) FILTER (WHERE ev IN ('page_view', 'screen_view')) AS views,
    sum(eng) AS eng,
    count(*) FILTER (WHERE key_ev) AS key_events,
    sum(revenue) AS revenue,
    bool_or(is_new) AS has_new,
    bool_or(engaged OR is_new OR eng > 0) AS active,
    any_value(engaged) AS engaged,
    any_value(dur) AS dur,
    any_value(vid) AS vid
"""


class Params:
    """Bound parameters in order; ``now_us`` anchors realtime's minutesAgo."""

    def __init__(self, now_us: int | None = None) -> None:
        self.values: list[Any] = []
        self.now_us = now_us

    def add(self, value: Any) -> str:
        self.values.append(value)
        return "?"


def dimension_sql(name: str, p: Params) -> str:
    if name == "dateRange":
        return "r.range_name"
    if name == "minutesAgo" and p.now_us is not None:
        return f"lpad(CAST(({p.add(p.now_us)} - e.event_time) // 60000000 AS VARCHAR), 2, '0')"
    if name in REALTIME_DIMENSION_SQL:
        return f"coalesce(nullif({REALTIME_DIMENSION_SQL[name]}, ''), '{NOT_SET}')"
    param = catalog.custom_param(name)
    expr = f"e.params[{p.add(param)}]" if param is not None else DIMENSION_SQL[name]
    return f"coalesce(nullif({expr}, ''), '{NOT_SET}')"


def filter_sql(node: FilterNode, p: Params) -> str:
    match node:
        case And(parts):
            return "(" + " AND ".join(filter_sql(x, p) for x in parts) + ")"
        case Or(parts):
            return "(" + " OR ".join(filter_sql(x, p) for x in parts) + ")"
        case Not(part):
            return f"(NOT {filter_sql(part, p)})"
        case StringMatch(field, match_type, value, case_sensitive):
            x = dimension_sql(field, p)
            if match_type in ("FULL_REGEXP", "PARTIAL_REGEXP"):
                fn = "regexp_full_match" if match_type == "FULL_REGEXP" else "regexp_matches"
                options = "" if case_sensitive else ", 'i'"
                return f"{fn}({x}, {p.add(value)}{options})"
            if not case_sensitive:
                x, value = f"lower({x})", value.lower()
            ph = p.add(value)
            return {
                "EXACT": f"{x} = {ph}",
                "BEGINS_WITH": f"starts_with({x}, {ph})",
                "ENDS_WITH": f"suffix({x}, {ph})",
                "CONTAINS": f"contains({x}, {ph})",
            }[match_type]
        case InList(field, values, case_sensitive):
            x = dimension_sql(field, p)
            if not case_sensitive:
                x, values = f"lower({x})", tuple(v.lower() for v in values)
            return f"list_contains({p.add(list(values))}, {x})"
        case NumericCompare(field, operation, value):
            op = {
                "EQUAL": "=",
                "LESS_THAN": "<",
                "LESS_THAN_OR_EQUAL": "<=",
                "GREATER_THAN": ">",
                "GREATER_THAN_OR_EQUAL": ">=",
            }[operation]
            return f"TRY_CAST({dimension_sql(field, p)} AS DOUBLE) {op} {p.add(value)}"
        case Between(field, low, high):
            return f"TRY_CAST({dimension_sql(field, p)} AS DOUBLE) BETWEEN {p.add(low)} AND {p.add(high)}"
        case IsEmpty(field):
            return f"{dimension_sql(field, p)} = '{NOT_SET}'"
    raise AssertionError(f"unknown filter node {node!r}")


def _source(query: ReportQuery, dims: tuple[str, ...], p: Params) -> str:
    """The ``base`` and ``per_session`` CTEs for the given dimensions."""
    ranges = ", ".join(
        f"({p.add(r.name)}, {p.add(r.start)}::DATE, {p.add(r.end)}::DATE)"
        for r in query.date_ranges
    )
    dim_cols = [f"{dimension_sql(d, p)} AS d{i}" for i, d in enumerate(dims)]
    lo = min(r.start for r in query.date_ranges)
    hi = max(r.end for r in query.date_ranges)
    where = [
        f"e.property_id = {p.add(query.property_id)}",
        f"e.event_date BETWEEN {p.add(lo)}::DATE AND {p.add(hi)}::DATE",
    ]
    if query.filter is not None:
        where.append(filter_sql(query.filter, p))
    group = ", ".join([f"d{i}" for i in range(len(dims))] + ["sk"])
    return f"""
WITH r(range_name, lo, hi) AS (VALUES {ranges}),
base AS (
  SELECT {", ".join([*dim_cols, ""])}
    e.session_key AS sk, e.visitor_id AS vid, e.event_name AS ev,
    e.engagement_time_ms AS eng, e.is_key_event AS key_ev,
    CASE WHEN e.event_name = 'purchase' THEN coalesce(e.value, 0.0) ELSE 0.0 END AS revenue,
    s.engaged AS engaged, s.end_time - s.start_time AS dur,
    (v.first_event_id = e.event_id) AS is_new
  FROM events e
  JOIN r ON e.event_date BETWEEN r.lo AND r.hi
  JOIN sessions s ON s.property_id = e.property_id AND s.session_key = e.session_key
  JOIN visitors v ON v.property_id = e.property_id AND v.visitor_id = e.visitor_id
  WHERE {" AND ".join(where)}
),
per_session AS (
  SELECT {", ".join([*[f"d{i}" for i in range(len(dims))], ""])} sk, {_PER_SESSION}
  FROM base GROUP BY {group}
)"""


def _metric_cols(query: ReportQuery) -> str:
    return ", ".join(f"{METRIC_SQL[m]} AS m{i}" for i, m in enumerate(query.metrics))


def order_sql(query: ReportQuery) -> str:
    parts: list[str] = []
    for ob in query.order_bys:
        direction = "DESC" if ob.desc else "ASC"
        if ob.is_metric:
            parts.append(f"m{query.metrics.index(ob.field)} {direction}")
            continue
        col = f"d{query.dimensions.index(ob.field)}"
        if ob.order_type == "NUMERIC":
            col = f"TRY_CAST({col} AS DOUBLE)"
        elif ob.order_type == "CASE_INSENSITIVE_ALPHANUMERIC":
            col = f"lower({col})"
        parts.append(f"{col} {direction} NULLS LAST")
    if not query.order_bys:
        parts.append("m0 DESC")
    parts.extend(f"d{i} ASC" for i in range(len(query.dimensions)))
    return ", ".join(parts)


def metric_values(query: ReportQuery, row: tuple[Any, ...]) -> tuple[int | float, ...]:
    out: list[int | float] = []
    for name, value in zip(query.metrics, row, strict=True):
        number = 0 if value is None else value
        out.append(int(number) if name in INTEGER_METRICS else float(number))
    return tuple(out)


def run_report(cur: duckdb.DuckDBPyConnection, query: ReportQuery) -> ReportResult:
    dims = query.dimensions
    nd, nm = len(dims), len(query.metrics)
    p = Params()
    source = _source(query, dims, p)
    group_by = ", ".join(f"d{i}" for i in range(nd)) or "()"
    aggregates = ""
    if query.aggregations & {"MINIMUM", "MAXIMUM"}:
        aggregates = ", " + ", ".join(f"min(m{i}) OVER (), max(m{i}) OVER ()" for i in range(nm))
    sql = f"""{source},
grouped AS (
  SELECT {", ".join([*[f"d{i}" for i in range(nd)], ""])} {_metric_cols(query)}
  FROM per_session GROUP BY {group_by} HAVING count(*) > 0
)
SELECT *, count(*) OVER () AS row_count{aggregates}
FROM grouped ORDER BY {order_sql(query)} LIMIT {p.add(query.limit)} OFFSET {p.add(query.offset)}"""
    rows = execute(cur, sql, p.values)
    result_rows = [ReportRow(tuple(r[:nd]), metric_values(query, r[nd : nd + nm])) for r in rows]
    row_count = int(rows[0][nd + nm]) if rows else _count_rows(cur, query)
    minimums: list[ReportRow] = []
    maximums: list[ReportRow] = []
    if rows and aggregates:
        agg = rows[0][nd + nm + 1 :]
        if "MINIMUM" in query.aggregations:
            minimums = [ReportRow(("RESERVED_MIN",) * nd, metric_values(query, tuple(agg[0::2])))]
        if "MAXIMUM" in query.aggregations:
            maximums = [ReportRow(("RESERVED_MAX",) * nd, metric_values(query, tuple(agg[1::2])))]
    totals = _totals(cur, query) if "TOTAL" in query.aggregations else []
    return ReportResult(
        rows=result_rows, row_count=row_count, totals=totals, minimums=minimums, maximums=maximums
    )


def _count_rows(cur: duckdb.DuckDBPyConnection, query: ReportQuery) -> int:
    """rowCount when the page is empty (offset past the end): count the groups directly."""
    if query.offset == 0:
        return 0
    p = Params()
    nd = len(query.dimensions)
    group_by = ", ".join(f"d{i}" for i in range(nd)) or "()"
    sql = f"{_source(query, query.dimensions, p)} SELECT count(*) FROM (SELECT 1 FROM per_session GROUP BY {group_by})"
    return int(execute(cur, sql, p.values)[0][0])


def _totals(cur: duckdb.DuckDBPyConnection, query: ReportQuery) -> list[ReportRow]:
    nd = len(query.dimensions)
    by_range = nd > 0 and query.dimensions[0] == "dateRange"
    dims: tuple[str, ...] = ("dateRange",) if by_range else ()
    p = Params()
    sql = f"""{_source(query, dims, p)}
SELECT {"d0, " if by_range else ""}{_metric_cols(query)} FROM per_session
GROUP BY {"d0" if by_range else "()"} ORDER BY {"d0" if by_range else "1"}"""
    rows = execute(cur, sql, p.values)
    if not by_range:
        return [ReportRow(("RESERVED_TOTAL",) * nd, metric_values(query, tuple(r))) for r in rows]
    found = {r[0]: metric_values(query, tuple(r[1:])) for r in rows}
    zeros = metric_values(query, (0,) * len(query.metrics))
    # one totals row per date range, in request order, zeros where a range has no data
    return [
        ReportRow((r.name, *(["RESERVED_TOTAL"] * (nd - 1))), found.get(r.name, zeros))
        for r in query.date_ranges
    ]


def execute(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    try:
        return cur.execute(sql, params).fetchall()
    except duckdb.InvalidInputException as exc:
        # the only user-controlled text that DuckDB parses is a regular expression
        raise invalid(
            f"dimensionFilter: invalid regular expression ({str(exc).splitlines()[0][:200]})"
        ) from None
