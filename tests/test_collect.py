"""The collector: bad input gets a clear 4xx (never a 5xx) and good events are counted."""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

import pytest

from conftest import ADMIN_KEY, CLOCK, IPHONE, App, example, make_settings, now_us

HOUR = 3_600_000_000


def page_view(i: int = 0, **params: Any) -> dict[str, Any]:
    return {
        "name": "page_view",
        "params": {"page_location": f"https://shop.example.com/p{i}", **params},
    }


def test_a_batch_is_accepted_stamped_and_counted(app: App) -> None:
    r = app.collect(
        {"client_id": "1.2", "events": [page_view(1), {**page_view(2), "event_id": "mine-1"}]}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["rejected"] == 0
    generated, given = body["events"][0]["event_id"], body["events"][1]["event_id"]
    assert len(generated) == 32 and given == "mine-1"
    assert app.process() == 2
    rows = app.rows(
        {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "dimensions": [{"name": "pagePath"}],
            "metrics": [{"name": "screenPageViews"}],
        }
    )
    assert rows == {("/p1",): ["1"], ("/p2",): ["1"]}


def test_a_bad_event_among_good_ones_is_rejected_alone(app: App) -> None:
    body = example("mixed_batch.json")
    r = app.collect(body)
    assert r.status_code == 200
    results = r.json()["events"]
    assert [e["status"] for e in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["reason"] == "invalid_event_name" and "events[1]" in results[1]["message"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"name": "page_view", "params": 5}, "invalid_event"),
        ({"name": "page_view", "params": {"x": [1, 2]}}, "invalid_event"),
        ({"name": 7}, "invalid_event"),
        ({"name": "page_view", "surprise": 1}, "invalid_event"),
        ({"name": "ga_reserved"}, "reserved_event_name"),
        ({"name": "x" * 41}, "invalid_event_name"),
        ({"name": "ok", "params": {"bad-name": 1}}, "invalid_param_name"),
        ({"name": "ok", "params": {"v": "x" * 101}}, "param_value_too_long"),
        (
            {"name": "ok", "params": {"page_location": "https://a/" + "x" * 1000}},
            "param_value_too_long",
        ),
        ({"name": "ok", "event_id": "has space"}, "invalid_event_id"),
        ({"name": "ok", "timestamp_micros": 1}, "event_too_old"),
    ],
)
def test_per_event_rejections_name_a_reason(app: App, event: dict[str, Any], reason: str) -> None:
    r = app.collect({"client_id": "1", "events": [page_view(), event]})
    assert r.status_code == 200
    assert r.json()["events"][1]["reason"] == reason


def test_a_value_is_bounded_by_its_exact_text_not_by_its_float(app: App) -> None:
    """A 300-digit JSON number is a small float, but its exact text is over the value limit."""
    long_number = b"0." + b"1" * 300
    body = b'{"client_id":"1","events":[{"name":"purchase","params":{"value":%s}}]}' % long_number
    r = app.collect(body)
    assert r.status_code == 400
    (result,) = r.json()["events"]
    assert result["reason"] == "param_value_too_long"
    assert "params.value is 302 characters" in result["message"]


def test_only_bad_events_is_a_400_with_reasons(app: App) -> None:
    r = app.collect({"events": [{"name": "1x"}]})
    assert r.status_code == 400
    assert r.json()["events"][0]["reason"] == "invalid_event_name"


def test_event_times_must_be_recent_unless_backfilling(app: App) -> None:
    old = {
        "name": "page_view",
        "timestamp_micros": now_us() - 100 * HOUR,
        "params": {"page_location": "https://s/"},
    }
    future = {"name": "page_view", "timestamp_micros": now_us() + HOUR}
    r = app.collect({"events": [old, future]})
    assert [e["reason"] for e in r.json()["events"]] == ["event_too_old", "event_in_future"]
    backfill = app.collect(
        {"events": [old, future]}, headers={"authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert [e["status"] for e in backfill.json()["events"]] == ["accepted", "rejected"]
    wrong = app.collect({"events": [old]}, headers={"authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert "not-the-token" not in wrong.text


@pytest.mark.parametrize(
    ("content", "status", "needle"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b"", 400, "malformed JSON"),
        (b"[]", 400, "invalid request"),
        (b'{"events": "x"}', 400, "invalid request"),
        (b'{"events": []}', 400, "must not be empty"),
        (b'{"events": [{"name":"a"}], "client_id": 5}', 400, "invalid request"),
        (b'{"events": [{"name":"a"}], "client_id": ""}', 400, "client_id"),
        (b'{"events": [{"name":"a"}], "bogus": 1}', 400, "bogus"),
    ],
)
def test_malformed_requests(app: App, content: bytes, status: int, needle: str) -> None:
    r = app.collect(content)
    assert r.status_code == status
    assert needle in r.json()["error"]["message"]
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_too_many_events_names_the_limit(app: App) -> None:
    r = app.collect({"events": [page_view(i) for i in range(26)]})
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "25" in message and "max_events_per_request" in message


def test_too_many_params_names_the_limit(app: App) -> None:
    r = app.collect({"events": [{"name": "e", "params": {f"p{i}": i for i in range(26)}}]})
    assert r.status_code == 400
    assert "max_params_per_event" in r.json()["error"]["message"]


def test_oversized_bodies_get_413(app: App) -> None:
    big = json.dumps({"events": [page_view()], "pad": "x" * 200_000}).encode()
    assert app.collect(big).status_code == 413

    async def chunks() -> Any:  # no Content-Length: the limit applies while reading
        for _ in range(20):
            yield b"x" * 10_000

    r = app.http.post(f"/v1/collect?measurement_id={app.mid}", content=chunks())
    assert r.status_code == 413


def test_gzip_bodies(app: App) -> None:
    body = gzip.compress(json.dumps({"client_id": "1", "events": [page_view()]}).encode())
    r = app.collect(body, headers={"content-encoding": "gzip"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    assert len(bomb) < 130_000
    r = app.collect(bomb, headers={"content-encoding": "gzip"})
    assert r.status_code == 413
    assert r.json()["error"]["message"] == (
        "decompressed request body is over the limit of 1000000 bytes (max_decompressed_bytes)"
    )
    assert app.collect(b"not gzip", headers={"content-encoding": "gzip"}).status_code == 400
    assert app.collect(b"{}", headers={"content-encoding": "br"}).status_code == 415


def test_unknown_or_missing_property(app: App) -> None:
    r = app.http.post("/v1/collect?measurement_id=G-NOPE", json={"events": [page_view()]})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = app.http.post("/v1/collect", json={"events": [page_view()]})
    assert r.status_code == 400 and "measurement_id" in r.json()["error"]["message"]
    in_body = app.http.post(
        "/v1/collect",
        json={"measurement_id": app.mid, "events": [page_view()]},
        headers={"user-agent": IPHONE},
    )
    assert in_body.status_code == 200


def test_browsers_get_cors(app: App) -> None:
    origin = "https://shop.example.com"
    pre = app.http.options(
        f"/v1/collect?measurement_id={app.mid}",
        headers={"origin": origin, "access-control-request-method": "POST"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    r = app.collect({"events": [page_view()]}, headers={"origin": origin})
    assert r.headers["access-control-allow-origin"] == origin


def test_unknown_routes_and_methods_answer_in_googles_error_shape(app: App) -> None:
    r = app.http.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == 404
    r = app.http.get("/v1/collect")
    assert r.status_code == 405 and r.json()["error"]["code"] == 405


def test_random_garbage_never_gives_a_5xx(app: App) -> None:
    rng = random.Random(5)
    pieces = [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"events"',
        b":",
        b",",
        b'"name"',
        b"1",
        b"null",
        b"\xff",
        b'"params"',
        b'{"a":',
        b"true",
        b'"page_view"',
        b"1e999",
        b"-",
        b"\\u0000",
    ]
    for _ in range(300):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        r = app.collect(body)
        assert r.status_code < 500, (body, r.text)
    assert app.http.get("/healthz").status_code == 200


def _countries(app: App) -> dict[tuple[str, ...], list[str]]:
    app.process()
    return app.rows(
        {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "dimensions": [{"name": "countryId"}, {"name": "browser"}],
            "metrics": [{"name": "eventCount"}],
        }
    )


def test_client_address_from_the_socket_unless_forwarded_headers_are_trusted(
    app: App, tmp_path: Any
) -> None:
    from footfall.serve import Runtime

    app.collect(
        {"client_id": "x", "events": [page_view()]}, headers={"x-forwarded-for": "23.20.0.1"}
    )
    # the in-process client's own address is 203.0.113.9 (documentation range: no country)
    assert _countries(app) == {("(not set)", "Chrome"): ["1"]}
    trusting = App(Runtime(make_settings(tmp_path / "t", trust_forwarded_for=True), clock=CLOCK))
    try:
        trusting.collect(
            {"client_id": "x", "events": [page_view()]},
            headers={"x-forwarded-for": "23.20.0.1, 10.0.0.1"},
        )
        assert _countries(trusting) == {("US", "Chrome"): ["1"]}
    finally:
        trusting.runtime.stop()


def test_server_side_senders_pass_the_visitors_agent_and_address(app: App) -> None:
    body = {
        "client_id": "s",
        "user_agent": IPHONE,
        "ip_override": "86.128.0.7",
        "events": [page_view()],
    }
    server = {"user-agent": "python-httpx/0.28"}  # the sending server, not the visitor
    browser = app.collect(body, headers=server)
    assert browser.status_code == 400  # only server-side senders may speak for a visitor
    assert "api_secret" in browser.json()["error"]["message"]
    url = f"/v1/collect?measurement_id={app.mid}&api_secret={app.stream_secret}"
    r = app.http.post(url, json=body, headers=server)
    assert r.status_code == 200, r.text
    assert _countries(app) == {("GB", "Safari"): ["1"]}
    bad = app.http.post(url, json={**body, "ip_override": "not-an-ip"}, headers=server)
    assert bad.status_code == 400 and "ip_override" in bad.json()["error"]["message"]
    wrong = app.http.post(
        url.replace(app.stream_secret, "ffs_wrong-secret-value"), json=body, headers=server
    )
    assert wrong.status_code == 401 and "ffs_wrong" not in wrong.text
