"""Compile a :class:`ReportQuery` to SQL and run it: DuckDB's, or Spark SQL's over Cassandra.

Names come only from the tables below (keyed by catalog names); every value from the request
is a bound parameter. The query has three levels:

1. ``base``: one row per event in the date ranges and filter, with its dimension values;
2. ``per_session``: one row per (dimensions, session), so session metrics count each session
   once per row even when it has many events;
3. ``grouped``: one row per dimension combination, with the GA4 metrics.

Totals run the same query without dimensions, so distinct users and sessions are never summed.
The SQL is the subset DuckDB and Spark SQL share; the few functions they spell differently are
a :class:`Dialect`'s. On DuckDB, ``generation`` picks the property's live derived rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

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
from footfall.schema.money import amount

NOT_SET = "(not set)"


class Dialect(msgspec.Struct, frozen=True):
    name: str
    date_format: str  # {x}: a DATE as YYYYMMDD
    starts_with: str
    ends_with: str

    def regexp(self, x: str, pattern: str, *, full: bool, case_sensitive: bool) -> str:
        """``x`` matches ``pattern`` (a placeholder) in full or in part."""
        if self.name == "duckdb":
            fn = "regexp_full_match" if full else "regexp_matches"
            options = "" if case_sensitive else ", 'i'"
            return f"{fn}({x}, {pattern}{options})"
        flags = "" if case_sensitive else "(?i)"
        wrapped = (
            f"concat('{flags}^(?:', {pattern}, ')$')"
            if full
            else (f"concat('{flags}', {pattern})" if flags else pattern)
        )
        return f"{x} RLIKE {wrapped}"


DUCKDB = Dialect("duckdb", "strftime({x}, '%Y%m%d')", "starts_with", "suffix")
SPARK = Dialect("spark", "date_format({x}, 'yyyyMMdd')", "startswith", "endswith")
Execute = Callable[[str, list[Any]], list[tuple[Any, ...]]]

DIMENSION_SQL: dict[str, str] = {
    "date": "{date}",
    "dateHour": "{date} || lpad(CAST(e.event_hour AS STRING), 2, '0')",
    "hour": "lpad(CAST(e.event_hour AS STRING), 2, '0')",
    "pagePath": "e.page_path",
    "pageTitle": "e.page_title",
    "unifiedScreenName": "e.page_title",  # an app's screen name is stored as the page title
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
    "operatingSystemVersion": "e.os_version",
    "operatingSystemWithVersion": "trim(e.os || ' ' || e.os_version)",
    "language": "e.language",
    "languageCode": "e.language_code",
    "screenResolution": "e.screen_resolution",
}

_SESSIONS = "count(*)"
_ENGAGED = "count(*) FILTER (WHERE engaged)"
_PER_SESSION_RATIO = (
    " AS DOUBLE) / nullif(count(*), 0)"  # NULL (reported as 0) when there are no sessions
)
_RATE = f"CASE WHEN {_SESSIONS} = 0 THEN 0.0 ELSE CAST({_ENGAGED} AS DOUBLE) / {_SESSIONS} END"


def _money_sql(terms: tuple[tuple[str, int], ...]) -> str:
    """A currency metric from the catalog's money terms: sums of per-session sums, in micros."""
    parts = [f"{'-' if sign < 0 else '+'} sum(money_{measure})" for measure, sign in terms]
    return "(" + " ".join(parts).removeprefix("+ ") + ")"


# each money measure per event: its value (micros) if its name is one of the measure's events
_MONEY_COLUMNS = ",\n    ".join(
    f"CASE WHEN e.event_name IN ({', '.join(repr(n) for n in names)}) "
    f"THEN coalesce(e.value_micros, 0) ELSE 0 END AS money_{measure}"
    for measure, names in catalog.MONEY_MEASURES.items()
)
_MONEY_SUMS = "".join(
    f",\n    sum(money_{measure}) AS money_{measure}" for measure in catalog.MONEY_MEASURES
)

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
    "screenPageViewsPerSession": f"CAST(sum(views){_PER_SESSION_RATIO}",
    "eventCount": "sum(events)",
    "eventsPerSession": f"CAST(sum(events){_PER_SESSION_RATIO}",
    "sessionsPerUser": f"CAST({_SESSIONS} AS DOUBLE) / nullif(count(DISTINCT vid), 0)",
    "userEngagementDuration": "sum(eng) / 1000.0",
    "keyEvents": "sum(key_events)",
    **{name: _money_sql(catalog.METRICS[name].money) for name in catalog.CURRENCY_METRICS},
}
INTEGER_METRICS = {n for n, m in catalog.METRICS.items() if m.type == "TYPE_INTEGER"}

_PER_SESSION = (
    """
    count(*) AS events,
    count(*) FILTER (WHERE ev IN ('page_view', 'screen_view')) AS views,
    sum(eng) AS eng,
    count(*) FILTER (WHERE key_ev) AS key_events,
    bool_or(is_new) AS has_new,
    bool_or(engaged OR is_new OR eng > 0) AS active,
    any_value(engaged) AS engaged,
    any_value(dur) AS dur,
    any_value(vid) AS vid"""
    + _MONEY_SUMS
    + "\n"
)


class Params:
    """Bound parameters in order; ``now_us`` anchors realtime's minutesAgo."""

    def __init__(self, now_us: int | None = None, dialect: Dialect = DUCKDB) -> None:
        self.values: list[Any] = []
        self.now_us = now_us
        self.dialect = dialect

    def add(self, value: Any) -> str:
        self.values.append(value)
        return "?"


def dimension_sql(name: str, p: Params) -> str:
    if name == "dateRange":
        return "r.range_name"
    if name == "minutesAgo" and p.now_us is not None:
        return f"lpad(CAST(({p.add(p.now_us)} - e.event_time) // 60000000 AS STRING), 2, '0')"
    param = catalog.custom_param(name)
    expr = f"e.params[{p.add(param)}]" if param is not None else DIMENSION_SQL[name]
    expr = expr.replace("{date}", p.dialect.date_format.format(x="e.event_date"))
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
                return p.dialect.regexp(
                    x,
                    p.add(value),
                    full=match_type == "FULL_REGEXP",
                    case_sensitive=case_sensitive,
                )
            if not case_sensitive:
                x, value = f"lower({x})", value.lower()
            ph = p.add(value)
            return {
                "EXACT": f"{x} = {ph}",
                "BEGINS_WITH": f"{p.dialect.starts_with}({x}, {ph})",
                "ENDS_WITH": f"{p.dialect.ends_with}({x}, {ph})",
                "CONTAINS": f"contains({x}, {ph})",
            }[match_type]
        case InList(field, values, case_sensitive):
            x = dimension_sql(field, p)
            if not case_sensitive:
                x, values = f"lower({x})", tuple(v.lower() for v in values)
            return f"{x} IN ({', '.join(p.add(v) for v in values)})"
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


def _source(
    query: ReportQuery, dims: tuple[str, ...], p: Params, generation: int | None = None
) -> str:
    """The ``base`` and ``per_session`` CTEs for the given dimensions (of one generation)."""
    ranges = " UNION ALL ".join(
        f"SELECT {p.add(r.name)} AS range_name, CAST({p.add(r.start)} AS DATE) AS lo, "
        f"CAST({p.add(r.end)} AS DATE) AS hi"
        for r in query.date_ranges
    )
    dim_cols = [f"{dimension_sql(d, p)} AS d{i}" for i, d in enumerate(dims)]
    lo = min(r.start for r in query.date_ranges)
    hi = max(r.end for r in query.date_ranges)
    where = [
        f"e.property_id = {p.add(query.property_id)}",
        f"e.event_date BETWEEN CAST({p.add(lo)} AS DATE) AND CAST({p.add(hi)} AS DATE)",
    ]
    same = ""
    if generation is not None:
        where.append(f"e.generation = {p.add(generation)}")
        same = " AND {t}.generation = e.generation"
    if query.filter is not None:
        where.append(filter_sql(query.filter, p))
    group = ", ".join([f"d{i}" for i in range(len(dims))] + ["sk"])
    return f"""
WITH r AS ({ranges}),
base AS (
  SELECT {", ".join([*dim_cols, ""])}
    e.session_key AS sk, e.visitor_id AS vid, e.event_name AS ev,
    e.engagement_time_ms AS eng, e.is_key_event AS key_ev,
    {_MONEY_COLUMNS},
    s.engaged AS engaged, s.end_time - s.start_time AS dur,
    (v.first_event_id = e.event_id) AS is_new
  FROM events e
  JOIN r ON e.event_date BETWEEN r.lo AND r.hi
  JOIN sessions s ON s.property_id = e.property_id AND s.visitor_id = e.visitor_id
    AND s.session_key = e.session_key{same.format(t="s")}
  JOIN visitors v ON v.property_id = e.property_id AND v.visitor_id = e.visitor_id{same.format(t="v")}
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


def metric_values(query: ReportQuery, row: tuple[Any, ...]) -> tuple[MetricValue, ...]:
    """Metric values as reported: integers, floats, and currency amounts from integer micros."""
    out: list[MetricValue] = []
    for name, value in zip(query.metrics, row, strict=True):
        number = 0 if value is None else value
        if name in INTEGER_METRICS:
            out.append(int(number))
        elif name in catalog.CURRENCY_METRICS:
            out.append(amount(int(number)))
        else:
            out.append(float(number))
    return tuple(out)


def _group_by(columns: str) -> str:
    return f"GROUP BY {columns}" if columns else ""


def run_report(
    run: Execute, query: ReportQuery, dialect: Dialect = DUCKDB, generation: int | None = None
) -> ReportResult:
    """Answer ``query`` with ``run`` (SQL and its bound values → rows) in ``dialect``, over
    the derived rows of ``generation`` (DuckDB) or all rows (Spark's views hold one)."""
    dims = query.dimensions
    nd, nm = len(dims), len(query.metrics)
    p = Params(dialect=dialect)
    source = _source(query, dims, p, generation)
    group_by = _group_by(", ".join(f"d{i}" for i in range(nd)))
    aggregates = ""
    if query.aggregations & {"MINIMUM", "MAXIMUM"}:
        aggregates = ", " + ", ".join(f"min(m{i}) OVER (), max(m{i}) OVER ()" for i in range(nm))
    sql = f"""{source},
grouped AS (
  SELECT {", ".join([*[f"d{i}" for i in range(nd)], ""])} {_metric_cols(query)}
  FROM per_session {group_by} HAVING count(*) > 0
)
SELECT *, count(*) OVER () AS row_count{aggregates}
FROM grouped ORDER BY {order_sql(query)} LIMIT {p.add(query.limit)} OFFSET {p.add(query.offset)}"""
    rows = run(sql, p.values)
    result_rows = [ReportRow(tuple(r[:nd]), metric_values(query, r[nd : nd + nm])) for r in rows]
    row_count = int(rows[0][nd + nm]) if rows else _count_rows(run, query, dialect, generation)
    minimums: list[ReportRow] = []
    maximums: list[ReportRow] = []
    if rows and aggregates:
        agg = rows[0][nd + nm + 1 :]
        if "MINIMUM" in query.aggregations:
            minimums = [ReportRow(("RESERVED_MIN",) * nd, metric_values(query, tuple(agg[0::2])))]
        if "MAXIMUM" in query.aggregations:
            maximums = [ReportRow(("RESERVED_MAX",) * nd, metric_values(query, tuple(agg[1::2])))]
    totals = _totals(run, query, dialect, generation) if "TOTAL" in query.aggregations else []
    return ReportResult(
        rows=result_rows, row_count=row_count, totals=totals, minimums=minimums, maximums=maximums
    )


def _count_rows(run: Execute, query: ReportQuery, dialect: Dialect, generation: int | None) -> int:
    """rowCount when the page is empty (offset past the end): count the groups directly."""
    if query.offset == 0:
        return 0
    p = Params(dialect=dialect)
    nd = len(query.dimensions)
    group_by = _group_by(", ".join(f"d{i}" for i in range(nd)))
    sql = (
        f"{_source(query, query.dimensions, p, generation)} SELECT count(*) FROM "
        f"(SELECT 1 AS one FROM per_session {group_by} HAVING count(*) > 0) AS g"
    )
    return int(run(sql, p.values)[0][0])


def _totals(
    run: Execute, query: ReportQuery, dialect: Dialect, generation: int | None
) -> list[ReportRow]:
    nd = len(query.dimensions)
    by_range = nd > 0 and query.dimensions[0] == "dateRange"
    dims: tuple[str, ...] = ("dateRange",) if by_range else ()
    p = Params(dialect=dialect)
    sql = f"""{_source(query, dims, p, generation)}
SELECT {"d0, " if by_range else ""}{_metric_cols(query)} FROM per_session
{_group_by("d0" if by_range else "")} ORDER BY {"d0" if by_range else "1"}"""
    rows = run(sql, p.values)
    if not by_range:
        return [ReportRow(("RESERVED_TOTAL",) * nd, metric_values(query, tuple(r))) for r in rows]
    found = {r[0]: metric_values(query, tuple(r[1:])) for r in rows}
    zeros = metric_values(query, (0,) * len(query.metrics))
    # one totals row per date range, in request order, zeros where a range has no data
    return [
        ReportRow((r.name, *(["RESERVED_TOTAL"] * (nd - 1))), found.get(r.name, zeros))
        for r in query.date_ranges
    ]


def execute(cur: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run DuckDB SQL on a cursor."""
    import duckdb

    try:
        rows: list[tuple[Any, ...]] = cur.execute(sql, params).fetchall()
        return rows
    except duckdb.InvalidInputException as exc:
        # the only user-controlled text that DuckDB parses is a regular expression
        raise invalid(
            f"dimensionFilter: invalid regular expression ({str(exc).splitlines()[0][:200]})"
        ) from None
