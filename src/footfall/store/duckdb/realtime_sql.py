"""Realtime reports on DuckDB: recent enriched events in a time window, one level of grouping."""

from __future__ import annotations

import duckdb

from footfall.report.query import ReportQuery, ReportResult, ReportRow
from footfall.store.duckdb.report_sql import (
    Params,
    dimension_sql,
    execute,
    filter_sql,
    metric_values,
    order_sql,
)

METRIC_SQL: dict[str, str] = {
    "activeUsers": "count(DISTINCT e.visitor_id)",
    "eventCount": "count(*)",
    "keyEvents": "count(*) FILTER (WHERE e.is_key_event)",
    "screenPageViews": "count(*) FILTER (WHERE e.event_name IN ('page_view', 'screen_view'))",
}


def run_realtime(
    cur: duckdb.DuckDBPyConnection, query: ReportQuery, generation: int = 0
) -> ReportResult:
    """``query`` over the events of the property's ``generation`` (its live one)."""
    assert query.window is not None
    start, end = query.window
    nd, nm = len(query.dimensions), len(query.metrics)

    def select(dims: tuple[str, ...], p: Params, *, page: bool) -> str:
        cols = [f"{dimension_sql(d, p)} AS d{i}" for i, d in enumerate(dims)]
        cols += [f"{METRIC_SQL[m]} AS m{i}" for i, m in enumerate(query.metrics)]
        where = [
            f"e.property_id = {p.add(query.property_id)}",
            f"e.generation = {p.add(generation)}",
            f"e.event_time > {p.add(start)}",
            f"e.event_time <= {p.add(end)}",
        ]
        if query.filter is not None:
            where.append(filter_sql(query.filter, p))
        group = ", ".join(f"d{i}" for i in range(len(dims))) or "()"
        sql = f"SELECT {', '.join(cols)} FROM events e WHERE {' AND '.join(where)} GROUP BY {group}"
        if not page:
            return sql
        return (
            f"SELECT *, count(*) OVER () FROM ({sql} HAVING count(*) > 0) "
            f"ORDER BY {order_sql(query)} LIMIT {p.add(query.limit)}"
        )

    p = Params(now_us=query.now_us or end)
    rows = execute(cur, select(query.dimensions, p, page=True), p.values)
    result = [ReportRow(tuple(r[:nd]), metric_values(query, r[nd : nd + nm])) for r in rows]
    totals: list[ReportRow] = []
    if "TOTAL" in query.aggregations:
        tp = Params(now_us=query.now_us or end)
        (total,) = execute(cur, select((), tp, page=False), tp.values)
        totals = [ReportRow(("RESERVED_TOTAL",) * nd, metric_values(query, tuple(total)))]
    return ReportResult(rows=result, row_count=int(rows[0][nd + nm]) if rows else 0, totals=totals)
