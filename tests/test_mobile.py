"""Mobile apps on the collector: ``app_instance_id``, GA4's ``device`` object, screen views."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from conftest import ADMIN_KEY, OKHTTP, App, encode, raw_event
from footfall.schema.events import RawEvent
from footfall.schema.wire import Device
from test_processor import Rig

IPHONE_APP = "5b1e8c2f9a0d4e7f8c3b6a1d2e4f6a8b"
TABLET_APP = "c0ffee00c0ffee00c0ffee00c0ffee00"
CFNETWORK = "Shop/3 CFNetwork/1494 Darwin/23.0.0"  # an iOS app's URLSession
TODAY = [{"startDate": "today", "endDate": "today"}]


def screen_view(name: str, event_id: str, **params: Any) -> dict[str, Any]:
    return {
        "name": "screen_view",
        "event_id": event_id,
        "params": {"firebase_screen": name, "session_id": "1", **params},
    }


def send_app(app: App, body: dict[str, Any], ua: str = OKHTTP) -> Any:
    return app.collect(body, headers={"user-agent": ua})


def report(app: App, dims: list[str], metrics: list[str]) -> dict[tuple[str, ...], list[str]]:
    return app.rows(
        {
            "dateRanges": TODAY,
            "dimensions": [{"name": d} for d in dims],
            "metrics": [{"name": m} for m in metrics],
        }
    )


def dead_letters(app: App) -> list[tuple[str, str, str]]:
    with app.runtime.store._reader() as cur:  # type: ignore[attr-defined]
        rows: list[tuple[str, str, str]] = cur.execute(
            "SELECT event_id, reason, detail FROM dead_letters ORDER BY event_id"
        ).fetchall()
    return rows


# -- the collector ---------------------------------------------------------------------------


def test_an_app_instance_id_is_accepted(app: App) -> None:
    r = send_app(app, {"app_instance_id": IPHONE_APP, "events": [screen_view("Home", "s1")]})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


def test_any_printable_id_up_to_128_characters_is_an_app_instance_id(app: App) -> None:
    uuid_style = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"  # an app's own UUID, not Firebase's hex
    r = send_app(app, {"app_instance_id": uuid_style, "events": [screen_view("Home", "u1")]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("bad", ["", "x" * 129, "tab\there"])
def test_app_instance_id_is_bounded_like_client_id(app: App, bad: str) -> None:
    r = send_app(app, {"app_instance_id": bad, "events": [screen_view("Home", "b1")]})
    assert r.status_code == 400
    assert "app_instance_id" in r.json()["error"]["message"]


def test_client_id_and_app_instance_id_together_are_a_400_naming_both(app: App) -> None:
    body = {"client_id": "1.1", "app_instance_id": IPHONE_APP, "events": [screen_view("H", "x")]}
    r = send_app(app, body)
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "client_id" in message and "app_instance_id" in message


@pytest.mark.parametrize(
    ("device", "field"),
    [
        ({"model": "x" * 101}, "device.model"),
        ({"operating_system_version": "17\n1"}, "device.operating_system_version"),
        ({"category": 7}, "device.category"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_device_fields_are_bounded_strings_of_known_names(
    app: App, device: dict[str, Any], field: str
) -> None:
    body = {"app_instance_id": IPHONE_APP, "device": device, "events": [screen_view("H", "d")]}
    r = send_app(app, body)
    assert r.status_code == 400
    assert field in r.json()["error"]["message"]


def test_a_device_object_needs_no_credentials(app: App) -> None:
    device = dict.fromkeys(Device.__struct_fields__, "x" * 100)
    r = send_app(
        app, {"app_instance_id": IPHONE_APP, "device": device, "events": [screen_view("H", "n")]}
    )
    assert r.status_code == 200, r.text


def test_firebase_screen_params_are_the_only_firebase_names_allowed(app: App) -> None:
    events = [
        screen_view("Home", "f1", firebase_screen_class="HomeViewController"),
        {"name": "tap", "event_id": "f2", "params": {"firebase_event_origin": "app"}},
        {"name": "tap", "event_id": "f3", "params": {"Firebase_Screen": "Home"}},
        {"name": "firebase_screen", "event_id": "f4"},
    ]
    r = send_app(app, {"app_instance_id": IPHONE_APP, "events": events})
    assert r.status_code == 200
    results = r.json()["events"]
    assert [e.get("reason") for e in results] == [
        None,
        "reserved_param_name",
        "reserved_param_name",
        "reserved_event_name",
    ]


def test_allowed_hostnames_bind_a_browser_but_not_an_app_without_an_origin(app: App) -> None:
    app.runtime.tenancy.update_property(
        app.property.property_id, allowed_hostnames=["shop.example.com"]
    )
    body = {"app_instance_id": IPHONE_APP, "events": [screen_view("Home", "h1")]}
    assert send_app(app, body).json()["accepted"] == 1  # an app's HTTP client: no Origin
    # a page elsewhere sending as an app is still a browser on a foreign origin
    foreign = app.collect(body, headers={"origin": "https://copycat.example"})
    assert foreign.status_code == 400
    assert foreign.json()["events"][0]["reason"] == "hostname_not_allowed"
    sandboxed = app.collect(body, headers={"origin": "null"})  # a sandboxed frame, anywhere
    assert sandboxed.json()["events"][0]["reason"] == "hostname_not_allowed"
    # and a web event without an Origin is still checked against its page
    web = {
        "client_id": "1",
        "events": [{"name": "page_view", "params": {"page_location": "https://copycat.example/"}}],
    }
    assert app.collect(web).json()["events"][0]["reason"] == "hostname_not_allowed"


# -- through the processor into reports ------------------------------------------------------


def _send_the_apps_and_a_browser(app: App) -> None:
    iphone = {
        "app_instance_id": IPHONE_APP,
        "device": {
            "category": "Mobile",
            "language": "en-GB",
            "screen_resolution": "1179x2556",
            "operating_system": "iPhone OS",
            "operating_system_version": "17.1",
            "model": "iPhone15,2",
            "brand": "Apple",
            "app_version": "3.2.0",
        },
        "events": [
            {"name": "first_open", "event_id": "i0", "params": {"session_id": "1"}},
            screen_view("Home", "i1", firebase_screen_class="HomeViewController"),
            screen_view("Product", "i2"),
            {
                "name": "add_to_cart",
                "event_id": "i3",
                "params": {"screen_name": "Product", "session_id": "1"},
            },
        ],
    }
    tablet = {
        "app_instance_id": TABLET_APP,
        "device": {
            "category": "Tablet",
            "screen_resolution": "1600x2560",
            "operating_system": "android",
            "operating_system_version": "14",
            "model": "SM-X710",
            "brand": "Samsung",
            "app_version": "3.1.9",
        },
        "events": [
            screen_view("Home", "t1"),
            {
                "name": "screen_view",
                "event_id": "t2",
                "params": {
                    "screen_name": "Cart",
                    "screen_class": "CartActivity",
                    "session_id": "1",
                },
            },
        ],
    }
    web = {
        "client_id": "1.1",
        "events": [
            {
                "name": "page_view",
                "event_id": "w1",
                "params": {
                    "page_location": "https://shop.example.com/",
                    "page_title": "Home",
                    "screen_resolution": "1920x1080",
                },
            }
        ],
    }
    assert send_app(app, iphone, ua=CFNETWORK).status_code == 200
    assert send_app(app, tablet).status_code == 200
    assert app.collect(web).status_code == 200
    assert app.process() == 7


def test_app_events_report_their_device_screen_and_users(app: App) -> None:
    _send_the_apps_and_a_browser(app)
    assert dead_letters(app) == []
    assert report(app, [], ["totalUsers", "sessions", "screenPageViews", "eventCount"]) == {
        (): ["3", "3", "5", "7"]
    }
    tech = report(
        app,
        ["deviceCategory", "operatingSystem", "operatingSystemVersion", "browser"],
        ["totalUsers", "eventCount"],
    )
    assert tech == {
        ("mobile", "iOS", "17.1", "(not set)"): ["1", "4"],
        ("tablet", "Android", "14", "(not set)"): ["1", "2"],
        ("desktop", "Windows", "10", "Chrome"): ["1", "1"],
    }
    assert report(app, ["operatingSystemWithVersion"], ["totalUsers"]) == {
        ("iOS 17.1",): ["1"],
        ("Android 14",): ["1"],
        ("Windows 10",): ["1"],
    }
    assert report(app, ["screenResolution"], ["totalUsers"]) == {
        ("1179x2556",): ["1"],
        ("1600x2560",): ["1"],
        ("1920x1080",): ["1"],
    }
    screens = report(app, ["unifiedScreenName"], ["screenPageViews", "eventCount"])
    assert screens == {
        ("Home",): ["3", "3"],  # two apps' screen and the web page of that title
        ("Product",): ["1", "2"],
        ("Cart",): ["1", "1"],
        ("(not set)",): ["0", "1"],  # first_open names no screen
    }
    assert report(app, ["pageTitle"], ["eventCount"]) == {k: [v[1]] for k, v in screens.items()}
    assert report(app, ["language"], ["totalUsers"])[("English",)] == ["1"]


def test_model_brand_app_version_and_screen_class_are_custom_params(app: App) -> None:
    _send_the_apps_and_a_browser(app)
    assert report(
        app, ["customEvent:device_model", "customEvent:device_brand"], ["totalUsers"]
    ) == {
        ("iPhone15,2", "Apple"): ["1"],
        ("SM-X710", "Samsung"): ["1"],
        ("(not set)", "(not set)"): ["1"],
    }
    assert report(app, ["customEvent:app_version"], ["eventCount"]) == {
        ("3.2.0",): ["4"],
        ("3.1.9",): ["2"],
        ("(not set)",): ["1"],
    }
    assert report(app, ["customEvent:screen_class"], ["eventCount"]) == {
        ("HomeViewController",): ["1"],
        ("CartActivity",): ["1"],
        ("(not set)",): ["5"],
    }
    # the screen name lives in the page title, not again in the free params
    assert report(app, ["customEvent:firebase_screen"], ["eventCount"]) == {("(not set)",): ["7"]}


def test_the_realtime_report_names_app_screens(app: App) -> None:
    _send_the_apps_and_a_browser(app)
    r = app.http.post(
        f"/v1beta/properties/{app.property.property_id}:runRealtimeReport",
        json={
            "dimensions": [{"name": "unifiedScreenName"}],
            "metrics": [{"name": "screenPageViews"}],
        },
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert r.status_code == 200, r.text
    got = {
        row["dimensionValues"][0]["value"]: row["metricValues"][0]["value"]
        for row in r.json()["rows"]
    }
    assert got["Home"] == "3" and got["Cart"] == "1"


def test_an_okhttp_app_event_counts_and_an_okhttp_browser_event_does_not(app: App) -> None:
    app_body = {"app_instance_id": IPHONE_APP, "events": [screen_view("Home", "app-1")]}
    web_body = {
        "client_id": "1.1",
        "events": [
            {
                "name": "page_view",
                "event_id": "web-1",
                "params": {"page_location": "https://shop.example.com/"},
            }
        ],
    }
    assert send_app(app, app_body).status_code == 200
    assert send_app(app, web_body).status_code == 200
    app.process()
    assert report(app, ["deviceCategory", "operatingSystem"], ["eventCount"]) == {
        ("mobile", "(not set)"): ["1"],  # okhttp tells nothing; an app counts as mobile
    }
    assert dead_letters(app) == [("web-1", "bot", "crawler user agent")]


def test_an_app_without_a_user_agent_counts_but_a_bot_claiming_to_be_an_app_does_not(
    app: App,
) -> None:
    body = {"app_instance_id": IPHONE_APP, "events": [screen_view("Home", "quiet-1")]}
    assert send_app(app, body, ua="").status_code == 200
    bot = {"app_instance_id": TABLET_APP, "events": [screen_view("Home", "bot-1")]}
    assert (
        send_app(app, bot, ua="Googlebot/2.1 (+http://www.google.com/bot.html)").status_code == 200
    )
    app.process()
    assert report(app, [], ["eventCount"]) == {(): ["1"]}
    assert dead_letters(app) == [("bot-1", "bot", "bot user agent")]


# -- stored history --------------------------------------------------------------------------


class _RawEventBeforeApps(msgspec.Struct, kw_only=True):
    """RawEvent as stored before apps: no app_instance_id, no device."""

    property_id: str
    event_id: str
    name: str
    event_time: int
    received_at: int
    params: dict[str, str | int | float | bool] = {}
    client_id: str | None = None
    user_id: str | None = None
    ip: str = ""
    user_agent: str = ""
    accept_language: str = ""
    protocol: str = "native"
    flags: tuple[str, ...] = ()
    v: int = 1


def test_a_raw_event_stored_before_apps_still_decodes_and_processes() -> None:
    new = raw_event(event_id="old-1")
    old = _RawEventBeforeApps(**{f: getattr(new, f) for f in _RawEventBeforeApps.__struct_fields__})
    payload = msgspec.msgpack.encode(old)
    decoded = msgspec.msgpack.decode(payload, type=RawEvent)
    assert decoded == new and decoded.app_instance_id is None and decoded.device is None
    rig = Rig()
    try:
        assert rig.feed([payload]).stored == 1
        assert rig.query("SELECT visitor_id, browser FROM events") == [("c1", "Chrome")]
    finally:
        rig.geo.close()
        rig.store.close()


def test_an_app_event_reprocesses_from_its_raw_payload_to_the_same_event() -> None:
    raw = raw_event(
        event_id="app-raw-1",
        name="screen_view",
        client_id=None,
        app_instance_id=IPHONE_APP,
        user_agent=OKHTTP,
        params={"firebase_screen": "Home"},
        device=Device(category="tablet", operating_system="ios", model="iPad13,4"),
    )
    rig = Rig()
    try:
        rig.feed([raw])
        (payload,) = rig.query("SELECT payload FROM raw_events")[0]
        stored = msgspec.msgpack.decode(payload, type=RawEvent)
        assert stored == msgspec.structs.replace(raw, ip="")
        prop = rig.processor.properties(raw.property_id)
        assert prop is not None
        # the stored history gives the same event as the one first received
        again = msgspec.structs.replace(stored, ip=raw.ip)  # as re-processing reads it back
        assert rig.processor.pipeline.run(again, prop) == rig.processor.pipeline.run(raw, prop)
        assert rig.query(
            "SELECT visitor_id, device_category, os, page_title, client_id FROM events"
        ) == [(IPHONE_APP, "tablet", "iOS", "Home", None)]
    finally:
        rig.geo.close()
        rig.store.close()


def test_encoded_app_events_keep_the_device_small() -> None:
    raw = raw_event(app_instance_id=IPHONE_APP, client_id=None, device=Device(model="Pixel 8"))
    assert msgspec.msgpack.decode(encode(raw), type=RawEvent).device == Device(model="Pixel 8")
    # unset device fields are not written
    assert b"browser_version" not in encode(raw)
