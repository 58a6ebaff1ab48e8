"""Google's own client, ``google-analytics-data`` over its REST transport, against ``footfall
serve`` on a loopback socket.

The client sends enums as numbers (``$alt=json;enum-encoding=int``), int64 as strings and leaves
default values out. Every request feature footfall supports is sent twice: by the client, and as
plain camelCase JSON with enum names. The client must parse each answer into its own types, and
the two answers must be equal. Where a case is one value of an enum, the plain answers for all
values of that enum are checked to differ from each other on this data, so a number mapped to
the wrong name fails the test.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    BatchRunReportsRequest,
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    GetMetadataRequest,
    Metadata,
    Metric,
    MetricAggregation,
    MetricType,
    MinuteRange,
    RunRealtimeReportRequest,
    RunRealtimeReportResponse,
    RunReportRequest,
    RunReportResponse,
)
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials

from conftest import ADMIN_KEY, CHROME
from server import Server

pytestmark = pytest.mark.e2e

# label: how many recent events carry it (None: the parameter is not set)
LABELS: dict[str | None, int] = {
    "a.c": 1,
    "abc": 2,
    "a.cd": 3,
    "za.c": 4,
    "Xa.cY": 5,
    "A.C": 6,
    None: 7,
}
NUMBERS = ["2", "9", "10", "B", "a"]
PAGES = ["/blog/tea", "/shop/tea", "/about"]
LABEL = "customEvent:label"
NUMBER = "customEvent:n"


class World:
    def __init__(self, server: Server, client: BetaAnalyticsDataClient) -> None:
        self.server = server
        self.client = client
        self.property = f"properties/{server.property_id}"
        self.wire: list[Any] = []  # the requests the client put on the wire
        client.transport._session.hooks["response"].append(  # type: ignore[attr-defined]
            lambda response, *args, **kwargs: self.wire.append(response.request)
        )
        now = dt.datetime.fromtimestamp(time.time(), dt.UTC)
        self.recent = now - dt.timedelta(seconds=60)
        self.older = now - dt.timedelta(days=2)

    def plain(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The same request as plain JSON, with enum names."""
        base = f"{self.server.url}/v1beta/{self.property}"
        headers = {"x-goog-api-key": ADMIN_KEY}
        if method == "metadata":
            r = httpx.get(f"{base}/metadata", headers=headers, timeout=60)
        else:
            r = httpx.post(f"{base}:{method}", json=body, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def last_body(self) -> dict[str, Any]:
        request = self.wire[-1]
        assert "%24alt=json%3Benum-encoding%3Dint" in request.url
        body: dict[str, Any] = json.loads(request.body)
        return body

    @property
    def dates(self) -> list[dict[str, str]]:
        older, recent = self.older.date().isoformat(), self.recent.date().isoformat()
        return [
            {"startDate": older, "endDate": older, "name": "older"},
            {"startDate": older, "endDate": recent, "name": "all"},
        ]


def _send(server: Server, client_id: str, events: list[dict[str, Any]]) -> None:
    r = httpx.post(
        f"{server.url}/v1/collect?measurement_id={server.measurement_id}",
        json={"client_id": client_id, "events": events},
        headers={**server.auth, "user-agent": CHROME},
        timeout=60,
    )
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = Server(Path(tmp_path_factory.mktemp("ga4client"))).start()
    client = BetaAnalyticsDataClient(
        transport="rest",
        client_options={"api_endpoint": server.url, "api_key": ADMIN_KEY},
    )
    w = World(server, client)
    try:
        recent_us = int(w.recent.timestamp() * 1_000_000)
        older_us = int(w.older.timestamp() * 1_000_000)
        j = 0
        for label, count in LABELS.items():
            for _ in range(count):
                params = {
                    "page_location": f"https://shop.example{PAGES[j % len(PAGES)]}",
                    "n": NUMBERS[j % len(NUMBERS)],
                }
                if label is not None:
                    params["label"] = label
                event = {"name": "page_view", "timestamp_micros": recent_us - j, "params": params}
                _send(server, f"c{j % 4}", [event])
                j += 1
        old = [
            {"name": "page_view", "timestamp_micros": older_us + i, "params": p}
            for i, p in enumerate(
                [
                    {"page_location": "https://shop.example/", "label": "abc", "n": "2"},
                    {"page_location": "https://shop.example/", "label": "abc", "n": "9"},
                    {"page_location": "https://shop.example/", "n": "9"},
                ]
            )
        ]
        _send(server, "old", old)
        server.wait_processed()
        yield w
    finally:
        server.stop()


# ---- the answers, read from the client's types and from plain JSON ----


def _rows_of(rows: Any) -> list[tuple[list[str], list[str]]]:
    return [
        ([v.value for v in r.dimension_values], [v.value for v in r.metric_values]) for r in rows
    ]


def _json_rows(rows: list[dict[str, Any]]) -> list[tuple[list[str], list[str]]]:
    return [
        ([v["value"] for v in r["dimensionValues"]], [v["value"] for v in r["metricValues"]])
        for r in rows
    ]


def typed(resp: RunReportResponse | RunRealtimeReportResponse) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dimensionHeaders": [h.name for h in resp.dimension_headers],
        "metricHeaders": [(h.name, MetricType(h.type_).name) for h in resp.metric_headers],
        "rows": _rows_of(resp.rows),
        "totals": _rows_of(resp.totals),
        "maximums": _rows_of(resp.maximums),
        "minimums": _rows_of(resp.minimums),
        "rowCount": resp.row_count,
        "kind": resp.kind,
    }
    if isinstance(resp, RunReportResponse):
        out["metadata"] = (resp.metadata.currency_code, resp.metadata.time_zone)
    return out


def plain_table(body: dict[str, Any], *, realtime: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dimensionHeaders": [h["name"] for h in body["dimensionHeaders"]],
        "metricHeaders": [(h["name"], h["type"]) for h in body["metricHeaders"]],
        "rows": _json_rows(body.get("rows", [])),
        "totals": _json_rows(body.get("totals", [])),
        "maximums": _json_rows(body.get("maximums", [])),
        "minimums": _json_rows(body.get("minimums", [])),
        "rowCount": body["rowCount"],
        "kind": body["kind"],
    }
    if not realtime:
        out["metadata"] = (body["metadata"]["currencyCode"], body["metadata"]["timeZone"])
    return out


def report_body(w: World, **fields: Any) -> dict[str, Any]:
    return {
        "dateRanges": w.dates[1:],
        "dimensions": [{"name": LABEL}],
        "metrics": [{"name": "eventCount"}],
        "orderBys": [{"dimension": {"dimensionName": LABEL}}],
        **fields,
    }


def by_client(w: World, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` parsed into the client's own request type, sent by the client."""
    req = RunReportRequest.from_json(json.dumps({**body, "property": w.property}))
    resp = w.client.run_report(req, timeout=60)
    assert isinstance(resp, RunReportResponse)
    return typed(resp)


def check_same(w: World, body: dict[str, Any]) -> dict[str, Any]:
    """The client's answer equals the plain one, and is not empty."""
    got = by_client(w, body)
    expected = plain_table(w.plain("runReport", body))
    assert got == expected
    assert got["rows"], "the case selects no row: it proves nothing"
    return got


def string_filter(match: str, value: str, case: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"matchType": match, "value": value}
    if case:
        spec["caseSensitive"] = True
    return {"filter": {"fieldName": LABEL, "stringFilter": spec}}


def numeric_filter(op: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"filter": {"fieldName": NUMBER, "numericFilter": {"operation": op, "value": value}}}


def distinct(w: World, bodies: dict[str, dict[str, Any]]) -> None:
    """Each value of an enum gives its own answer on this data."""
    answers = {name: json.dumps(w.plain("runReport", b).get("rows")) for name, b in bodies.items()}
    assert len(set(answers.values())) == len(answers), answers


# ---- the cases ----

MATCH_TYPES = ["EXACT", "BEGINS_WITH", "ENDS_WITH", "CONTAINS", "FULL_REGEXP", "PARTIAL_REGEXP"]
OPERATIONS = ["EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL"]
ORDER_TYPES = ["ALPHANUMERIC", "CASE_INSENSITIVE_ALPHANUMERIC", "NUMERIC"]


def test_string_filter_each_match_type(world: World) -> None:
    bodies = {m: report_body(world, dimensionFilter=string_filter(m, "a.c")) for m in MATCH_TYPES}
    distinct(world, bodies)
    for number, body in enumerate(bodies.values(), start=1):
        got = check_same(world, body)
        assert world.last_body()["dimensionFilter"]["filter"]["stringFilter"]["matchType"] == number
        assert len(got["rows"]) < len(LABELS)


def test_string_filter_case_sensitive(world: World) -> None:
    loose = report_body(world, dimensionFilter=string_filter("EXACT", "a.c"))
    strict = report_body(world, dimensionFilter=string_filter("EXACT", "a.c", case=True))
    assert [r[0] for r in check_same(world, loose)["rows"]] == [["A.C"], ["a.c"]]
    assert [r[0] for r in check_same(world, strict)["rows"]] == [["a.c"]]
    assert world.last_body()["dimensionFilter"]["filter"]["stringFilter"]["caseSensitive"] is True


def test_in_list_filter(world: World) -> None:
    for case, expected in ((False, [["A.C"], ["a.c"], ["abc"]]), (True, [["A.C"], ["abc"]])):
        spec: dict[str, Any] = {"values": ["abc", "A.C"], "caseSensitive": case}
        flt = {"filter": {"fieldName": LABEL, "inListFilter": spec}}
        got = check_same(world, report_body(world, dimensionFilter=flt))
        assert [r[0] for r in got["rows"]] == expected


def test_numeric_filter_each_operation(world: World) -> None:
    def body(op: str, value: dict[str, Any]) -> dict[str, Any]:
        return report_body(
            world,
            dimensions=[{"name": NUMBER}],
            orderBys=[{"dimension": {"dimensionName": NUMBER}}],
            dimensionFilter=numeric_filter(op, value),
        )

    bodies = {op: body(op, {"int64Value": "9"}) for op in OPERATIONS}
    distinct(world, bodies)
    for number, b in enumerate(bodies.values(), start=1):
        check_same(world, b)
        sent = world.last_body()["dimensionFilter"]["filter"]["numericFilter"]
        assert sent == {"operation": number, "value": {"int64Value": "9"}}
    got = check_same(world, body("GREATER_THAN", {"doubleValue": 9.5}))
    assert [r[0] for r in got["rows"]] == [["10"]]


def test_between_and_empty_filters(world: World) -> None:
    between = {
        "filter": {
            "fieldName": NUMBER,
            "betweenFilter": {"fromValue": {"doubleValue": 2.5}, "toValue": {"int64Value": "10"}},
        }
    }
    got = check_same(
        world,
        report_body(world, dimensions=[{"name": NUMBER}], orderBys=[], dimensionFilter=between),
    )
    assert sorted(r[0][0] for r in got["rows"]) == ["10", "9"]
    empty = {"filter": {"fieldName": LABEL, "emptyFilter": {}}}
    got = check_same(world, report_body(world, dimensionFilter=empty))
    assert got["rows"] == [(["(not set)"], ["8"])]  # 7 recent and 1 older event


def test_and_or_not_groups(world: World) -> None:
    flt = {
        "orGroup": {
            "expressions": [
                {
                    "andGroup": {
                        "expressions": [
                            string_filter("BEGINS_WITH", "a"),
                            {
                                "notExpression": {
                                    "filter": {
                                        "fieldName": LABEL,
                                        "inListFilter": {"values": ["abc"]},
                                    }
                                }
                            },
                        ]
                    }
                },
                {"filter": {"fieldName": LABEL, "emptyFilter": {}}},
            ]
        }
    }
    got = check_same(world, report_body(world, dimensionFilter=flt))
    assert [r[0][0] for r in got["rows"]] == ["(not set)", "A.C", "a.c", "a.cd"]


def test_order_bys_limit_and_offset(world: World) -> None:
    def body(order_type: str, desc: bool) -> dict[str, Any]:
        return report_body(
            world,
            dimensions=[{"name": NUMBER}],
            orderBys=[
                {"dimension": {"dimensionName": NUMBER, "orderType": order_type}, "desc": desc}
            ],
        )

    bodies = {t: body(t, False) for t in ORDER_TYPES}
    distinct(world, bodies)
    for number, b in enumerate(bodies.values(), start=1):
        check_same(world, b)
        # ALPHANUMERIC is the proto default: the client leaves it out
        sent = world.last_body()["orderBys"][0]["dimension"]
        assert sent.get("orderType", 1) == number
    assert check_same(world, body("NUMERIC", True))["rows"][0][0] != ["2"]
    by_metric = report_body(
        world,
        orderBys=[{"metric": {"metricName": "eventCount"}, "desc": True}],
        limit="3",
        offset="2",
    )
    got = check_same(world, by_metric)
    assert [r[0][0] for r in got["rows"]] == ["Xa.cY", "abc", "za.c"]  # ties: by the dimension
    assert got["rowCount"] == len(LABELS)
    assert world.last_body()["limit"] == "3"


def test_named_date_ranges_and_aggregations(world: World) -> None:
    body = report_body(
        world,
        dateRanges=world.dates,
        metrics=[{"name": "eventCount"}, {"name": "totalUsers"}],
        metricAggregations=["TOTAL", "MINIMUM", "MAXIMUM"],
    )
    got = check_same(world, body)
    assert got["dimensionHeaders"] == ["dateRange", LABEL]
    assert got["metricHeaders"] == [("eventCount", "TYPE_INTEGER"), ("totalUsers", "TYPE_INTEGER")]
    assert {r[0][0] for r in got["rows"]} == {"older", "all"}
    assert sorted(r[0][0] for r in got["totals"]) == ["all", "older"]
    assert got["minimums"] and got["maximums"]
    assert world.last_body()["metricAggregations"] == [1, 5, 6]
    for agg in ("TOTAL", "MINIMUM", "MAXIMUM"):
        check_same(world, {**body, "metricAggregations": [agg]})


def test_realtime_report(world: World) -> None:
    body: dict[str, Any] = {
        "dimensions": [{"name": "pagePath"}, {"name": "eventName"}],
        "metrics": [{"name": "eventCount"}, {"name": "activeUsers"}],
        "dimensionFilter": {
            "filter": {
                "fieldName": "pagePath",
                "stringFilter": {"matchType": "ENDS_WITH", "value": "/tea"},
            }
        },
        "orderBys": [{"dimension": {"dimensionName": "pagePath"}, "desc": True}],
        "minuteRanges": [{"startMinutesAgo": 29, "endMinutesAgo": 0, "name": "last"}],
        "metricAggregations": ["TOTAL"],
        "limit": 10,
    }
    req = RunRealtimeReportRequest.from_json(json.dumps({**body, "property": world.property}))
    resp = world.client.run_realtime_report(req, timeout=60)
    assert isinstance(resp, RunRealtimeReportResponse)
    got = typed(resp)
    assert got == plain_table(world.plain("runRealtimeReport", body), realtime=True)
    assert [r[0] for r in got["rows"]] == [["/shop/tea", "page_view"], ["/blog/tea", "page_view"]]
    assert got["totals"][0][1][0] == str(sum(int(r[1][0]) for r in got["rows"]))
    sent = world.last_body()
    assert sent["minuteRanges"] == [{"startMinutesAgo": 29, "endMinutesAgo": 0, "name": "last"}]
    assert sent["dimensionFilter"]["filter"]["stringFilter"]["matchType"] == 3


def test_batch_run_reports(world: World) -> None:
    first = report_body(world, dateRanges=world.dates, metricAggregations=["TOTAL"])
    second = report_body(world, dimensionFilter=string_filter("PARTIAL_REGEXP", "a.c$"))
    batch = BatchRunReportsRequest(
        property=world.property,
        requests=[RunReportRequest.from_json(json.dumps(b)) for b in (first, second)],
    )
    resp = world.client.batch_run_reports(batch, timeout=60)
    assert resp.kind == "analyticsData#batchRunReports"
    assert [typed(r) for r in resp.reports] == [
        plain_table(world.plain("runReport", b)) for b in (first, second)
    ]
    assert [r[0][0] for r in typed(resp.reports[1])["rows"]] == ["A.C", "a.c", "abc", "za.c"]
    assert len(world.last_body()["requests"]) == 2


def test_metadata(world: World) -> None:
    resp = world.client.get_metadata(GetMetadataRequest(name=f"{world.property}/metadata"))
    assert isinstance(resp, Metadata)
    plain = world.plain("metadata")
    assert resp.name == plain["name"]
    assert [d.api_name for d in resp.dimensions] == [d["apiName"] for d in plain["dimensions"]]
    assert [(m.api_name, MetricType(m.type_).name) for m in resp.metrics] == [
        (m["apiName"], m["type"]) for m in plain["metrics"]
    ]
    assert MetricType.TYPE_CURRENCY in {m.type_ for m in resp.metrics}


def test_typed_request_with_anonymous_credentials(world: World) -> None:
    """The request built from the client's own types, the key in a header, as in the docs."""
    client = BetaAnalyticsDataClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": world.server.url},
    )
    req = RunReportRequest(
        property=world.property,
        date_ranges=[DateRange(start_date=world.dates[1]["startDate"], end_date="today")],
        dimensions=[Dimension(name=LABEL)],
        metrics=[Metric(name="eventCount")],
        dimension_filter=FilterExpression(
            filter=Filter(
                field_name=LABEL,
                string_filter=Filter.StringFilter(
                    match_type=Filter.StringFilter.MatchType.ENDS_WITH, value=".c"
                ),
            )
        ),
        metric_aggregations=[MetricAggregation.TOTAL],
    )
    resp = client.run_report(req, metadata=[("x-goog-api-key", ADMIN_KEY)], timeout=60)
    assert sorted(r.dimension_values[0].value for r in resp.rows) == ["A.C", "a.c", "za.c"]
    assert resp.totals[0].metric_values[0].value == "11"  # 1 + 4 + 6
    realtime = client.run_realtime_report(
        RunRealtimeReportRequest(
            property=world.property,
            metrics=[Metric(name="eventCount")],
            minute_ranges=[MinuteRange(start_minutes_ago=29)],
        ),
        metadata=[("x-goog-api-key", ADMIN_KEY)],
        timeout=60,
    )
    assert realtime.rows[0].metric_values[0].value == str(sum(LABELS.values()))


def test_errors_reach_the_client_as_google_exceptions(world: World) -> None:
    bad = RunReportRequest(
        property=world.property,
        date_ranges=[DateRange(start_date="7daysAgo", end_date="today")],
        metrics=[Metric(name="nope")],
    )
    with pytest.raises(exceptions.BadRequest, match=r"metrics\[0\]"):
        world.client.run_report(bad, timeout=60)
    too_many = BatchRunReportsRequest(property=world.property, requests=[bad] * 6)
    with pytest.raises(exceptions.BadRequest, match="requests: 6 given"):
        world.client.batch_run_reports(too_many, timeout=60)


def test_the_docs_example_runs(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/reports.md's Python example, pointed at this server."""
    text = (Path(__file__).parents[1] / "docs" / "reports.md").read_text()
    code = text.split("## Google's client")[1].split("```python\n")[1].split("```")[0]
    for placeholder, value in (
        ("http://127.0.0.1:8000", world.server.url),
        ("ffk_...", ADMIN_KEY),
        ("properties/123456789", world.property),
    ):
        assert placeholder in code
        code = code.replace(placeholder, value)
    exec(compile(code, "docs/reports.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["/blog/tea ['10', '4']", "total ['10', '4']"]
