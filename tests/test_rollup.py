"""Rollup cells answer reports exactly as the event-level SQL does (below the sketches' nominal
size), however the events are split into partitions and hours before merging."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import ADMIN_KEY, CLOCK, App, make_settings, now_us
from footfall.clock import local_date
from footfall.report.query import ReportQuery
from footfall.report.request import RunReportRequest
from footfall.report.validate import build_query
from footfall.rollup.answer import RollupRow, answer, fitting_set, matches
from footfall.rollup.cells import FACT_COLUMNS, CellKey, Packed, build, merge
from footfall.serve import Runtime
from footfall.simulate.model import simulate
from footfall.simulate.send import body_for, requests_for
from test_e2e import SUITE

ZONE = "Asia/Kolkata"  # +05:30: one UTC hour holds two local hours, sometimes two local dates

FACTS_SQL = """
SELECT e.property_id, e.event_time // 3600000000 * 3600000000 AS hour, e.event_id, e.event_date, e.event_hour,
  e.event_name, e.visitor_id, e.session_key, e.engagement_time_ms, e.is_key_event, e.value_micros,
  e.page_host, e.page_path, e.page_title, e.country, e.country_id, e.device_category,
  e.browser, e.os, e.language, e.language_code, s.engaged AS s_engaged,
  s.start_time AS s_start_time, s.end_time AS s_end_time, s.landing_page AS s_landing_page,
  s.source AS s_source, s.medium AS s_medium, s.campaign AS s_campaign,
  s.channel_group AS s_channel_group, v.first_event_id
FROM events e
JOIN sessions s ON s.property_id = e.property_id AND s.session_key = e.session_key
JOIN visitors v ON v.property_id = e.property_id AND v.visitor_id = e.visitor_id
WHERE e.property_id = ?
"""


def cells_from(facts: list[dict[str, Any]], partitions: int, seed: int) -> dict[CellKey, Packed]:
    """What the Spark job does: build cells per partition (map), merge them by key (reduce)."""
    shuffled = facts[:]
    random.Random(seed).shuffle(shuffled)
    merged: dict[CellKey, Packed] = {}
    for i in range(partitions):
        for key, packed in build(shuffled[i::partitions]):
            merged[key] = merge(merged[key], packed) if key in merged else packed
    return merged


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, dict[CellKey, Packed]]]:
    tmp: Path = tmp_path_factory.mktemp("rollup")
    runtime = Runtime(
        make_settings(tmp, default_time_zone=ZONE, rate_limit_per_key=0, rate_limit_per_property=0),
        clock=CLOCK,
    )
    try:
        app = App(runtime)
        sim = simulate(seed=5, time_zone=ZONE, visitors_per_day=30, days=5, now_us=now_us())
        for headers, part in requests_for(sim.events):
            r = app.collect(
                body_for(part), headers={**headers, "authorization": f"Bearer {ADMIN_KEY}"}
            )
            assert r.status_code == 200, r.text
        app.process()
        with runtime.store._reader() as cur:  # type: ignore[attr-defined]
            found = cur.execute(FACTS_SQL, [app.property.property_id]).fetchall()
        facts = [dict(zip(FACT_COLUMNS, row, strict=True)) for row in found]
        assert len(facts) > 500
        assert {"purchase", "refund"} <= {f["event_name"] for f in facts}
        yield app, cells_from(facts, partitions=3, seed=1)
    finally:
        runtime.stop()


def query_for(app: App, body: dict[str, Any]) -> ReportQuery:
    req = msgspec.convert(body, RunReportRequest, strict=False)
    return build_query(req, app.property.property_id, local_date(now_us(), ZONE))


def rows_of(cells: dict[CellKey, Packed], dimension_set: str) -> list[RollupRow]:
    return [
        RollupRow(k.event_date, k.event_hour, k.dims, p)
        for k, p in cells.items()
        if k.dimension_set == dimension_set
    ]


def both(app: App, cells: dict[CellKey, Packed], body: dict[str, Any]) -> tuple[Any, Any]:
    query = query_for(app, body)
    chosen = fitting_set(query)
    assert chosen is not None, body
    return app.runtime.store.run_report(query), answer(query, chosen, rows_of(cells, chosen))


def _close(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and abs(a - b) <= 1e-9 * max(1.0, abs(a)))


def same(expected: Any, got: Any) -> None:
    assert got.row_count == expected.row_count
    for name in ("rows", "totals", "minimums", "maximums"):
        e_rows, g_rows = getattr(expected, name), getattr(got, name)
        assert [r.dimensions for r in g_rows] == [r.dimensions for r in e_rows], name
        for e, g in zip(e_rows, g_rows, strict=True):
            assert all(_close(x, y) for x, y in zip(e.metrics, g.metrics, strict=True)), (e, g)


WIDE = {"dateRanges": [{"startDate": "10daysAgo", "endDate": "today"}], "limit": 100000}
FITTING = [c for c in SUITE if c.name not in ("custom parameter", "two countries, not organic")]


@pytest.mark.parametrize("case", FITTING, ids=[c.name for c in FITTING])
def test_rollups_answer_the_suite_like_the_events(
    filled: tuple[App, dict[CellKey, Packed]], case: Any
) -> None:
    app, cells = filled
    body: dict[str, Any] = {
        **WIDE,
        "dimensions": [{"name": d} for d in case.dims],
        "metrics": [{"name": m} for m in case.metrics],
        "metricAggregations": ["TOTAL", "MINIMUM", "MAXIMUM"],
    }
    if case.days:
        body["dateRanges"] = [{"startDate": f"{case.days[0]}daysAgo", "endDate": "today"}]
    if case.flt:
        body["dimensionFilter"] = case.flt
    expected, got = both(app, cells, body)
    assert expected.rows, case.name
    same(expected, got)


OTHER: list[dict[str, Any]] = [
    # two ranges (a dateRange dimension), ordering by a dimension numerically, paging
    {
        "dateRanges": [
            {"startDate": "3daysAgo", "endDate": "2daysAgo", "name": "before"},
            {"startDate": "1daysAgo", "endDate": "today", "name": "after"},
        ],
        "dimensions": [{"name": "hour"}],
        "metrics": [{"name": "sessions"}, {"name": "activeUsers"}],
        "orderBys": [
            {"dimension": {"dimensionName": "hour", "orderType": "NUMERIC"}, "desc": True}
        ],
        "metricAggregations": ["TOTAL"],
        "limit": 7,
        "offset": 3,
    },
    # ordering by a metric ascending; a regular expression and a negated numeric filter
    {
        **WIDE,
        "dimensions": [{"name": "pagePath"}, {"name": "pageTitle"}],
        "metrics": [{"name": "bounceRate"}, {"name": "eventsPerSession"}],
        "orderBys": [{"metric": {"metricName": "bounceRate"}}],
        "dimensionFilter": {
            "orGroup": {
                "expressions": [
                    {
                        "filter": {
                            "fieldName": "pagePath",
                            "stringFilter": {"matchType": "PARTIAL_REGEXP", "value": "^/(blog|pr)"},
                        }
                    },
                    {
                        "notExpression": {
                            "filter": {
                                "fieldName": "pageTitle",
                                "numericFilter": {
                                    "operation": "GREATER_THAN",
                                    "value": {"int64Value": "3"},
                                },
                            }
                        }
                    },
                ]
            }
        },
    },
    # a session-scoped set with a case-insensitive filter
    {
        **WIDE,
        "dimensions": [{"name": "sessionSourceMedium"}, {"name": "date"}],
        "metrics": [{"name": "sessionsPerUser"}, {"name": "newUsers"}, {"name": "keyEvents"}],
        "dimensionFilter": {
            "filter": {
                "fieldName": "sessionMedium",
                "stringFilter": {"matchType": "CONTAINS", "value": "O", "caseSensitive": False},
            }
        },
    },
]


@pytest.mark.parametrize("body", OTHER, ids=["ranges and paging", "filters", "source"])
def test_rollups_follow_the_sql_for_ranges_order_and_filters(
    filled: tuple[App, dict[CellKey, Packed]], body: dict[str, Any]
) -> None:
    app, cells = filled
    expected, got = both(app, cells, body)
    assert expected.row_count > 0
    same(expected, got)


def test_a_request_fits_the_smallest_set_or_none(filled: tuple[App, Any]) -> None:
    app, _cells = filled

    def chosen(dims: list[str], flt: dict[str, Any] | None = None) -> str | None:
        body: dict[str, Any] = {
            **WIDE,
            "dimensions": [{"name": d} for d in dims],
            "metrics": [{"name": "sessions"}],
        }
        if flt:
            body["dimensionFilter"] = flt
        return fitting_set(query_for(app, body))

    assert chosen([]) == "time"
    assert chosen(["dateHour"]) == "time"
    assert chosen(["pagePath"]) == "page"
    assert chosen(["country"], {"filter": {"fieldName": "countryId", "emptyFilter": {}}}) == "geo"
    assert chosen(["country", "browser"]) is None
    assert chosen(["customEvent:plan"]) is None
    assert chosen(["pageLocation"]) is None


def test_numeric_filters_on_text_are_unknown_not_false() -> None:
    from footfall.report.query import Not, NumericCompare

    node = NumericCompare("pageTitle", "GREATER_THAN", 3.0)
    assert matches(node, {"pageTitle": "Home"}) is None
    assert matches(Not(node), {"pageTitle": "Home"}) is None
    assert matches(Not(node), {"pageTitle": "2"}) is True
