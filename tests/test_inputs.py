"""Hostile input: bodies past their limits, invalid UTF-8, deep nesting, integers beyond 64 bits,
odd time zones and extreme datetimes get a 4xx naming the field, never a 500; smaller leaks
(CORS for ``Origin: null``, public readiness details, dates before GA4's floor)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from conftest import ADMIN_KEY, CHROME, CLOCK, TEST_NOW, App, SyncASGI, make_settings
from footfall.api.admin import MAX_RATES_BODY
from footfall.report.dates import EARLIEST
from footfall.serve import Runtime
from footfall.tenancy.model import ApiKey
from server import Server

AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}
TODAY = {"startDate": "today", "endDate": "today"}
YEAR_10000_US = 253_402_300_800_000_000  # 10000-01-01T00:00:00Z
DAYS_SINCE_FLOOR = (TEST_NOW.astimezone(dt.UTC).date() - EARLIEST).days  # the demo property is UTC


class Client(SyncASGI):
    """Requests to the in-process app; an unexpected exception is a 500 here, not a raise."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.asgi = app.http.transport.app
        super().__init__(self.asgi, ("203.0.113.7", 40000), raise_app_exceptions=False)


class Spare:
    """An account with a property, a stream, a secret and an admin key, for routes that change
    or delete what they touch."""

    def __init__(self, app: App) -> None:
        t = app.runtime.tenancy
        self.account = t.create_account("Spare")
        self.property = t.create_property(self.account.account_id, "Spare site")
        self.stream = t.create_stream(self.property.property_id, "Web")
        self.secret = t.create_secret(self.stream.stream_id, "server")
        self.key = t.create_key(self.account.account_id, "spare", ["admin"])


class World:
    """The demo property (reports, collect) and spare objects for the admin routes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.client = Client(app)
        self.spare = Spare(app)
        self.account = self.spare.account
        self.property = self.spare.property
        self.key = self.spare.key
        self.account_key = self.key.value

    def path(self, route: Route) -> str:
        """The route's path filled in: reports on the demo property, admin routes on spare
        objects (fresh ones for the routes that delete or revoke)."""
        spare = Spare(self.app) if route.endpoint.__name__ in ACTIONS else self.spare
        values = {
            "property_id": (
                self.app.property if route.path.startswith("/v1beta/") else spare.property
            ).property_id,
            "stream_id": spare.stream.stream_id,
            "secret_id": spare.secret.record.record_id,
            "key_id": spare.key.record.record_id,
            "account_id": spare.account.account_id,
        }
        path = route.path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", values[name])
        if path == "/v1/collect":
            path += f"?measurement_id={self.app.mid}"
        return path

    def call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {**AUTH, "user-agent": CHROME, **kw.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = make_settings(
        tmp_path_factory.mktemp("inputs"),
        rate_limit_per_key=0,
        rate_limit_per_property=0,
        rate_limit_auth_failures_per_minute=0,
    )
    runtime = Runtime(settings, clock=CLOCK)
    yield World(App(runtime))
    runtime.stop()


def write_routes(world: World) -> list[tuple[Route, str]]:
    out = []
    for route in world.client.asgi.routes:
        for method in sorted(route.methods or ()):
            if method in ("POST", "PATCH", "PUT"):
                out.append((route, method))
    return out


# a valid body per write route, and the field that carries a string in it
BODIES: dict[str, tuple[dict[str, Any], str]] = {
    "collect": ({"client_id": "c.1", "events": [{"name": "page_view"}]}, "client_id"),
    "runReport": ({"dateRanges": [TODAY], "metrics": [{"name": "STRING"}]}, "metrics"),
    "runRealtimeReport": ({"metrics": [{"name": "STRING"}]}, "metrics"),
    "batchRunReports": (
        {"requests": [{"dateRanges": [TODAY], "metrics": [{"name": "STRING"}]}]},
        "requests",
    ),
    "loadExchangeRates": ({"base": "USD", "rates": {"2026-05-01": {"EUR": "STRING"}}}, "rates"),
    "createAccount": ({"name": "STRING"}, "name"),
    "updateAccount": ({"name": "STRING"}, "name"),
    "createProperty": ({"name": "STRING", "account_id": "acc_x"}, "name"),
    "updateProperty": ({"name": "STRING"}, "name"),
    "createStream": ({"name": "STRING"}, "name"),
    "updateStream": ({"name": "STRING"}, "name"),
    "createSecret": ({"name": "STRING"}, "name"),
    "createKey": ({"name": "STRING", "scopes": ["read"], "operator": True}, "name"),
    "updateKey": ({"name": "STRING"}, "name"),
}
ACTIONS = {"deleteProperty", "reprocessProperty", "deleteStream", "revokeSecret", "revokeKey"}


def _with_bad_utf8(body: dict[str, Any]) -> bytes:
    text = json.dumps(body)
    if "STRING" in text:
        return text.replace("STRING", "ab\xffcd").encode("latin-1")
    return text.replace('"c.1"', '"c.\xff"').encode("latin-1")


def test_invalid_utf8_in_any_json_body_is_a_400_naming_the_field(world: World) -> None:
    routes = write_routes(world)
    assert len(routes) >= 12
    for route, method in routes:
        name = route.endpoint.__name__
        if name in ACTIONS:
            # takes no body: whatever is sent is not read
            r = world.call(method, world.path(route), content=b'{"x": "\xff"}')
            assert r.status_code < 500, (name, r.text)
            continue
        assert name in BODIES, f"no test body for the write route {name}: add one"
        body, field = BODIES[name]
        r = world.call(method, world.path(route), content=_with_bad_utf8(body))
        assert r.status_code == 400, (name, r.status_code, r.text)
        message = r.json()["error"]["message"]
        assert "UTF-8" in message and field in message, (name, message)


def test_invalid_utf8_in_one_event_rejects_that_event_alone(world: World) -> None:
    body = (
        b'{"client_id": "c.2", "events": [{"name": "page_view"},'
        b' {"name": "page_view", "params": {"page_title": "caf\xe9"}}]}'
    )
    r = world.call("POST", f"/v1/collect?measurement_id={world.app.mid}", content=body)
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    assert events[0]["status"] == "accepted"
    assert events[1]["status"] == "rejected"
    assert "params.page_title" in events[1]["message"] and "UTF-8" in events[1]["message"]


NESTED = 5_000


def _report(world: World, body: dict[str, Any] | bytes, kind: str = "runReport") -> httpx.Response:
    url = f"/v1beta/properties/{world.app.property.property_id}:{kind}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.call("POST", url, content=content)


def _collect(world: World, body: dict[str, Any] | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.call("POST", f"/v1/collect?measurement_id={world.app.mid}", content=content)


@pytest.mark.parametrize("closed", [True, False], ids=["balanced", "unclosed"])
def test_deeply_nested_json_in_a_param_is_a_400_naming_it(world: World, closed: bool) -> None:
    deep = b"[" * 50_000 + (b"]" * 50_000 if closed else b"")
    body = b'{"client_id": "c.3", "events": [{"name": "e", "params": {"deep": ' + deep + b"}}]}"
    r = _collect(world, body)
    assert r.status_code == 400, r.text
    assert "events[0].params.deep" in r.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["runReport", "runRealtimeReport"])
def test_thousands_of_nested_not_expressions_are_a_400(world: World, kind: str) -> None:
    leaf = {"filter": {"fieldName": "country", "stringFilter": {"value": "France"}}}
    text = '{"notExpression": ' * NESTED + json.dumps(leaf) + "}" * NESTED
    metric = "activeUsers"
    dates = (
        '"dateRanges": [{"startDate": "today", "endDate": "today"}], '
        if kind == "runReport"
        else ""
    )
    body = f'{{{dates}"metrics": [{{"name": "{metric}"}}], "dimensionFilter": {text}}}'
    r = _report(world, body.encode(), kind)
    assert r.status_code == 400, r.text
    assert "dimensionFilter.notExpression.notExpression" in r.json()["error"]["message"]


def test_deep_nesting_in_an_admin_body_is_a_400(world: World) -> None:
    body = b'{"name": ' + b"[" * 9_000 + b"]" * 9_000 + b"}"  # under the 20 kB limit
    r = world.call("POST", "/v1/admin/accounts", content=body)
    assert r.status_code == 400 and "name" in r.json()["error"]["message"], r.text


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (10**30, "params.engagement_time_msec"),
        (-(2**63) - 1, "params.engagement_time_msec"),
        (2**64, "params.engagement_time_msec"),
    ],
)
def test_event_integers_beyond_64_bits_reject_the_event(
    world: World, value: int, field: str
) -> None:
    body = {
        "client_id": "c.4",
        "events": [{"name": "e", "params": {"engagement_time_msec": value}}],
    }
    r = _collect(world, body)
    assert r.status_code == 400, r.text
    assert field in r.json()["events"][0]["message"]


@pytest.mark.parametrize(
    "stamp", [10**30, 2**64, -(2**63), -(10**30), 1, 2**63 - 1], ids=lambda v: str(v)[:12]
)
def test_extreme_event_timestamps_are_rejected_not_500(world: World, stamp: int) -> None:
    event_level = {"client_id": "c.5", "events": [{"name": "e", "timestamp_micros": stamp}]}
    request_level = {"client_id": "c.5", "timestamp_micros": stamp, "events": [{"name": "e"}]}
    for body in (event_level, request_level):
        url = f"/v1/collect?measurement_id={world.app.mid}"
        browser = world.client.request("POST", url, json=body, headers={"user-agent": CHROME})
        # a write key may send history, still never before 2015 or into the future
        keyed = _collect(world, body)
        for r in (browser, keyed):
            assert r.status_code == 400, r.text
            assert r.json()["events"][0]["reason"] in ("event_too_old", "event_in_future")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"offset": 9223372036854775808}, "offset"),
        ({"offset": "9223372036854775808"}, "offset"),
        ({"offset": 10**30}, "offset"),
        ({"limit": 10**30}, "limit"),
        ({"limit": -(10**30)}, "limit"),
        (
            {
                "dimensionFilter": {
                    "filter": {
                        "fieldName": "eventName",
                        "numericFilter": {
                            "operation": "EQUAL",
                            "value": {"int64Value": int("9" * 400)},
                        },
                    }
                }
            },
            "int64Value",
        ),
        (
            {
                "dimensionFilter": {
                    "filter": {
                        "fieldName": "eventName",
                        "betweenFilter": {
                            "fromValue": {"int64Value": -(2**63) - 1},
                            "toValue": {"doubleValue": 1},
                        },
                    }
                }
            },
            "fromValue.int64Value",
        ),
    ],
    ids=[
        "offset",
        "offset-string",
        "offset-huge",
        "limit",
        "limit-negative",
        "int64-400",
        "between",
    ],
)
def test_report_integers_beyond_64_bits_are_a_400_naming_the_field(
    world: World, patch: dict[str, Any], field: str
) -> None:
    body = {"dateRanges": [TODAY], "metrics": [{"name": "eventCount"}], **patch}
    r = _report(world, body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]


def test_a_double_beyond_range_is_a_400(world: World) -> None:
    flt = b'{"filter": {"fieldName": "eventName", "numericFilter": {"operation": "EQUAL", "value": {"doubleValue": 1e400}}}}'
    body = (
        b'{"dateRanges": [{"startDate": "today", "endDate": "today"}], "metrics": [{"name": "eventCount"}], '
        b'"dimensionFilter": ' + flt + b"}"
    )
    r = _report(world, body)
    assert r.status_code == 400, r.text
    assert "doubleValue" in r.json()["error"]["message"]


def test_the_largest_offset_still_answers(world: World) -> None:
    r = _report(
        world, {"dateRanges": [TODAY], "metrics": [{"name": "eventCount"}], "offset": 2**63 - 1}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rowCount"] >= 0 and "rows" not in r.json()


@pytest.mark.parametrize(
    "zone", ["A" * 5000, "localtime", "posixrules", "../../etc/passwd", "", "Europe/Paris\x00"]
)
def test_time_zones_must_be_iana_names(world: World, zone: str) -> None:
    create = {"name": "Odd", "account_id": world.account.account_id, "time_zone": zone}
    r = world.call("POST", "/v1/admin/properties", json=create)
    assert r.status_code == 400, r.text
    assert "time_zone" in r.json()["error"]["message"]
    pid = world.property.property_id
    r = world.call("PATCH", f"/v1/admin/properties/{pid}", json={"time_zone": zone})
    assert r.status_code == 400 and "time_zone" in r.json()["error"]["message"], r.text


def test_iana_time_zones_are_accepted(world: World) -> None:
    for zone in ("Europe/Paris", "America/New_York", "UTC", "Asia/Kolkata"):
        create = {"name": "Zoned", "account_id": world.account.account_id, "time_zone": zone}
        assert world.call("POST", "/v1/admin/properties", json=create).status_code == 201


EXTREME_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999-00:01",
    "0001-01-01T00:00:00",
]


@pytest.mark.parametrize("moment", EXTREME_TIMES)
def test_extreme_expiry_is_refused_before_it_is_stored(world: World, moment: str) -> None:
    before = len(world.app.runtime.tenancy.api_keys())
    body = {"name": "far", "scopes": ["read"], "account_id": world.account.account_id}
    r = world.call("POST", "/v1/admin/keys", json={**body, "expires_at": moment})
    assert r.status_code == 400, r.text
    assert "expires_at" in r.json()["error"]["message"]
    assert len(world.app.runtime.tenancy.api_keys()) == before
    key_id = world.key.record.record_id
    r = world.call("PATCH", f"/v1/admin/keys/{key_id}", json={"expires_at": moment})
    assert r.status_code == 400 and "expires_at" in r.json()["error"]["message"], r.text
    assert world.call("GET", "/v1/admin/keys").status_code == 200


@pytest.mark.parametrize("moment", EXTREME_TIMES)
def test_extreme_usage_times_are_a_400(world: World, moment: str) -> None:
    pid = world.app.property.property_id
    for name in ("start", "end"):
        r = world.call("GET", f"/v1/admin/properties/{pid}/usage", params={name: moment})
        assert r.status_code == 400, r.text
        assert name in r.json()["error"]["message"]


def test_the_latest_expiry_is_accepted_and_listed(world: World) -> None:
    body = {"name": "late", "scopes": ["read"], "account_id": world.account.account_id}
    r = world.call("POST", "/v1/admin/keys", json={**body, "expires_at": "9999-12-31T23:59:59Z"})
    assert r.status_code == 201, r.text
    assert r.json()["expires_at"] == "9999-12-31T23:59:59Z"


def test_a_stored_key_whose_times_cannot_be_shown_is_listed_and_revoked(world: World) -> None:
    """A record written before expiry was bounded (year 10000) must not break the listing."""
    t = world.app.runtime.tenancy
    made = t.create_key(world.account.account_id, "stored earlier", ["read"])
    record = made.record
    assert isinstance(record, ApiKey)
    far = ApiKey(
        **{**{f: getattr(record, f) for f in record.__struct_fields__}, "expires_at": YEAR_10000_US}
    )
    t.store.put(far)
    t._cache.clear()
    for token in (ADMIN_KEY, world.account_key):
        r = world.call("GET", "/v1/admin/keys", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        listed = {k["key_id"]: k for k in r.json()["keys"]}
        assert listed[record.key_id]["expires_at"] == "+10000-01-01T00:00:00Z"
    r = world.call("POST", f"/v1/admin/keys/{record.key_id}:revoke")
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None


def test_an_unexpected_error_is_a_clean_json_500(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("/secret/path/in/the/traceback")

    monkeypatch.setattr(world.app.runtime.tenancy, "accounts", boom)
    r = world.call("GET", "/v1/admin/accounts")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": 500, "message": "internal error", "status": "INTERNAL"}}


# -- bodies within limits while streaming -----------------------------------------------------


class Pulled:
    """A chunked body of ``total`` bytes that counts how much the server pulled."""

    def __init__(self, total: int, chunk: int = 16_384) -> None:
        self.total = total
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += self.chunk
            yield b" " * self.chunk


BIG = 50_000_000  # far above every route's limit (the largest is max_body_bytes)


def test_every_body_is_refused_while_streaming_past_its_limit(world: World) -> None:
    # the largest limit: exchange rates (a year of them), then the collector's
    limit = max(world.app.runtime.settings.max_body_bytes, MAX_RATES_BODY)
    for route, method in write_routes(world):
        name = route.endpoint.__name__
        body = Pulled(BIG)
        r = world.call(method, world.path(route), content=body)
        if name in ACTIONS:
            assert body.sent <= body.chunk, f"{name} takes no body but read {body.sent} bytes"
            continue
        assert r.status_code == 413, (name, r.status_code, r.text)
        assert body.sent <= limit + 2 * body.chunk, f"{name} read {body.sent} bytes before the 413"
        assert "limit" in r.json()["error"]["message"]


def test_a_declared_length_past_the_limit_is_refused_before_reading(world: World) -> None:
    for route, method in write_routes(world):
        if route.endpoint.__name__ in ACTIONS:
            continue
        body = Pulled(BIG)
        r = world.call(
            method, world.path(route), content=body, headers={"content-length": str(BIG)}
        )
        assert r.status_code == 413, (route.path, r.text)
        assert body.sent == 0, f"{route.path} read {body.sent} bytes of a body declared too large"


def test_report_and_admin_limits_are_their_own(world: World) -> None:
    pad = "x" * 30_000  # under the report limit (100 kB), over the admin one (20 kB)
    r = _report(world, {"dateRanges": [TODAY], "metrics": [{"name": "eventCount"}], "x": pad})
    assert r.status_code == 400  # read and decoded: an unknown field
    r = world.call("POST", "/v1/admin/accounts", json={"name": pad})
    assert r.status_code == 413 and "20000" in r.json()["error"]["message"]


# -- smaller leaks -----------------------------------------------------------------------------


def test_origin_null_is_never_granted(world: World) -> None:
    url = f"/v1/collect?measurement_id={world.app.mid}"
    headers = {"origin": "null", "referer": "https://shop.example.com/page", "user-agent": CHROME}
    body = {"client_id": "c.6", "events": [{"name": "page_view"}]}
    r = world.client.request("POST", url, json=body, headers=headers)
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    r = world.client.request(
        "OPTIONS", url, headers={**headers, "access-control-request-method": "POST"}
    )
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    ok = {**headers, "origin": "https://shop.example.com"}
    r = world.client.request("OPTIONS", url, headers=ok)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://shop.example.com"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[World]:
    """A runtime whose processor thread runs, so it is ready."""
    runtime = Runtime(make_settings(tmp_path), clock=CLOCK)
    runtime.start()
    yield World(App(runtime))
    runtime.stop()


def test_public_readiness_says_ready_and_nothing_else(live: World) -> None:
    r = live.client.request("GET", "/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}
    # an account key is not enough for the details, and a wrong key is refused
    account = {"authorization": f"Bearer {live.account_key}"}
    assert live.client.request("GET", "/readyz", headers=account).json() == {"status": "ready"}
    wrong = {"authorization": "Bearer ffk_not-a-key"}
    assert live.client.request("GET", "/readyz", headers=wrong).status_code == 401
    r = live.client.request("GET", "/readyz", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert {"processor", "queue", "store"} <= set(body["checks"])
    assert body["checks"]["not_ready"] == []


def test_public_readiness_gives_one_word_when_not_ready(
    live: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = live.app.runtime.worker
    assert worker is not None
    monkeypatch.setattr(
        worker, "last_error", "OSError: /var/lib/footfall/footfall.duckdb: disk I/O error"
    )
    r = live.client.request("GET", "/readyz")
    assert (r.status_code, r.json()) == (503, {"status": "not ready", "reason": "processor"})
    assert "/var/lib" not in r.text

    def broken(key: str) -> Any:
        raise OSError("/var/lib/footfall/footfall.duckdb: disk I/O error")

    monkeypatch.setattr(live.app.runtime.store, "get_meta", broken)
    r = live.client.request("GET", "/readyz")
    assert (r.status_code, r.json()) == (503, {"status": "not ready", "reason": "store"})
    assert "/var/lib" not in r.text and "OSError" not in r.text
    detail = live.client.request("GET", "/readyz", headers=AUTH).json()
    assert detail["status"] == "not ready" and detail["reason"] == "store"
    assert detail["checks"]["not_ready"] == ["store", "processor"]
    assert "/var/lib" in detail["checks"]["processor"]["last_error"]


def test_a_stopped_processor_is_not_ready(world: World) -> None:
    # the in-process app of the other tests runs no processor thread
    r = world.client.request("GET", "/readyz")
    assert (r.status_code, r.json()) == (503, {"status": "not ready", "reason": "processor"})


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("9999daysAgo", "earliest"),
        (f"{DAYS_SINCE_FLOOR + 1}daysAgo", "earliest"),
        ("99999999999999999999daysAgo", "startDate"),
        ("2015-08-13", "earliest"),
        ("0001-01-01", "earliest"),
        ("20260518", "not a date"),
        ("2026-W20-1", "not a date"),
    ],
)
def test_every_date_form_meets_the_earliest_date(world: World, value: str, needle: str) -> None:
    r = _report(
        world,
        {
            "dateRanges": [{"startDate": value, "endDate": "today"}],
            "metrics": [{"name": "eventCount"}],
        },
    )
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "dateRanges[0].startDate" in message and needle in message


def test_dates_near_the_floor_and_far_ahead_answer(world: World) -> None:
    for start, end in (
        ("2015-08-14", "today"),
        (f"{DAYS_SINCE_FLOOR}daysAgo", "today"),
        ("today", "9999-12-31"),
        ("30daysAgo", "yesterday"),
    ):
        r = _report(
            world,
            {
                "dateRanges": [{"startDate": start, "endDate": end}],
                "metrics": [{"name": "eventCount"}],
            },
        )
        assert r.status_code == 200, (start, end, r.text)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.e2e
def test_a_real_server_closes_an_oversized_chunked_body_without_buffering_it(
    tmp_path: Path,
) -> None:
    """600 MB sent in chunks to each body route of ``footfall serve``: a 413 after the limit,
    the connection closed (the rest is never read), and the server's memory unchanged."""
    server = Server(tmp_path / "serve").start()
    try:
        assert server.proc is not None
        before = _rss_kb(server.proc.pid)
        frame = b"%x\r\n" % 65_536 + b" " * 65_536 + b"\r\n"
        for path in (
            f"/v1beta/properties/{server.property_id}:runReport",
            "/v1/admin/accounts",
            f"/v1/collect?measurement_id={server.measurement_id}",
        ):
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
                s.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: footfall\r\nAuthorization: Bearer {ADMIN_KEY}"
                    "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                )
                sent = 0
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    while sent < 600_000_000:
                        s.sendall(frame)
                        sent += len(frame)
                head = s.recv(65_536)
            assert head.startswith(b"HTTP/1.1 413"), (path, head[:200])
            assert b"connection: close" in head.lower()
            # the server stopped reading: only what the sockets' buffers hold got through
            assert sent < 100_000_000, f"{path}: the server read {sent} bytes"
        assert _rss_kb(server.proc.pid) - before < 50_000  # kB: nothing was buffered
    finally:
        server.stop()
