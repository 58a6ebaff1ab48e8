"""Tenant isolation: a key or secret of account A, used against account B's objects, is refused
on every route, never returns B's data and never writes B's events.

The routes come from the app itself, with the access policy the gateway keeps on each endpoint,
so a new route is attacked automatically, and a route this matrix does not know how to attack
fails the test until it is added here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from conftest import ADMIN_KEY, CHROME, CLOCK, App, make_settings
from footfall.gateway.access import Access
from footfall.serve import Runtime

PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/",
    "/dashboard.js",
    "/openapi.json",
    "/footfall.js",
    "/footfall.enhanced.js",
}


class Tenant:
    """One account with a property, a stream, a secret and keys of each scope."""

    def __init__(self, app: App, name: str) -> None:
        t = app.runtime.tenancy
        self.account = t.create_account(name)
        self.property = t.create_property(self.account.account_id, f"{name} site")
        self.stream = t.create_stream(self.property.property_id, "Web")
        self.secret = t.create_secret(self.stream.stream_id, "server")
        aid = self.account.account_id
        self.keys = {
            scope: t.create_key(aid, f"{name} {scope}", [scope]).value
            for scope in ("read", "write", "admin")
        }
        self.admin_key_id = t.authenticate(self.keys["admin"]).key_id  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, Tenant, Tenant]]:
    runtime = Runtime(make_settings(tmp_path_factory.mktemp("isolation")), clock=CLOCK)
    app = App(runtime)
    a, b = Tenant(app, "Alpha"), Tenant(app, "Beta")
    r = app.http.post(
        f"/v1/collect?measurement_id={b.stream.measurement_id}",
        json={
            "client_id": "b.1",
            "events": [{"name": "page_view", "params": {"page_location": "https://b.example/"}}],
        },
        headers={"user-agent": CHROME},
    )
    assert r.status_code == 200
    app.process()
    yield app, a, b
    runtime.stop()


def _count(app: App, b: Tenant) -> int:
    with app.runtime.store._reader() as cur:  # type: ignore[attr-defined]
        rows = cur.execute(
            "SELECT count(*) FROM events WHERE property_id = ?", [b.property.property_id]
        ).fetchall()
    return int(rows[0][0])


def _path(route: Route, b: Tenant, app: App) -> str:
    values = {
        "property_id": b.property.property_id,
        "stream_id": b.stream.stream_id,
        "secret_id": b.secret.record.record_id,
        "key_id": b.admin_key_id,
        "account_id": b.account.account_id,
    }
    path = route.path
    for name in route.param_convertors:
        assert name in values, (
            f"the isolation matrix does not know the path parameter {{{name}}} of {route.path}"
        )
        path = path.replace("{" + name + "}", values[name])
    return path


def _body(name: str, b: Tenant) -> dict[str, Any] | None:
    """The body of each write route, aimed at B wherever the body names an owner."""
    bodies: dict[str, dict[str, Any] | None] = {
        "createAccount": {"name": "intruder"},
        "updateAccount": {"disabled": True},
        "createProperty": {"name": "intruder", "account_id": b.account.account_id},
        "updateProperty": {"allowed_hostnames": ["evil.example"]},
        "createStream": {"name": "intruder"},
        "updateStream": {"name": "intruder"},
        "createSecret": {"name": "intruder"},
        "createKey": {"name": "intruder", "scopes": ["admin"], "account_id": b.account.account_id},
        "updateKey": {"name": "intruder"},
        "runReport": {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "metrics": [{"name": "eventCount"}],
        },
        "runRealtimeReport": {"metrics": [{"name": "activeUsers"}]},
        "batchRunReports": {
            "requests": [
                {
                    "dateRanges": [{"startDate": "today", "endDate": "today"}],
                    "metrics": [{"name": "eventCount"}],
                }
            ]
        },
        "loadExchangeRates": {"base": "USD", "rates": {"2026-05-01": {"EUR": "9.99"}}},
    }
    actions = {"deleteProperty", "reprocessProperty", "deleteStream", "revokeSecret", "revokeKey"}
    assert name in bodies or name in actions, f"the isolation matrix has no request body for {name}"
    return bodies.get(name)


def routes(app: App) -> list[tuple[Route, str, Access]]:
    found = []
    for route in app.http.transport.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        access = getattr(route.endpoint, "access", None)
        assert access is not None, f"{route.path} is not behind the gateway"
        for method in sorted(route.methods or ()):
            if method not in ("HEAD", "OPTIONS"):
                found.append((route, method, access))
    return found


def test_every_route_is_behind_the_gateway(world: tuple[App, Tenant, Tenant]) -> None:
    app, _a, _b = world
    table = routes(app)
    assert len(table) > 25
    public = {route.path for route, _m, access in table if access is Access.PUBLIC}
    assert public == PUBLIC_PATHS, (
        "a new public route needs a look: add it to PUBLIC_PATHS if it leaks nothing"
    )


def _attack(
    app: App, route: Route, method: str, access: Access, a: Tenant, b: Tenant, credential: str
) -> Any:
    path = _path(route, b, app)
    if access is Access.INGEST:
        kind, value = credential.split(":", 1)
        query = f"measurement_id={b.stream.measurement_id}"
        headers = {"user-agent": CHROME}
        if kind == "secret":
            query += f"&api_secret={value}"
        else:
            headers["authorization"] = f"Bearer {value}"
        event = {
            "name": "page_view",
            "timestamp_micros": 1_500_000_000_000_000,  # history needs a write key
            "params": {"page_location": "https://b.example/intruder"},
        }
        return app.http.post(
            f"{path}?{query}", json={"client_id": "x", "events": [event]}, headers=headers
        )
    headers = {"authorization": f"Bearer {credential}"}
    if method == "GET":
        return app.http.get(path, params={"account_id": b.account.account_id}, headers=headers)
    return app.http.request(method, path, json=_body(route.endpoint.__name__, b), headers=headers)


def test_account_a_cannot_reach_account_b(world: tuple[App, Tenant, Tenant]) -> None:
    app, a, b = world
    before = _count(app, b)
    attacked = 0
    for route, method, access in routes(app):
        if access is Access.PUBLIC:
            continue
        if access is Access.INGEST:
            credentials = [
                f"secret:{a.secret.value}",
                f"key:{a.keys['write']}",
                f"key:{a.keys['admin']}",
            ]
        else:
            credentials = list(a.keys.values())
        for credential in credentials:
            r = _attack(app, route, method, access, a, b, credential)
            attacked += 1
            where = f"{method} {route.path} with {credential[:16]}"
            listing = method == "GET" and not route.param_convertors  # A may list its own objects
            allowed = (200, 401, 403) if listing else (401, 403, 404, 405)
            assert r.status_code in allowed, f"{where}: {r.status_code} {r.text[:300]}"
            text = r.text
            leaks = [
                b.property.name,
                b.stream.measurement_id,
                b.account.name,
                b.secret.value,
                *b.keys.values(),
            ]
            if listing:
                leaks += [b.property.property_id, b.account.account_id, b.admin_key_id]
            for secret in leaks:
                assert secret not in text, f"{where} leaked {secret!r}"
    assert attacked > 60
    app.process()
    assert _count(app, b) == before, "an attack wrote an event"
    # B is untouched: its keys still work, its property and stream are as they were
    t = app.runtime.tenancy
    assert all(t.authenticate(k) is not None for k in b.keys.values())
    assert t.property(b.property.property_id) == b.property
    assert t.by_measurement_id(b.stream.measurement_id) is not None
    assert t.verify_secret(b.stream, b.secret.value) is not None
    assert not t.account(b.account.account_id).disabled


def test_the_same_requests_work_for_b_itself(world: tuple[App, Tenant, Tenant]) -> None:
    """The matrix is not refusing everything: B's own read key reads B's data."""
    app, _a, b = world
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }
    r = app.http.post(
        f"/v1beta/properties/{b.property.property_id}:runReport",
        json=body,
        headers={"authorization": f"Bearer {b.keys['read']}"},
    )
    assert r.status_code == 200 and r.json()["rows"][0]["metricValues"][0]["value"] != "0"
    for scope in (
        "admin",
        "read",
    ):  # any key lists what it covers (the dashboard's property picker)
        auth = {"authorization": f"Bearer {b.keys[scope]}"}
        listed = app.http.get("/v1/admin/properties", headers=auth).json()
        assert [p["property_id"] for p in listed["properties"]] == [b.property.property_id]


def test_scopes_within_one_account(world: tuple[App, Tenant, Tenant]) -> None:
    app, a, _b = world
    pid = a.property.property_id
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }

    def report(key: str) -> int:
        return app.http.post(
            f"/v1beta/properties/{pid}:runReport",
            json=body,
            headers={"authorization": f"Bearer {key}"},
        ).status_code

    assert report(a.keys["read"]) == 200
    assert report(a.keys["admin"]) == 200  # admin implies read
    assert report(a.keys["write"]) == 403
    admin_listing = app.http.get(
        "/v1/admin/keys", headers={"authorization": f"Bearer {a.keys['read']}"}
    )
    assert admin_listing.status_code == 403
    metrics = app.http.get("/metrics", headers={"authorization": f"Bearer {a.keys['admin']}"})
    assert metrics.status_code == 403  # an account's admin is not the server's operator
    assert (
        app.http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}).status_code
        == 200
    )


def test_keys_bound_to_some_properties(world: tuple[App, Tenant, Tenant], tmp_path: Path) -> None:
    app, a, _b = world
    t = app.runtime.tenancy
    other = t.create_property(a.account.account_id, "Alpha shop")
    bound = t.create_key(
        a.account.account_id, "only the site", ["read"], property_ids=[a.property.property_id]
    ).value
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }
    auth = {"authorization": f"Bearer {bound}"}
    ok = app.http.post(
        f"/v1beta/properties/{a.property.property_id}:runReport", json=body, headers=auth
    )
    no = app.http.post(f"/v1beta/properties/{other.property_id}:runReport", json=body, headers=auth)
    assert (ok.status_code, no.status_code) == (200, 404)
