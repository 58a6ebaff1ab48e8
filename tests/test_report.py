"""runReport: validation (400s naming the field), filters, ordering, paging, aggregations, dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import ADMIN_KEY, CLOCK, IPHONE, TEST_NOW, App, make_settings
from footfall.report import catalog
from footfall.serve import Runtime
from footfall.store.duckdb.report_sql import DIMENSION_SQL, METRIC_SQL

ZONE = ZoneInfo("America/New_York")
TODAY = TEST_NOW.astimezone(ZONE).date()


def at(days_ago: int, hour: int, minute: int = 0) -> int:
    local = dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(hour, minute), ZONE)
    return int(local.timestamp() * 1_000_000)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    runtime = Runtime(
        make_settings(tmp_path_factory.mktemp("report"), default_time_zone="America/New_York"),
        clock=CLOCK,
    )
    app = App(runtime)
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}

    def send(client: str, events: list[dict[str, Any]], ua: str | None = None) -> None:
        headers = {**auth, **({"user-agent": ua} if ua else {})}
        r = app.collect({"client_id": client, "events": events}, headers=headers)
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text

    def pv(path: str, t: int, **params: Any) -> dict[str, Any]:
        return {
            "name": "page_view",
            "timestamp_micros": t,
            "params": {
                "page_location": f"https://Shop.example.com{path}",
                "page_title": path.title(),
                **params,
            },
        }

    # yesterday: alice reads two pages from Google (engaged); bob bounces on /pricing (not engaged)
    send(
        "alice",
        [
            pv("/", at(1, 9), page_referrer="https://www.google.com/", engagement_time_msec=4000),
            pv("/Blog/Tea", at(1, 9, 5), engagement_time_msec=20000),
            {
                "name": "select_item",
                "timestamp_micros": at(1, 9, 6),
                "params": {"item_name": "Kettle"},
            },
        ],
    )
    send("bob", [pv("/pricing", at(1, 14))], ua=IPHONE)
    # today: alice comes back directly and buys
    send(
        "alice",
        [
            pv("/cart", at(0, 0, 5)),
            {
                "name": "purchase",
                "timestamp_micros": at(0, 0, 6),
                "params": {"value": 42.5, "currency": "USD"},
            },
        ],
    )
    assert app.process() == 6
    yield app
    runtime.stop()


def report(app: App, **body: Any) -> Any:
    body.setdefault("dateRanges", [{"startDate": "7daysAgo", "endDate": "today"}])
    return app.report(body)


def rows(app: App, **body: Any) -> dict[tuple[str, ...], list[str]]:
    body.setdefault("dateRanges", [{"startDate": "7daysAgo", "endDate": "today"}])
    return app.rows(body)


def dims(*names: str) -> list[dict[str, str]]:
    return [{"name": n} for n in names]


def f(field: str, **kind: Any) -> dict[str, Any]:
    return {"filter": {"fieldName": field, **kind}}


def test_every_catalog_name_is_known_to_the_duckdb_compiler() -> None:
    assert set(catalog.DIMENSIONS) == set(DIMENSION_SQL)
    assert set(catalog.METRICS) == set(METRIC_SQL)


def test_every_dimension_and_metric_runs(data: App) -> None:
    for name in catalog.DIMENSIONS:
        r = report(data, dimensions=dims(name), metrics=dims(*list(catalog.METRICS)[:10]))
        assert r.status_code == 200, (name, r.text)
    r = report(data, metrics=dims(*list(catalog.METRICS)[10:]))
    assert r.status_code == 200, r.text


def test_response_shape(data: App) -> None:
    body = report(data, dimensions=dims("date"), metrics=dims("sessions", "bounceRate")).json()
    assert body["dimensionHeaders"] == [{"name": "date"}]
    assert body["metricHeaders"] == [
        {"name": "sessions", "type": "TYPE_INTEGER"},
        {"name": "bounceRate", "type": "TYPE_FLOAT"},
    ]
    assert body["metadata"] == {"currencyCode": "USD", "timeZone": "America/New_York"}
    assert body["rowCount"] == 2
    assert all(isinstance(v["value"], str) for row in body["rows"] for v in row["metricValues"])


def test_metrics_follow_ga4_definitions(data: App) -> None:
    y = (TODAY - dt.timedelta(days=1)).strftime("%Y%m%d")
    t = TODAY.strftime("%Y%m%d")
    got = rows(
        data,
        dimensions=dims("date"),
        metrics=dims(
            "totalUsers",
            "newUsers",
            "activeUsers",
            "sessions",
            "engagedSessions",
            "bounceRate",
            "screenPageViews",
            "eventCount",
            "keyEvents",
            "totalRevenue",
        ),
    )
    # yesterday: alice (engaged, new) and bob (bounce, new, no engagement time: not active)
    assert got[(y,)] == ["2", "2", "2", "2", "1", "0.5", "3", "4", "0", "0"]
    # today: alice again, one session with a key event (engaged), not new
    assert got[(t,)] == ["1", "0", "1", "1", "1", "0", "1", "2", "1", "42.5"]


def test_session_scoped_dimensions(data: App) -> None:
    got = rows(
        data,
        dimensions=dims(
            "sessionSource", "sessionMedium", "sessionDefaultChannelGroup", "landingPage"
        ),
        metrics=dims("sessions"),
    )
    assert got == {
        ("google", "organic", "Organic Search", "/"): ["1"],
        ("(direct)", "(none)", "Direct", "/pricing"): ["1"],
        ("(direct)", "(none)", "Direct", "/cart"): ["1"],
    }


def test_custom_event_parameters_and_not_set(data: App) -> None:
    got = rows(data, dimensions=dims("customEvent:item_name"), metrics=dims("eventCount"))
    assert got == {("Kettle",): ["1"], ("(not set)",): ["5"]}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (f("pagePath", stringFilter={"matchType": "EXACT", "value": "/pricing"}), {"/pricing"}),
        (f("pagePath", stringFilter={"matchType": "EXACT", "value": "/blog/tea"}), {"/Blog/Tea"}),
        (
            f(
                "pagePath",
                stringFilter={"matchType": "EXACT", "value": "/blog/tea", "caseSensitive": True},
            ),
            set(),
        ),
        (f("pagePath", stringFilter={"matchType": "BEGINS_WITH", "value": "/b"}), {"/Blog/Tea"}),
        (f("pagePath", stringFilter={"matchType": "ENDS_WITH", "value": "RT"}), {"/cart"}),
        (f("pagePath", stringFilter={"matchType": "CONTAINS", "value": "ic"}), {"/pricing"}),
        (
            f("pagePath", stringFilter={"matchType": "FULL_REGEXP", "value": "/(cart|pricing)"}),
            {"/cart", "/pricing"},
        ),
        (f("pagePath", stringFilter={"matchType": "FULL_REGEXP", "value": "/car"}), set()),
        (f("pagePath", stringFilter={"matchType": "PARTIAL_REGEXP", "value": "^/c"}), {"/cart"}),
        (
            f(
                "pagePath",
                stringFilter={"matchType": "PARTIAL_REGEXP", "value": "TEA", "caseSensitive": True},
            ),
            set(),
        ),
        (f("pagePath", inListFilter={"values": ["/", "/CART"]}), {"/", "/cart"}),
        (f("pagePath", inListFilter={"values": ["/", "/CART"], "caseSensitive": True}), {"/"}),
        (
            {"notExpression": f("pagePath", inListFilter={"values": ["/", "/cart"]})},
            {"/Blog/Tea", "/pricing", "(not set)"},
        ),
        (
            {
                "andGroup": {
                    "expressions": [
                        f("deviceCategory", stringFilter={"value": "desktop"}),
                        f("pagePath", stringFilter={"matchType": "BEGINS_WITH", "value": "/c"}),
                    ]
                }
            },
            {"/cart"},
        ),
        (
            {
                "orGroup": {
                    "expressions": [
                        f("deviceCategory", stringFilter={"value": "mobile"}),
                        f("pagePath", stringFilter={"value": "/"}),
                    ]
                }
            },
            {"/", "/pricing"},
        ),
        # select_item has no page: its path is "(not set)", and it is in the organic session
        (
            f("sessionDefaultChannelGroup", stringFilter={"value": "Organic Search"}),
            {"/", "/Blog/Tea", "(not set)"},
        ),
        (f("pagePath", emptyFilter={}), {"(not set)"}),
    ],
)
def test_dimension_filters(data: App, flt: dict[str, Any], expected: set[str]) -> None:
    got = rows(
        data, dimensions=dims("pagePath"), metrics=dims("screenPageViews"), dimensionFilter=flt
    )
    assert {k[0] for k in got} == expected


def test_order_limit_offset_and_row_count(data: App) -> None:
    body = {
        "dimensions": dims("pagePath"),
        "metrics": dims("screenPageViews"),
        "orderBys": [{"dimension": {"dimensionName": "pagePath"}, "desc": True}],
        "limit": 2,
        "offset": 1,
    }
    r = report(data, **body).json()
    assert [row["dimensionValues"][0]["value"] for row in r["rows"]] == ["/cart", "/Blog/Tea"]
    assert r["rowCount"] == 5  # four pages and "(not set)" for events without a page
    past_end = report(data, **{**body, "offset": 10}).json()
    assert "rows" not in past_end and past_end["rowCount"] == 5
    by_hour = report(
        data,
        dimensions=dims("hour"),
        metrics=dims("eventCount"),
        orderBys=[{"dimension": {"dimensionName": "hour", "orderType": "NUMERIC"}}],
    ).json()
    hours = [row["dimensionValues"][0]["value"] for row in by_hour["rows"]]
    assert hours == sorted(hours, key=int)


def test_metric_aggregations(data: App) -> None:
    r = report(
        data,
        dimensions=dims("pagePath"),
        metrics=dims("totalUsers", "screenPageViews"),
        metricAggregations=["TOTAL", "MINIMUM", "MAXIMUM"],
    ).json()
    # the total counts distinct users, not the sum of the rows (alice is on three rows)
    assert [v["value"] for v in r["totals"][0]["metricValues"]] == ["2", "4"]
    assert r["totals"][0]["dimensionValues"] == [{"value": "RESERVED_TOTAL"}]
    assert [v["value"] for v in r["minimums"][0]["metricValues"]] == [
        "1",
        "0",
    ]  # the "(not set)" page
    assert [v["value"] for v in r["maximums"][0]["metricValues"]] == ["1", "1"]


def test_several_date_ranges_add_a_date_range_dimension(data: App) -> None:
    r = report(
        data,
        dateRanges=[
            {"startDate": "yesterday", "endDate": "yesterday"},
            {"startDate": "today", "endDate": "today", "name": "now"},
        ],
        metrics=dims("sessions"),
        metricAggregations=["TOTAL"],
    ).json()
    assert r["dimensionHeaders"] == [{"name": "dateRange"}]
    got = {row["dimensionValues"][0]["value"]: row["metricValues"][0]["value"] for row in r["rows"]}
    assert got == {"date_range_0": "2", "now": "1"}
    assert len(r["totals"]) == 2


def test_date_ranges_are_in_the_property_time_zone(data: App) -> None:
    explicit = TODAY.isoformat()
    got = rows(
        data, dateRanges=[{"startDate": explicit, "endDate": explicit}], metrics=dims("eventCount")
    )
    # 00:05 local today is still "yesterday" in UTC: it must count for today
    assert got == {(): ["2"]}


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"metrics": dims("sessions"), "dimensions": dims("nope")}, 400, "dimensions[0]"),
        ({"metrics": dims("nope")}, 400, "metrics[0]"),
        ({"metrics": []}, 400, "metrics"),
        ({"metrics": dims("sessions", "sessions")}, 400, "twice"),
        (
            {
                "metrics": dims("sessions"),
                "dateRanges": [{"startDate": "2024-13-01", "endDate": "today"}],
            },
            400,
            "dateRanges[0].startDate",
        ),
        (
            {
                "metrics": dims("sessions"),
                "dateRanges": [{"startDate": "today", "endDate": "yesterday"}],
            },
            400,
            "after",
        ),
        ({"metrics": dims("sessions"), "dateRanges": []}, 400, "dateRanges"),
        (
            {"metrics": dims("sessions"), "orderBys": [{"metric": {"metricName": "eventCount"}}]},
            400,
            "orderBys[0].metric.metricName",
        ),
        (
            {
                "metrics": dims("sessions"),
                "dimensionFilter": f("sessions", stringFilter={"value": "1"}),
            },
            400,
            "is a metric",
        ),
        (
            {
                "metrics": dims("sessions"),
                "dimensionFilter": f(
                    "pagePath", stringFilter={"matchType": "FULL_REGEXP", "value": "("}
                ),
            },
            400,
            "regular expression",
        ),
        (
            {
                "metrics": dims("sessions"),
                "dimensionFilter": f("pagePath", stringFilter={"matchType": "FUZZY", "value": "x"}),
            },
            400,
            "matchType",
        ),
        (
            {"metrics": dims("sessions"), "dimensionFilter": {"notExpression": {}}},
            400,
            "exactly one",
        ),
        ({"metrics": dims("sessions"), "cohortSpec": {"cohorts": [{}]}}, 400, "cohortSpec"),
        ({"metrics": dims("sessions"), "limit": 300000}, 400, "limit"),
        (
            {"metrics": dims("sessions"), "metricAggregations": ["MEDIAN"]},
            400,
            "metricAggregations[0]",
        ),
        (
            {"metrics": dims("sessions"), "dimensions": dims("customEvent:bad-name")},
            400,
            "dimensions[0]",
        ),
        ({"metrics": dims(*list(catalog.METRICS)[:11])}, 400, "limit is 10"),
    ],
)
def test_bad_requests_name_the_field(
    data: App, body: dict[str, Any], status: int, needle: str
) -> None:
    r = report(data, **body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert (
        needle in error["message"]
        and error["status"] == "INVALID_ARGUMENT"
        and error["code"] == 400
    )


def test_malformed_json_and_wrong_types(data: App) -> None:
    url = f"/v1beta/properties/{data.property.property_id}:runReport"
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}
    assert data.http.post(url, content=b"{oops", headers=auth).status_code == 400
    r = data.http.post(url, json={"metrics": "sessions"}, headers=auth)
    assert r.status_code == 400 and "metrics" in r.json()["error"]["message"]
    limit_as_string = data.http.post(
        url,
        headers=auth,
        json={
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "metrics": dims("sessions"),
            "limit": "5",
        },
    )
    assert limit_as_string.status_code == 200  # int64 fields arrive as strings from GA4 clients


def test_keys_and_properties(data: App, tmp_path: Path) -> None:
    body = {"dateRanges": [{"startDate": "today", "endDate": "today"}], "metrics": dims("sessions")}
    pid = data.property.property_id
    assert data.http.post(f"/v1beta/properties/{pid}:runReport", json=body).status_code == 401
    assert data.report(body, token="wrong-token").status_code == 401
    ok = data.http.post(
        f"/v1beta/properties/{pid}:runReport", json=body, headers={"x-goog-api-key": ADMIN_KEY}
    )
    assert ok.status_code == 200
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}
    assert (
        data.http.post(
            "/v1beta/properties/999999999:runReport", json=body, headers=auth
        ).status_code
        == 404
    )
    assert (
        data.http.post("/v1beta/properties/abc:runReport", json=body, headers=auth).status_code
        == 400
    )
    assert (
        data.http.post(
            f"/v1beta/properties/{pid}:runPivotReport", json=body, headers=auth
        ).status_code
        == 404
    )
    meta = data.http.get(f"/v1beta/properties/{pid}/metadata", headers=auth).json()
    assert {m["apiName"] for m in meta["metrics"]} == set(catalog.METRICS)
