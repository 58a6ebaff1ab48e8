"""Tenancy and the gateway: keys and secrets, hostnames and CORS, rate limits, usage, metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import ADMIN_KEY, CHROME, CLOCK, App, make_settings, now_us
from footfall.errors import ApiError
from footfall.serve import Runtime
from footfall.simulate.model import simulate
from footfall.simulate.send import body_for, requests_for
from footfall.store.duckdb import DuckDBStore
from footfall.tenancy.model import ApiKey, Property, Scope, decode_record, encode_record
from footfall.tenancy.service import Tenancy, hostname_allowed

DAY_US = 86_400_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def tenancy() -> Iterator[tuple[Tenancy, Clock, DuckDBStore]]:
    store = DuckDBStore(":memory:")
    clock = Clock()
    yield Tenancy(store, clock), clock, store
    store.close()


def _stored_bytes(store: DuckDBStore) -> bytes:
    with store._reader() as cur:
        rows = cur.execute("SELECT doc FROM tenancy").fetchall()
    return b"".join(bytes(r[0]) for r in rows)


def test_keys_are_stored_hashed_and_found_in_constant_time(
    tenancy: tuple[Tenancy, Clock, DuckDBStore],
) -> None:
    t, _clock, store = tenancy
    account = t.create_account("Shop")
    made = t.create_key(account.account_id, "reports", ["read"])
    assert made.value.startswith("ffk_") and len(made.value) > 40
    assert made.value.encode() not in _stored_bytes(store)
    assert made.record.prefix == made.value[:12]  # shown in listings to tell keys apart
    found = t.authenticate(made.value)
    assert found is not None and found.key_id == made.record.record_id
    assert t.authenticate(made.value[:-1] + ("A" if made.value[-1] != "A" else "B")) is None
    assert t.authenticate("ffk_nonsense") is None


def test_revoked_and_expired_keys_are_refused_at_once(
    tenancy: tuple[Tenancy, Clock, DuckDBStore],
) -> None:
    t, clock, _store = tenancy
    account = t.create_account("Shop")
    key = t.create_key(account.account_id, "k", ["read"])
    assert t.authenticate(key.value) is not None  # cached now
    t.revoke_key(key.record.record_id)
    assert t.authenticate(key.value) is None  # the cache does not outlive a revocation
    soon = t.create_key(account.account_id, "short", ["read"], expires_at=clock.now + DAY_US)
    assert t.authenticate(soon.value) is not None
    clock.now += DAY_US + 1
    assert t.authenticate(soon.value) is None
    with pytest.raises(ApiError, match="future"):
        t.create_key(account.account_id, "past", ["read"], expires_at=clock.now - 1)


def test_a_disabled_account_loses_its_keys_and_streams(
    tenancy: tuple[Tenancy, Clock, DuckDBStore],
) -> None:
    t, _clock, _store = tenancy
    account = t.create_account("Shop")
    prop = t.create_property(account.account_id, "site")
    stream = t.create_stream(prop.property_id, "Web")
    key = t.create_key(account.account_id, "k", ["admin"])
    t.update_account(account.account_id, disabled=True)
    assert t.authenticate(key.value) is None
    assert t.by_measurement_id(stream.measurement_id) is None


def test_validation_says_what_is_wrong(tenancy: tuple[Tenancy, Clock, DuckDBStore]) -> None:
    t, _clock, _store = tenancy
    account = t.create_account("Shop")
    for kwargs, needle in [
        ({"time_zone": "Mars/Base"}, "time zone"),
        ({"currency": "dollars"}, "ISO 4217"),
        ({"allowed_hostnames": ["not a host"]}, "hostname"),
        ({"hostname_policy": "ignore"}, "reject or flag"),
        ({"retention_days": -1}, "retention_days"),
        ({"key_events": ["1bad"]}, "key_events"),
    ]:
        with pytest.raises(ApiError, match=needle):
            t.create_property(account.account_id, "site", **kwargs)
    with pytest.raises(ApiError, match="scopes"):
        t.create_key(account.account_id, "k", ["everything"])
    other = t.create_account("Other")
    foreign = t.create_property(other.account_id, "theirs")
    with pytest.raises(ApiError, match="not a property of this account"):
        t.create_key(account.account_id, "k", ["read"], property_ids=[foreign.property_id])


def test_scopes_and_bindings() -> None:
    key = ApiKey(key_id="k", account_id="a", name="n", prefix="p", hash="h", scopes=(Scope.ADMIN,))
    assert key.allows(Scope.READ) and key.allows(Scope.WRITE)
    reader = ApiKey(
        key_id="k", account_id="a", name="n", prefix="p", hash="h", scopes=(Scope.READ,)
    )
    assert not reader.allows(Scope.WRITE)


@pytest.mark.parametrize(
    ("host", "allowed", "ok"),
    [
        ("shop.example.com", ("shop.example.com",), True),
        ("www.shop.example.com", ("shop.example.com",), True),
        ("evilshop.example.com", ("shop.example.com",), False),
        ("shop.example.com.evil.io", ("shop.example.com",), False),
        ("a.b.example.com", ("*.example.com",), True),
        ("", ("shop.example.com",), False),
        ("anything.io", (), True),
    ],
)
def test_hostname_rules(host: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert hostname_allowed(host, allowed) is ok


# -- through the app --------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[App]:
    runtime = Runtime(
        make_settings(
            tmp_path,
            rate_limit_per_key=2,
            rate_limit_per_property=3,
            rate_limit_burst_seconds=1,
            rate_limit_auth_failures_per_minute=3,
        ),
        clock=CLOCK,
    )
    yield App(runtime)
    runtime.stop()


def _event(path: str = "/", **extra: Any) -> dict[str, Any]:
    return {
        "name": "page_view",
        "params": {"page_location": f"https://shop.example.com{path}"},
        **extra,
    }


def test_foreign_hostnames_are_rejected_or_flagged(app: App) -> None:
    t = app.runtime.tenancy
    pid = app.property.property_id
    t.update_property(pid, allowed_hostnames=["shop.example.com"])
    own = app.collect(
        {"client_id": "1", "events": [_event()]}, headers={"origin": "https://shop.example.com"}
    )
    assert (
        own.status_code == 200
        and own.headers["access-control-allow-origin"] == "https://shop.example.com"
    )
    foreign = app.collect(
        {"client_id": "1", "events": [_event()]}, headers={"origin": "https://copycat.example"}
    )
    assert foreign.status_code == 400
    assert foreign.json()["events"][0]["reason"] == "hostname_not_allowed"
    assert "access-control-allow-origin" not in foreign.headers
    # no Origin header (a script): the page's own host decides
    scripted = app.collect(
        {
            "client_id": "1",
            "events": [
                {"name": "page_view", "params": {"page_location": "https://copycat.example/"}},
                _event(),
            ],
        }
    )
    assert [e["status"] for e in scripted.json()["events"]] == ["rejected", "accepted"]
    # server-side senders (an API secret) are not bound to hostnames
    url = f"/v1/collect?measurement_id={app.mid}&api_secret={app.stream_secret}"
    server = app.http.post(
        url,
        json={
            "client_id": "1",
            "events": [
                {"name": "page_view", "params": {"page_location": "https://copycat.example/"}}
            ],
        },
        headers={"user-agent": CHROME},
    )
    assert server.status_code == 200
    t.update_property(pid, hostname_policy="flag")
    flagged = app.collect(
        {"client_id": "1", "events": [_event()]}, headers={"origin": "https://copycat.example"}
    )
    assert flagged.status_code == 200
    app.process()
    with app.runtime.store._reader() as cur:
        flags = cur.execute("SELECT flags, count(*) FROM events GROUP BY ALL ORDER BY 1").fetchall()
    assert flags == [("", 3), ("foreign_hostname", 1)]
    app.runtime.usage.flush()
    totals = app.http.get(
        f"/v1/admin/properties/{pid}/usage", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    ).json()
    assert totals["totals"]["events_flagged:foreign_hostname"] == 1
    assert totals["totals"]["events_rejected:hostname_not_allowed"] == 2


def test_a_preflight_from_a_foreign_origin_gets_no_cors_grant(app: App) -> None:
    app.runtime.tenancy.update_property(
        app.property.property_id, allowed_hostnames=["shop.example.com"]
    )
    headers = {"access-control-request-method": "POST"}
    own = app.http.options(
        f"/v1/collect?measurement_id={app.mid}",
        headers={**headers, "origin": "https://www.shop.example.com"},
    )
    assert (
        own.status_code == 204
        and own.headers["access-control-allow-origin"] == "https://www.shop.example.com"
    )
    foreign = app.http.options(
        f"/v1/collect?measurement_id={app.mid}",
        headers={**headers, "origin": "https://copycat.example"},
    )
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    unknown = app.http.options(
        "/v1/collect?measurement_id=G-NOPE", headers={**headers, "origin": "https://x.io"}
    )
    assert "access-control-allow-origin" not in unknown.headers


def test_rate_limits_answer_429_spare_other_tenants_and_recover(limited: App) -> None:
    app = limited
    t = app.runtime.tenancy
    other_account = t.create_account("Other")
    other = t.create_property(other_account.account_id, "other site")
    other_stream = t.create_stream(other.property_id, "Web")
    statuses = [app.collect({"client_id": "1", "events": [_event()]}).status_code for _ in range(8)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses
    refused = app.collect({"client_id": "1", "events": [_event()]})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    neighbour = app.http.post(
        f"/v1/collect?measurement_id={other_stream.measurement_id}",
        json={"client_id": "1", "events": [_event()]},
        headers={"user-agent": CHROME},
    )
    assert neighbour.status_code == 200  # other tenants are unaffected
    # per key: two per second, so a third report in a row waits
    key = t.create_key(None, "reader", ["read"]).value
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }
    codes = [app.report(body, token=key).status_code for _ in range(4)]
    assert 429 in codes
    time.sleep(int(refused.headers["retry-after"]) + 0.1)
    assert app.collect({"client_id": "1", "events": [_event()]}).status_code == 200  # recovered
    assert app.report(body, token=key).status_code in (200, 429)


def test_failed_authentications_are_limited_per_client_address(limited: App) -> None:
    app = limited
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }
    codes = [app.report(body, token=f"ffk_guess-{i}").status_code for i in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
    # the address is now refused even with a good key, until the limit recovers
    assert app.report(body, token=ADMIN_KEY).status_code == 429


def test_keys_never_appear_in_errors(app: App) -> None:
    secret = "ffk_this-is-a-made-up-secret-value-123456"
    r = app.report({"metrics": [{"name": "eventCount"}]}, token=secret)
    assert r.status_code == 401 and secret not in r.text and secret[:12] not in r.text


def test_usage_adds_up_per_property(app: App) -> None:
    t = app.runtime.tenancy
    second = t.create_property(app.first.account.account_id, "second")
    second_mid = t.create_stream(second.property_id, "Web").measurement_id
    sent = {app.property.property_id: [0, 0], second.property_id: [0, 0]}  # accepted, rejected
    for i in range(30):
        pid, mid = (
            (app.property.property_id, app.mid) if i % 3 else (second.property_id, second_mid)
        )
        events = [_event(f"/p{i}"), {"name": "bad name"}] if i % 4 == 0 else [_event(f"/p{i}")]
        r = app.http.post(
            f"/v1/collect?measurement_id={mid}",
            json={"client_id": f"{i}", "events": events},
            headers={"user-agent": CHROME},
        )
        body = r.json()
        sent[pid][0] += body["accepted"]
        sent[pid][1] += body["rejected"]
    for pid, (accepted, rejected) in sent.items():
        usage = app.http.get(
            f"/v1/admin/properties/{pid}/usage", headers={"authorization": f"Bearer {ADMIN_KEY}"}
        )
        totals = usage.json()["totals"]
        rejected_total = sum(v for k, v in totals.items() if k.startswith("events_rejected:"))
        assert (totals["events_accepted"], rejected_total) == (accepted, rejected)
        assert totals["requests"] >= 10 and totals["bytes"] > 0


def test_metrics_have_server_totals_without_property_labels(app: App) -> None:
    app.collect({"client_id": "1", "events": [_event(), {"name": "bad name"}]})
    app.process()
    assert app.http.get("/metrics").status_code == 401
    text = app.http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}).text
    assert "footfall_events_accepted_total 1.0" in text
    assert 'footfall_events_rejected_total{reason="invalid_event_name"} 1.0' in text
    assert 'footfall_http_requests_total{code="200",route="collect"}' in text
    assert app.property.property_id not in text


def test_realtime_report(app: App) -> None:
    app.collect(
        {
            "client_id": "rt1",
            "events": [_event("/now"), {"name": "purchase", "params": {"value": 3}}],
        }
    )
    app.collect({"client_id": "rt2", "events": [_event("/now")]}, headers={"user-agent": CHROME})
    app.process()
    r = app.http.post(
        f"/v1beta/properties/{app.property.property_id}:runRealtimeReport",
        json={
            "dimensions": [{"name": "minutesAgo"}, {"name": "eventName"}],
            "metrics": [{"name": "activeUsers"}, {"name": "eventCount"}, {"name": "keyEvents"}],
            "metricAggregations": ["TOTAL"],
        },
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {
        tuple(v["value"] for v in row["dimensionValues"]): [v["value"] for v in row["metricValues"]]
        for row in body["rows"]
    }
    assert rows == {("00", "page_view"): ["2", "2", "0"], ("00", "purchase"): ["1", "1", "1"]}
    assert [v["value"] for v in body["totals"][0]["metricValues"]] == ["2", "3", "1"]
    bad = app.http.post(
        f"/v1beta/properties/{app.property.property_id}:runRealtimeReport",
        json={"metrics": [{"name": "sessions"}]},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert bad.status_code == 400 and "metrics[0]" in bad.json()["error"]["message"]


def test_usage_adds_up_after_a_simulated_load(app: App) -> None:
    """Two properties, each sent a simulation with some broken events mixed in."""
    t = app.runtime.tenancy
    second = t.create_property(app.first.account.account_id, "second")
    second_mid = t.create_stream(second.property_id, "Web").measurement_id
    targets = [(app.property.property_id, app.mid), (second.property_id, second_mid)]
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}  # a write key: history and visitor addresses
    for seed, (pid, mid) in enumerate(targets):
        sim = simulate(seed=seed, time_zone="UTC", visitors_per_day=15, days=2, now_us=now_us())
        sent = 0
        answered = [0, 0]
        for i, (headers, part) in enumerate(requests_for(sim.events)):
            body = json.loads(body_for(part))
            if i % 5 == 0 and len(body["events"]) < 25:
                body["events"].append({"name": "ga_reserved"})  # rejected: a reserved name
            sent += len(body["events"])
            r = app.http.post(
                f"/v1/collect?measurement_id={mid}", json=body, headers={**headers, **auth}
            )
            answered[0] += r.json()["accepted"]
            answered[1] += r.json()["rejected"]
        usage = app.http.get(f"/v1/admin/properties/{pid}/usage", headers=auth).json()["totals"]
        rejected = sum(v for k, v in usage.items() if k.startswith("events_rejected:"))
        assert usage["events_accepted"] + rejected == sent
        assert (usage["events_accepted"], rejected) == tuple(answered)
        assert usage["events_rejected:reserved_event_name"] == rejected > 0


def test_wildcard_rules_allow_only_subdomains() -> None:
    assert hostname_allowed("shop.example.com", ("*.example.com",))
    assert not hostname_allowed("example.com", ("*.example.com",))
    assert hostname_allowed("example.com", ("example.com",))


def test_expiry_can_only_move_into_the_future(tenancy: tuple[Tenancy, Clock, DuckDBStore]) -> None:
    t, clock, _store = tenancy
    key = t.create_key(None, "ops", ["read"])
    with pytest.raises(ApiError, match="future"):
        t.update_key(key.record.record_id, expires_at=clock.now - 1)
    t.update_key(key.record.record_id, expires_at=clock.now + DAY_US)
    assert t.authenticate(key.value) is not None


def test_browsers_are_not_refused_for_others_failed_logins(limited: App) -> None:
    app = limited
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }
    for i in range(5):
        app.report(body, token=f"ffk_guess-{i}")
    assert (
        app.report(body, token=ADMIN_KEY).status_code == 429
    )  # credentials from this address wait
    assert (
        app.collect({"client_id": "1", "events": [_event()]}).status_code == 200
    )  # page views do not


def test_realtime_minutes_ago_counts_from_now(app: App) -> None:
    app.collect(
        {
            "client_id": "rt",
            "events": [_event("/x", timestamp_micros=now_us() - 150_000_000)],
        }
    )
    app.process()
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}
    url = f"/v1beta/properties/{app.property.property_id}:runRealtimeReport"
    r = app.http.post(
        url,
        json={
            "dimensions": [{"name": "minutesAgo"}],
            "metrics": [{"name": "eventCount"}],
            "minuteRanges": [{"startMinutesAgo": 5, "endMinutesAgo": 1}],
        },
        headers=auth,
    )
    assert [row["dimensionValues"][0]["value"] for row in r.json()["rows"]] == ["02"]
    minmax = app.http.post(
        url,
        json={"metrics": [{"name": "eventCount"}], "metricAggregations": ["MAXIMUM"]},
        headers=auth,
    )
    assert minmax.status_code == 400


def test_ga4s_default_key_events_and_a_propertys_own(app: App) -> None:
    prop = app.property
    assert prop.key_events == ("purchase", "first_open", "in_app_purchase")

    def send(*names: str) -> None:
        r = app.collect({"client_id": "k1", "events": [{"name": n} for n in names]})
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
        app.process()

    def key_events() -> dict[tuple[str, ...], list[str]]:
        return app.rows(
            {
                "dateRanges": [{"startDate": "today", "endDate": "today"}],
                "dimensions": [{"name": "eventName"}],
                "metrics": [{"name": "keyEvents"}, {"name": "eventCount"}],
            }
        )

    send("purchase", "sign_up", "generate_lead")
    assert key_events() == {
        ("purchase",): ["1", "1"],
        ("sign_up",): ["0", "1"],
        ("generate_lead",): ["0", "1"],
    }
    r = app.http.request(
        "PATCH",
        f"/v1/admin/properties/{prop.property_id}",
        json={"key_events": ["purchase", "sign_up"]},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert r.status_code == 200 and r.json()["key_events"] == ["purchase", "sign_up"], r.text
    send("sign_up")  # from now on, as in GA4: events already counted keep their mark
    assert key_events()[("sign_up",)] == ["1", "2"]


def test_a_stored_property_keeps_the_key_events_it_has() -> None:
    old = encode_record(
        Property(
            property_id="100000009",
            account_id="acc_x",
            name="old",
            key_events=("purchase", "sign_up", "generate_lead"),
        )
    )
    # every field is in the stored document, so a new default never changes a stored property
    assert msgspec.msgpack.decode(old)["key_events"] == ["purchase", "sign_up", "generate_lead"]
    record = decode_record(old)
    assert isinstance(record, Property)
    assert record.key_events == ("purchase", "sign_up", "generate_lead")
