"""Report requests in proto3 JSON: the field and enum tables against GA4's own protos (from the
installed ``google-analytics-data``), the canonical form, refusals, and the report routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from google.analytics.data_v1beta.types import analytics_data_api, data
from google.protobuf.descriptor import FieldDescriptor

from conftest import ADMIN_KEY, CLOCK, App, make_settings
from footfall.errors import ApiError
from footfall.report.proto3 import ENUMS, MAX_DEPTH, MESSAGES, RequestDecoder, canonical, int_enums
from footfall.report.realtime import RunRealtimeReportRequest
from footfall.report.request import MAX_FILTER_NODES, BatchRunReportsRequest, RunReportRequest
from footfall.serve import Runtime

KINDS = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_ENUM: "enum",
    FieldDescriptor.TYPE_MESSAGE: "message",
}


def _ga4_messages() -> dict[str, Any]:
    """Every message the three request types reach, by short name."""
    found: dict[str, Any] = {}

    def walk(d: Any) -> None:
        if d.name in found:
            assert found[d.name].full_name == d.full_name, f"two messages named {d.name}"
            return
        found[d.name] = d
        for f in d.fields:
            if f.message_type is not None:
                walk(f.message_type)

    for m in (
        analytics_data_api.RunReportRequest,
        analytics_data_api.RunRealtimeReportRequest,
        analytics_data_api.BatchRunReportsRequest,
    ):
        walk(m.pb().DESCRIPTOR)
    return found


def test_field_table_is_ga4s() -> None:
    ga4 = _ga4_messages()
    for name, fields in MESSAGES.items():
        d = ga4[name]
        assert [f.json for f in fields] == [g.json_name for g in d.fields], name
        for f, g in zip(fields, d.fields, strict=True):
            where = f"{name}.{f.json}"
            assert f.proto == g.name, where
            assert f.kind == KINDS[g.type], where
            assert f.repeated == g.is_repeated, where
            oneof = g.containing_oneof
            synthetic = oneof is not None and oneof.name.startswith("_") and len(oneof.fields) == 1
            assert f.oneof == (oneof is not None and not synthetic), where
            assert f.optional == synthetic, where
            if f.kind == "message" and f.supported:
                assert f.ref == g.message_type.name, where
                assert f.ref in MESSAGES, where
            if f.kind == "enum":
                assert f.ref == g.enum_type.name, where
                assert ENUMS[f.ref] == tuple((v.name, v.number) for v in g.enum_type.values)


def test_metric_type_numbers_are_ga4s() -> None:
    assert ENUMS["MetricType"] == tuple((v.name, v.value) for v in data.MetricType)


# ---- the canonical form ----

# what google-analytics-data 0.23 puts on the wire for a typed RunReportRequest
CLIENT_BODY = {
    "dimensions": [{"name": "country"}],
    "metrics": [{"name": "sessions"}],
    "dateRanges": [{"startDate": "7daysAgo", "endDate": "today", "name": "a"}],
    "dimensionFilter": {
        "filter": {"fieldName": "country", "stringFilter": {"matchType": 2, "value": "U"}}
    },
    "limit": "10",
    "metricAggregations": [1, 6],
    "orderBys": [{"dimension": {"dimensionName": "country", "orderType": 3}, "desc": True}],
}


def test_the_clients_body_in_canonical_form() -> None:
    assert canonical(CLIENT_BODY, "RunReportRequest") == {
        **CLIENT_BODY,
        "dimensionFilter": {
            "filter": {
                "fieldName": "country",
                "stringFilter": {"matchType": "BEGINS_WITH", "value": "U"},
            }
        },
        "limit": 10,
        "metricAggregations": ["TOTAL", "MAXIMUM"],
        "orderBys": [
            {"dimension": {"dimensionName": "country", "orderType": "NUMERIC"}, "desc": True}
        ],
    }


def _string_filter(spec: dict[str, Any]) -> dict[str, Any]:
    return {"dimensionFilter": {"filter": {"fieldName": "x", "stringFilter": spec}}}


def _order(spec: dict[str, Any]) -> dict[str, Any]:
    return {"orderBys": [{"dimension": {"dimensionName": "x", **spec}}]}


@pytest.mark.parametrize(
    ("enum", "wrap", "key"),
    [
        ("MatchType", _string_filter, "matchType"),
        (
            "Operation",
            lambda spec: {
                "dimensionFilter": {
                    "filter": {
                        "fieldName": "x",
                        "numericFilter": {**spec, "value": {"int64Value": "1"}},
                    }
                }
            },
            "operation",
        ),
        ("OrderType", _order, "orderType"),
    ],
)
def test_each_enum_number_is_its_name(enum: str, wrap: Any, key: str) -> None:
    for name, number in ENUMS[enum]:
        got = canonical(wrap({key: number}), "RunReportRequest")
        by_name = canonical(wrap({key: name}), "RunReportRequest")
        assert got == by_name
        text = json.dumps(got)
        if number == 0:  # *_UNSPECIFIED is the default: unset
            assert f'"{key}"' not in text
        else:
            assert f'"{key}": "{name}"' in text


def test_metric_aggregations_by_number() -> None:
    for name, number in ENUMS["MetricAggregation"]:
        got = canonical({"metricAggregations": [number]}, "RunReportRequest")
        # an UNSPECIFIED element of a list is kept, for validation to refuse
        assert got == {"metricAggregations": [name]}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (_string_filter({"matchType": 9}), "dimensionFilter.filter.stringFilter.matchType: 9"),
        ({"metricAggregations": [1, 2]}, "metricAggregations[1]: 2 is not a MetricAggregation"),
        (_order({"orderType": -1}), "orderBys[0].dimension.orderType"),
    ],
)
def test_unknown_enum_numbers_are_refused(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(ApiError) as e:
        canonical(body, "RunReportRequest")
    assert e.value.code == 400
    assert needle in e.value.message


def test_defaults_mean_unset() -> None:
    body = {
        "property": "",
        "dimensions": [],
        "metrics": [{"name": "eventCount", "expression": "", "invisible": False}],
        "dateRanges": [{"startDate": "today", "endDate": "today", "name": ""}],
        "dimensionFilter": {},
        "metricFilter": None,
        "offset": 0,
        "limit": "0",
        "metricAggregations": [],
        "orderBys": [{"metric": {"metricName": "eventCount"}, "desc": False, "pivot": None}],
        "currencyCode": "",
        "cohortSpec": {},
        "keepEmptyRows": False,
        "returnPropertyQuota": False,
        "comparisons": [],
    }
    assert canonical(body, "RunReportRequest") == {
        "metrics": [{"name": "eventCount"}],
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "orderBys": [{"metric": {"metricName": "eventCount"}}],
    }
    with_null = {
        "filter": {"fieldName": "x", "stringFilter": None, "inListFilter": {"values": ["a"]}}
    }
    assert canonical({"dimensionFilter": with_null}, "RunReportRequest") == {
        "dimensionFilter": {"filter": {"fieldName": "x", "inListFilter": {"values": ["a"]}}}
    }
    assert canonical({"dimensionFilter": {"filter": None}}, "RunReportRequest") == {}


def test_fields_with_presence_keep_their_default() -> None:
    between = {"fromValue": {"int64Value": "0"}, "toValue": {"doubleValue": 0}}
    body = {
        "dimensionFilter": {
            "andGroup": {
                "expressions": [
                    {"filter": {"fieldName": "x", "emptyFilter": {}}},
                    {"filter": {"fieldName": "x", "stringFilter": {}}},
                    {"filter": {"fieldName": "x", "betweenFilter": between}},
                ]
            }
        }
    }
    got = canonical(body, "RunReportRequest")
    assert got["dimensionFilter"]["andGroup"]["expressions"] == [
        {"filter": {"fieldName": "x", "emptyFilter": {}}},
        {"filter": {"fieldName": "x", "stringFilter": {}}},
        {
            "filter": {
                "fieldName": "x",
                "betweenFilter": {"fromValue": {"int64Value": 0}, "toValue": {"doubleValue": 0.0}},
            }
        },
    ]
    realtime = {"minuteRanges": [{"startMinutesAgo": 0, "endMinutesAgo": "0", "name": ""}]}
    assert canonical(realtime, "RunRealtimeReportRequest") == {
        "minuteRanges": [{"startMinutesAgo": 0, "endMinutesAgo": 0}]
    }
    # a StringFilter left at its defaults matches the empty string, exactly
    req = RequestDecoder(RunReportRequest).decode(
        json.dumps({"dimensionFilter": {"filter": {"fieldName": "x", "stringFilter": {}}}}).encode()
    )
    assert req.dimension_filter is not None and req.dimension_filter.filter is not None
    s = req.dimension_filter.filter.string_filter
    assert s is not None and (s.value, s.match_type, s.case_sensitive) == ("", "EXACT", False)


def test_int64_as_strings_and_numbers() -> None:
    assert canonical({"limit": "10", "offset": "3"}, "RunReportRequest") == {
        "limit": 10,
        "offset": 3,
    }
    assert canonical({"limit": 10.0}, "RunReportRequest") == {"limit": 10}
    value = {"int64Value": "-9223372036854775808"}
    flt = {"filter": {"fieldName": "x", "numericFilter": {"operation": 1, "value": value}}}
    got = canonical({"dimensionFilter": flt}, "RunReportRequest")
    assert got["dimensionFilter"]["filter"]["numericFilter"] == {
        "operation": "EQUAL",
        "value": {"int64Value": -(2**63)},
    }


@pytest.mark.parametrize(
    ("body", "message", "needle"),
    [
        ({"limit": "1e3"}, "RunReportRequest", "limit: '1e3' is not an integer"),
        ({"limit": "10.5"}, "RunReportRequest", "limit: '10.5' is not an integer"),
        ({"offset": 1.5}, "RunReportRequest", "offset: 1.5 is not an integer"),
        ({"offset": " 1"}, "RunReportRequest", "offset"),
        (
            {"offset": "9223372036854775808"},
            "RunReportRequest",
            "offset: 9223372036854775808 is out",
        ),
        ({"limit": 10**30}, "RunReportRequest", "limit: 1000000000000000000000000000000 is out"),
        (
            {"minuteRanges": [{"startMinutesAgo": 2**31}]},
            "RunRealtimeReportRequest",
            "minuteRanges[0].startMinutesAgo",
        ),
    ],
)
def test_integers_out_of_proto3_are_refused(
    body: dict[str, Any], message: str, needle: str
) -> None:
    with pytest.raises(ApiError) as e:
        canonical(body, message)
    assert e.value.code == 400
    assert needle in e.value.message


def _double(v: Any) -> dict[str, Any]:
    return {
        "dimensionFilter": {
            "filter": {
                "fieldName": "x",
                "numericFilter": {"operation": 4, "value": {"doubleValue": v}},
            }
        }
    }


def test_doubles_as_numbers_or_strings() -> None:
    for sent, expected in (("1.5", 1.5), (2, 2.0), ("-3e2", -300.0), (0.25, 0.25)):
        got = canonical(_double(sent), "RunReportRequest")
        assert got["dimensionFilter"]["filter"]["numericFilter"]["value"] == {
            "doubleValue": expected
        }
    for bad in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ApiError, match="not a finite number") as e:
            canonical(_double(bad), "RunReportRequest")
        assert "numericFilter.value.doubleValue" in e.value.message
    with pytest.raises(ApiError, match="is not a number"):
        canonical(_double("0x10"), "RunReportRequest")


def test_proto_field_names() -> None:
    body = {
        "date_ranges": [{"start_date": "today", "end_date": "today"}],
        "metrics": [{"name": "eventCount"}],
        "metric_aggregations": ["TOTAL"],
        "order_bys": [{"dimension": {"dimension_name": "x", "order_type": 2}}],
    }
    assert canonical(body, "RunReportRequest") == {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
        "metricAggregations": ["TOTAL"],
        "orderBys": [
            {"dimension": {"dimensionName": "x", "orderType": "CASE_INSENSITIVE_ALPHANUMERIC"}}
        ],
    }
    with pytest.raises(ApiError, match="dateRanges: given twice, as dateRanges and as date_ranges"):
        canonical({"dateRanges": [], "date_ranges": None}, "RunReportRequest")
    with pytest.raises(ApiError, match=r"dateRanges\[0\].startDate: given twice"):
        canonical({"dateRanges": [{"startDate": "a", "start_date": "b"}]}, "RunReportRequest")


def test_unknown_and_unsupported_fields_are_refused_by_name() -> None:
    decoder = RequestDecoder(RunReportRequest)
    for body, name in (
        ({"metricFilter": {"filter": {"fieldName": "sessions"}}}, "metricFilter"),
        ({"metrics": [{"name": "x", "expression": "a/b"}]}, "expression"),
        ({"metrics": [{"name": "x", "invisible": True}]}, "invisible"),
        ({"orderBys": [{"pivot": {}}]}, "pivot"),
        ({"comparisons": [{"comparison": "x"}]}, "comparisons"),
        ({"dateRange": []}, "dateRange"),
        ({"dimensionFilter": {"filter": {"fieldName": "x", "stringFilter": {"x": 1}}}}, "x"),
    ):
        with pytest.raises(msgspec.ValidationError, match=f"unknown field `{name}`"):
            decoder.decode(json.dumps(body).encode())


def test_deep_nesting_is_refused() -> None:
    expr: dict[str, Any] = {"filter": {"fieldName": "x", "emptyFilter": {}}}
    for _ in range(5000):
        expr = {"notExpression": expr}
    with pytest.raises(ApiError, match=f"nested more than {MAX_DEPTH} levels"):
        canonical({"dimensionFilter": expr}, "RunReportRequest")


def test_the_largest_filter_tree_nests_as_deep_as_it_likes() -> None:
    """A filter of MAX_FILTER_NODES expressions, each group inside the last, in a batch: the
    depth bound never refuses what the node bound allows."""
    expr: dict[str, Any] = {
        "filter": {
            "fieldName": "date",
            "betweenFilter": {"fromValue": {"int64Value": "1"}, "toValue": {"int64Value": "9"}},
        }
    }
    for i in range(MAX_FILTER_NODES - 1):
        expr = {"andGroup" if i % 2 else "orGroup": {"expressions": [expr]}}
    body = {"requests": [{"dimensionFilter": expr}]}
    decoded = canonical(body, "BatchRunReportsRequest")
    inner = decoded["requests"][0]["dimensionFilter"]
    for _ in range(MAX_FILTER_NODES - 1):
        inner = (inner.get("andGroup") or inner["orGroup"])["expressions"][0]
    assert inner["filter"]["betweenFilter"]["toValue"] == {"int64Value": 9}
    batch = RequestDecoder(BatchRunReportsRequest).decode(json.dumps(body).encode())
    assert batch.requests[0].dimension_filter is not None


def test_wrong_json_types_are_left_to_the_struct() -> None:
    decoder = RequestDecoder(RunReportRequest)
    for body, needle in (
        ({"limit": True}, "Expected `int`, got `bool` - at `$.limit`"),
        ({"keepEmptyRows": "true"}, "Expected `bool`, got `str` - at `$.keepEmptyRows`"),
        ({"dimensions": {"name": "x"}}, "Expected `array`, got `object` - at `$.dimensions`"),
        ({"metricAggregations": [None]}, "Expected `str`, got `null`"),
        (
            {"dimensionFilter": {"filter": {"fieldName": "x", "stringFilter": {"matchType": 1.5}}}},
            "Expected `str`, got `float`",
        ),
    ):
        with pytest.raises(msgspec.ValidationError) as e:
            decoder.decode(json.dumps(body).encode())
        assert needle in str(e.value)
    with pytest.raises(msgspec.ValidationError, match="Expected `object`, got `array`"):
        decoder.decode(b"[]")


def test_alt_query() -> None:
    assert int_enums({"$alt": "json;enum-encoding=int"}) is True
    assert int_enums({"$alt": "json"}) is False
    assert int_enums({}) is False
    with pytest.raises(ApiError, match=r"\$alt: 'proto'"):
        int_enums({"$alt": "proto"})


# ---- the report routes ----


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    runtime = Runtime(make_settings(Path(tmp_path_factory.mktemp("proto3"))), clock=CLOCK)
    app = App(runtime)
    for path, label in (("/a", "x"), ("/b", "y"), ("/b", "y"), ("/c", "xy")):
        event = {
            "name": "page_view",
            "params": {"page_location": f"https://s.example{path}", "l": label},
        }
        r = app.collect({"client_id": path, "events": [event]})
        assert r.status_code == 200, r.text
    app.process()
    yield app
    runtime.stop()


AUTH = {"x-goog-api-key": ADMIN_KEY}
NAMED = {
    "dateRanges": [{"startDate": "today", "endDate": "today"}],
    "dimensions": [{"name": "pagePath"}],
    "metrics": [{"name": "eventCount"}],
    "dimensionFilter": {
        "filter": {
            "fieldName": "customEvent:l",
            "stringFilter": {"matchType": "BEGINS_WITH", "value": "x"},
        }
    },
    "orderBys": [
        {"dimension": {"dimensionName": "pagePath", "orderType": "ALPHANUMERIC"}, "desc": True}
    ],
    "metricAggregations": ["TOTAL"],
}
NUMBERED = {
    **NAMED,
    "dimensionFilter": {
        "filter": {"fieldName": "customEvent:l", "stringFilter": {"matchType": 2, "value": "x"}}
    },
    "orderBys": [{"dimension": {"dimensionName": "pagePath", "orderType": 1}, "desc": True}],
    "metricAggregations": [1],
    "limit": "0",
    "offset": "0",
    "keepEmptyRows": False,
    "comparisons": [],
}
ALT = "?%24alt=json%3Benum-encoding%3Dint"


def _url(app: App, method: str) -> str:
    return f"/v1beta/properties/{app.property.property_id}:{method}"


def test_run_report_in_either_encoding(app: App) -> None:
    named = app.http.post(_url(app, "runReport"), json=NAMED, headers=AUTH)
    numbered = app.http.post(_url(app, "runReport") + ALT, json=NUMBERED, headers=AUTH)
    assert named.status_code == numbered.status_code == 200, numbered.text
    a, b = named.json(), numbered.json()
    assert [r["dimensionValues"][0]["value"] for r in a["rows"]] == ["/c", "/a"]
    assert a["metricHeaders"] == [{"name": "eventCount", "type": "TYPE_INTEGER"}]
    # enum-encoding=int: the response's enums are numbers too, as Google's server answers
    assert b["metricHeaders"] == [{"name": "eventCount", "type": 1}]
    assert {**b, "metricHeaders": a["metricHeaders"]} == a


def test_property_in_the_body_must_be_the_paths(app: App) -> None:
    pid = app.property.property_id
    ok = app.http.post(
        _url(app, "runReport"), json={**NAMED, "property": f"properties/{pid}"}, headers=AUTH
    )
    assert ok.status_code == 200
    other = app.http.post(
        _url(app, "runReport"), json={**NAMED, "property": "properties/1"}, headers=AUTH
    )
    assert other.status_code == 400
    assert "property: 'properties/1' is not the property of the path" in other.text


BAD_REGEX = {"filter": {"fieldName": "pagePath", "stringFilter": {"matchType": 5, "value": "("}}}


def test_batch_run_reports(app: App) -> None:
    url = _url(app, "batchRunReports")
    second = {**NAMED, "dimensionFilter": {}, "orderBys": []}
    r = app.http.post(url, json={"requests": [NUMBERED, second]}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "analyticsData#batchRunReports"
    single = [
        app.http.post(_url(app, "runReport"), json=b, headers=AUTH).json() for b in (NAMED, second)
    ]
    assert body["reports"] == single
    assert single[1]["rowCount"] == 3
    for requests, status, needle in (
        ([], 400, "requests: at least one request is required"),
        ([NAMED] * 6, 400, "requests: 6 given; the limit is 5"),
        ([NAMED, {**NAMED, "metrics": [{"name": "nope"}]}], 400, "requests[1].metrics[0]"),
        ([NAMED, {**NAMED, "limit": "x"}], 400, "requests[1].limit"),
        ([{**NAMED, "property": "properties/2"}], 400, "requests[0].property"),
        ([{**NAMED, "cohortSpec": {"cohorts": [{}]}}], 400, "cohortSpec"),
        ([NAMED, {**NAMED, "dimensionFilter": BAD_REGEX}], 400, "requests[1].dimensionFilter"),
    ):
        r = app.http.post(url, json={"requests": requests}, headers=AUTH)
        assert r.status_code == status, r.text
        assert needle in r.json()["error"]["message"]


def test_realtime_and_metadata_in_either_encoding(app: App) -> None:
    named = {
        "dimensions": [{"name": "pagePath"}],
        "metrics": [{"name": "eventCount"}],
        "dimensionFilter": {
            "filter": {
                "fieldName": "pagePath",
                "stringFilter": {"matchType": "ENDS_WITH", "value": "b"},
            }
        },
        "minuteRanges": [{"startMinutesAgo": 29, "endMinutesAgo": 0}],
        "metricAggregations": ["TOTAL"],
    }
    numbered = {
        **named,
        "dimensionFilter": {
            "filter": {"fieldName": "pagePath", "stringFilter": {"matchType": 3, "value": "b"}}
        },
        "minuteRanges": [{"startMinutesAgo": "29", "endMinutesAgo": 0, "name": ""}],
        "metricAggregations": [1],
        "property": f"properties/{app.property.property_id}",
        "limit": "0",
    }
    a = app.http.post(_url(app, "runRealtimeReport"), json=named, headers=AUTH)
    b = app.http.post(_url(app, "runRealtimeReport") + ALT, json=numbered, headers=AUTH)
    assert a.status_code == b.status_code == 200, b.text
    assert (
        a.json()["rows"]
        == b.json()["rows"]
        == [{"dimensionValues": [{"value": "/b"}], "metricValues": [{"value": "2"}]}]
    )
    meta = f"/v1beta/properties/{app.property.property_id}/metadata"
    names = app.http.get(meta, headers=AUTH).json()
    numbers = app.http.get(meta + ALT, headers=AUTH).json()
    assert {m["type"] for m in names["metrics"]} >= {"TYPE_INTEGER", "TYPE_CURRENCY"}
    assert {m["type"] for m in numbers["metrics"]} >= {1, 9}
    assert app.http.get(meta + "?%24alt=proto", headers=AUTH).status_code == 400


def test_decoders_accept_every_request_type() -> None:
    for t in (RunReportRequest, RunRealtimeReportRequest, BatchRunReportsRequest):
        assert RequestDecoder(t).decode(b"{}") == t()


def test_unspecified_is_refused_where_ga4_needs_a_value() -> None:
    body = {
        "filter": {"fieldName": "x", "numericFilter": {"operation": 0, "value": {"int64Value": 1}}}
    }
    with pytest.raises(msgspec.ValidationError, match="missing required field `operation`"):
        RequestDecoder(RunReportRequest).decode(json.dumps({"dimensionFilter": body}).encode())
