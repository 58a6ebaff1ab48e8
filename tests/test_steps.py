"""Unit tests for every pipeline step, the channel rules and the session rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from conftest import CHROME, IPHONE, OKHTTP, raw_event
from footfall.process.bots import drop_bots
from footfall.process.channels import default_channel_group
from footfall.process.draft import Draft, Drop, start_draft
from footfall.process.fields import put_event_fields, put_local_time
from footfall.process.geo import GeoLookup, make_put_geo
from footfall.process.identity import SaltSource, cookieless_visitor_id, make_put_identity
from footfall.process.page import put_page
from footfall.process.pipeline import Pipeline
from footfall.process.sessions import sessionize
from footfall.process.sources import SourceCatalog
from footfall.process.traffic import make_put_traffic_source
from footfall.process.useragent import put_user_agent
from footfall.schema.events import DropReason, EnrichedEvent, RawEvent
from footfall.schema.wire import Device
from footfall.tenancy.model import Property

PROP = Property(property_id="100000001", account_id="acc_test", name="t", time_zone="Europe/Paris")


def draft(raw: RawEvent | None = None, prop: Property = PROP, **kw: Any) -> Draft:
    return start_draft(raw or raw_event(**kw), prop)


# -- drop_bots -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "",
    ],
)
def test_drop_bots_drops_crawlers_scripts_and_headless_browsers(ua: str) -> None:
    result = drop_bots(draft(user_agent=ua))
    assert isinstance(result, Drop)
    assert result.reason is DropReason.BOT


@pytest.mark.parametrize("ua", [CHROME, IPHONE])
def test_drop_bots_keeps_people(ua: str) -> None:
    assert drop_bots(draft(user_agent=ua)) is None


@pytest.mark.parametrize(
    "ua", [OKHTTP, "Dart/3.3 (dart:io)", "Shop/3 CFNetwork/1494 Darwin/23.0.0", ""]
)
def test_drop_bots_keeps_an_apps_http_client_but_not_a_browser_claiming_one(ua: str) -> None:
    assert drop_bots(draft(user_agent=ua, client_id=None, app_instance_id="a1")) is None
    if ua != "Shop/3 CFNetwork/1494 Darwin/23.0.0":  # not on the crawler lists anyway
        assert isinstance(drop_bots(draft(user_agent=ua)), Drop)


@pytest.mark.parametrize(
    "ua",
    [
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
    ],
)
def test_drop_bots_drops_an_app_event_whose_agent_says_it_is_automation(ua: str) -> None:
    assert isinstance(drop_bots(draft(user_agent=ua, client_id=None, app_instance_id="a1")), Drop)


# -- put_user_agent ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ua", "device", "browser", "os"),
    [
        (CHROME, "desktop", "Chrome", "Windows"),
        (IPHONE, "mobile", "Safari", "iOS"),
        (
            "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Mobile/15E148 Safari/604.1",
            "tablet",
            "Safari",
            "iOS",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Safari/605.1.15",
            "desktop",
            "Safari",
            "Macintosh",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.6723.102 Mobile Safari/537.36",
            "mobile",
            "Chrome",
            "Android",
        ),
    ],
)
def test_put_user_agent(ua: str, device: str, browser: str, os: str) -> None:
    d = draft(user_agent=ua)
    assert put_user_agent(d) is None
    assert (d.event.device_category, d.event.browser, d.event.os) == (device, browser, os)


APP_AGENTS = [
    (OKHTTP, None, ("mobile", "", "", "", "")),
    ("Dart/3.3 (dart:io)", None, ("mobile", "", "", "", "")),
    ("Shop/3 CFNetwork/1494 Darwin/23.0.0", None, ("mobile", "", "", "iOS", "17.0")),
    (
        "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230805.001)",
        None,
        ("mobile", "", "", "Android", "13"),
    ),
    (
        OKHTTP,
        Device(category="Tablet", operating_system="ipados", operating_system_version="17.1"),
        ("tablet", "", "", "iOS", "17.1"),
    ),
    (
        OKHTTP,
        Device(category="Smart TV", operating_system="Android"),
        ("smart tv", "", "", "Android", ""),
    ),
    (
        OKHTTP,
        Device(category="phone", operating_system="HarmonyOS"),
        ("mobile", "", "", "HarmonyOS", ""),
    ),
    # an app's web view sends a browser's agent: it fills what the device object leaves out
    (IPHONE, Device(model="iPhone15,2"), ("mobile", "Safari", "18.1", "iOS", "18.1")),
    # a device's operating system comes with its own version, never the user agent's
    (
        "Shop/3 CFNetwork/1494 Darwin/23.0.0",
        Device(operating_system="iOS"),
        ("mobile", "", "", "iOS", ""),
    ),
]


@pytest.mark.parametrize(("ua", "device", "expected"), APP_AGENTS)
def test_put_user_agent_for_apps(ua: str, device: Device | None, expected: tuple[str, ...]) -> None:
    d = draft(user_agent=ua, client_id=None, app_instance_id="a1", device=device)
    assert put_user_agent(d) is None
    ev = d.event
    assert (ev.device_category, ev.browser, ev.browser_version, ev.os, ev.os_version) == expected


def test_put_user_agent_takes_a_server_sides_device_object_over_the_browser() -> None:
    device = Device(
        category="desktop",
        operating_system="macos",
        operating_system_version="14.5",
        browser="Chrome Mobile",
        browser_version="126.0",
    )
    d = draft(user_agent=IPHONE, device=device)  # a web client_id: not an app
    put_user_agent(d)
    ev = d.event
    assert (ev.device_category, ev.browser, ev.browser_version, ev.os, ev.os_version) == (
        "desktop",
        "Chrome",
        "126.0",
        "Macintosh",
        "14.5",
    )


# -- put_geo -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def geo() -> Any:
    lookup = GeoLookup()
    yield lookup
    lookup.close()


@pytest.mark.parametrize(
    ("ip", "country_id", "country"),
    [
        ("23.20.0.10", "US", "United States"),
        ("86.128.0.7", "GB", "United Kingdom"),
        ("85.214.0.9", "DE", "Germany"),
        ("126.0.0.3", "JP", "Japan"),
        ("10.0.0.1", "", ""),  # private: never looked up
        ("127.0.0.1", "", ""),
        ("not-an-ip", "", ""),
        ("", "", ""),
    ],
)
def test_put_geo(geo: GeoLookup, ip: str, country_id: str, country: str) -> None:
    d = draft(ip=ip)
    assert make_put_geo(geo)(d) is None
    assert (d.event.country_id, d.event.country) == (country_id, country)


def test_geo_database_is_replaceable_by_a_maxmind_file(geo: GeoLookup) -> None:
    replacement = GeoLookup(geo.database)  # any MaxMind-format file; here the same format
    assert replacement.country("23.20.0.10") == "US"
    replacement.close()


# -- put_page ------------------------------------------------------------------------------


def test_put_page_splits_location_and_language() -> None:
    d = draft(
        params={
            "page_location": "https://Shop.Example.com/a/b?x=1#top",
            "page_title": "T",
            "page_referrer": "https://www.google.com/",
        },
        accept_language="de-DE,de;q=0.9,en;q=0.8",
    )
    put_page(d)
    ev = d.event
    assert (ev.page_host, ev.page_path, ev.page_title) == ("shop.example.com", "/a/b", "T")
    assert ev.page_referrer == "https://www.google.com/"
    assert (ev.language_code, ev.language) == ("de-de", "German")


def test_put_page_language_param_wins_over_header() -> None:
    d = draft(
        params={"page_location": "https://a.example/", "language": "fr-FR"}, accept_language="en-US"
    )
    put_page(d)
    assert (d.event.language_code, d.event.language) == ("fr-fr", "French")


@pytest.mark.parametrize(
    ("params", "title"),
    [
        ({"firebase_screen": "Cart"}, "Cart"),
        ({"screen_name": "Cart"}, "Cart"),
        ({"firebase_screen": "Cart", "screen_name": "Basket"}, "Cart"),
        ({"page_title": "Home", "firebase_screen": "Cart"}, "Home"),
        ({"firebase_screen": 7, "screen_name": "Cart"}, "Cart"),
        ({}, ""),
    ],
)
def test_put_page_keeps_an_apps_screen_name_as_the_title(
    params: dict[str, Any], title: str
) -> None:
    d = draft(params=params)
    put_page(d)
    assert d.event.page_title == title


def test_put_page_language_and_screen_from_the_device_object() -> None:
    device = Device(language="pt_BR", screen_resolution="1080x2400")
    d = draft(params={}, device=device, accept_language="en-US")
    put_page(d)
    assert (d.event.language_code, d.event.language, d.event.screen_resolution) == (
        "pt-br",
        "Portuguese",
        "1080x2400",
    )
    # the event's own parameters win over the request's device
    d = draft(params={"language": "de", "screen_resolution": "800x600"}, device=device)
    put_page(d)
    assert (d.event.language_code, d.event.screen_resolution) == ("de", "800x600")


# -- put_traffic_source --------------------------------------------------------------------


@pytest.fixture(scope="module")
def put_traffic() -> Any:
    return make_put_traffic_source(SourceCatalog())


@pytest.mark.parametrize(
    ("location", "referrer", "params", "expected"),
    [
        ("https://s.example/", "", {}, ("(direct)", "(none)", "(direct)", "Direct")),
        (
            "https://s.example/",
            "https://www.google.com/",
            {},
            ("google", "organic", "(organic)", "Organic Search"),
        ),
        (
            "https://s.example/",
            "https://www.bing.com/search?q=x",
            {},
            ("bing", "organic", "(organic)", "Organic Search"),
        ),
        (
            "https://s.example/",
            "https://l.facebook.com/l.php",
            {},
            ("l.facebook.com", "referral", "(referral)", "Organic Social"),
        ),
        (
            "https://s.example/",
            "https://www.youtube.com/watch?v=1",
            {},
            ("youtube.com", "referral", "(referral)", "Organic Video"),
        ),
        (
            "https://s.example/",
            "https://blog.example.org/post",
            {},
            ("blog.example.org", "referral", "(referral)", "Referral"),
        ),
        (
            "https://s.example/next",
            "https://s.example/prev",
            {},
            ("(direct)", "(none)", "(direct)", "Direct"),
        ),
        (
            "https://s.example/?utm_source=google&utm_medium=cpc&utm_campaign=brand",
            "",
            {},
            ("google", "cpc", "brand", "Paid Search"),
        ),
        (
            "https://s.example/?gclid=abc",
            "https://www.google.com/",
            {},
            ("google", "cpc", "(not set)", "Paid Search"),
        ),
        ("https://s.example/?msclkid=abc", "", {}, ("bing", "cpc", "(not set)", "Paid Search")),
        (
            "https://s.example/?utm_source=newsletter&utm_medium=email&utm_campaign=w",
            "",
            {},
            ("newsletter", "email", "w", "Email"),
        ),
        (
            "https://s.example/",
            "",
            {"source": "facebook", "medium": "paid_social", "campaign": "x"},
            ("facebook", "paid_social", "x", "Paid Social"),
        ),
        (
            "https://s.example/?utm_source=q&utm_medium=print",
            "",
            {},
            ("q", "print", "(not set)", "Unassigned"),
        ),
    ],
)
def test_put_traffic_source(
    put_traffic: Any,
    location: str,
    referrer: str,
    params: dict[str, str],
    expected: tuple[str, str, str, str],
) -> None:
    d = draft(params={"page_location": location, "page_referrer": referrer, **params})
    put_page(d)
    assert put_traffic(d) is None
    ev = d.event
    assert (ev.source, ev.medium, ev.campaign, ev.channel_group) == expected


def test_click_ids_are_kept(put_traffic: Any) -> None:
    d = draft(
        params={"page_location": "https://s.example/?fbclid=IwAR1&utm_term=tea&utm_content=banner"}
    )
    put_page(d)
    put_traffic(d)
    assert (d.event.click_id_type, d.event.click_id) == ("fbclid", "IwAR1")
    assert (d.event.term, d.event.content) == ("tea", "banner")


@pytest.mark.parametrize(
    ("source", "medium", "campaign", "category", "channel"),
    [
        ("(direct)", "(none)", "(direct)", "", "Direct"),
        ("(direct)", "(not set)", "", "", "Direct"),
        ("google", "cpc", "my cross-network push", "search", "Cross-network"),
        ("amazon", "cpc", "", "shopping", "Paid Shopping"),
        ("x", "ppc", "summer shopping", "", "Paid Shopping"),
        ("google", "cpc", "brand", "search", "Paid Search"),
        ("facebook", "paid", "", "social", "Paid Social"),
        ("youtube", "cpv", "", "video", "Paid Video"),
        ("dv360", "display", "", "", "Display"),
        ("dv360", "CPM", "", "", "Display"),
        ("partner", "retargeting", "", "", "Paid Other"),
        ("etsy", "referral", "", "shopping", "Organic Shopping"),
        ("mastodon", "social", "", "", "Organic Social"),
        ("vimeo", "referral", "", "video", "Organic Video"),
        ("x", "my-video-medium", "", "", "Organic Video"),
        ("google", "organic", "", "search", "Organic Search"),
        ("x", "organic", "", "", "Organic Search"),
        ("blog.example", "referral", "", "", "Referral"),
        ("app", "app", "", "", "Referral"),
        ("newsletter", "email", "", "", "Email"),
        ("e-mail", "x", "", "", "Email"),
        ("p", "affiliate", "", "", "Affiliates"),
        ("podcast", "audio", "", "", "Audio"),
        ("sms", "x", "", "", "SMS"),
        ("app", "web-push", "", "", "Mobile Push Notifications"),
        ("firebase", "x", "", "", "Mobile Push Notifications"),
        ("qr", "print", "", "", "Unassigned"),
    ],
)
def test_default_channel_group(
    source: str, medium: str, campaign: str, category: str, channel: str
) -> None:
    assert default_channel_group(source, medium, campaign, category) == channel


def test_source_categories() -> None:
    cat = SourceCatalog()
    assert cat.category("google") == "search"
    assert cat.category("l.facebook.com") == "social"
    assert cat.category("facebook") == "social"
    assert cat.category("youtube.com") == "video"
    assert cat.category("amazon") == "shopping"
    assert cat.category("news.tea-lovers.org") == ""


# -- put_identity --------------------------------------------------------------------------


class _Meta:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_meta(self, key: str) -> str | None:
        return self.values.get(key)

    def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> str:
        if not (only_if_absent and key in self.values):
            self.values[key] = value
        return self.values[key]


def test_identity_uses_client_id() -> None:
    d = draft(client_id="123.456")
    make_put_identity(SaltSource(_Meta()))(d)
    assert d.event.visitor_id == "123.456"


def test_identity_uses_an_apps_instance_id() -> None:
    d = draft(client_id=None, app_instance_id="5b1e8c2f9a0d4e7f8c3b6a1d2e4f6a8b")
    make_put_identity(SaltSource(_Meta()))(d)
    assert d.event.visitor_id == "5b1e8c2f9a0d4e7f8c3b6a1d2e4f6a8b"
    assert d.event.client_id is None  # still told apart from a web client id


def test_cookieless_identity_is_stable_within_a_day_and_rotates_daily() -> None:
    salts = SaltSource(_Meta())
    put = make_put_identity(salts)
    day = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    t1, t2 = int(day.timestamp() * 1e6), int((day + dt.timedelta(hours=5)).timestamp() * 1e6)
    t3 = int((day + dt.timedelta(days=1)).timestamp() * 1e6)
    ids = []
    for t in (t1, t2, t3):
        d = draft(client_id=None, event_time=t)
        put(d)
        ids.append(d.event.visitor_id)
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("~") and "23.20" not in ids[0]
    other = draft(client_id=None, event_time=t1, ip="23.20.0.11")
    put(other)
    assert other.event.visitor_id != ids[0]
    # the same salt gives the same id: re-processing is deterministic
    assert ids[0] == cookieless_visitor_id(
        salts.salt_for(day.date()), PROP.property_id, "23.20.0.10", CHROME
    )


# -- put_event_fields and put_local_time ---------------------------------------------------


def test_put_event_fields_keeps_what_an_app_says_in_the_free_params() -> None:
    d = draft(
        name="screen_view",
        params={
            "firebase_screen": "Cart",
            "firebase_screen_class": "CartViewController",
            "app_version": "3.2.1",  # the event's own parameter wins over the device's
        },
        device=Device(model="iPhone15,2", brand="Apple", app_version="3.2.0", category="mobile"),
    )
    put_event_fields(d)
    assert d.event.params == {
        "screen_class": "CartViewController",
        "app_version": "3.2.1",
        "device_model": "iPhone15,2",
        "device_brand": "Apple",
    }
    d = draft(params={"screen_name": "Cart", "screen_class": "Cart", "page_title": "Home"})
    put_event_fields(d)
    # the screen name is kept in the params when the page title is the title
    assert d.event.params == {"screen_name": "Cart", "screen_class": "Cart"}


def test_put_event_fields() -> None:
    d = draft(
        name="purchase",
        params={
            "page_location": "https://s/",
            "value": "59.5",
            "currency": "usd",
            "engagement_time_msec": 1500,
            "session_id": 1732600000,
            "transaction_id": "T1",
            "flag": True,
        },
    )
    put_event_fields(d)
    ev = d.event
    assert ev.engagement_time_ms == 1500
    assert ev.client_session_id == "1732600000"
    assert ev.is_key_event  # purchase is a default key event (value and currency: put_revenue)
    assert ev.params == {
        "value": "59.5",
        "currency": "usd",
        "engagement_time_msec": "1500",
        "session_id": "1732600000",
        "transaction_id": "T1",
        "flag": "true",
    }


def test_put_local_time_uses_the_property_time_zone() -> None:
    t = int(dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC).timestamp() * 1e6)
    d = draft(event_time=t)  # Europe/Paris is UTC+1 in March: already the next day there
    d.event.event_time = t
    put_local_time(d)
    assert (d.event.event_date, d.event.event_hour) == (dt.date(2026, 3, 2), 0)


# -- the pipeline --------------------------------------------------------------------------


def test_pipeline_times_steps_and_dead_letters_a_failing_step() -> None:
    def boom(d: Draft) -> Drop | None:
        raise ValueError("nope")

    p = Pipeline([("put_page", put_page), ("boom", boom)])
    result = p.run(raw_event(), PROP)
    assert isinstance(result, Drop)
    assert result.reason is DropReason.INVALID and "boom" in result.detail
    assert set(p.seconds) == {"put_page", "boom"}


# -- sessions ------------------------------------------------------------------------------

MIN = 60_000_000


def ev(
    t: int,
    eid: str,
    *,
    visitor: str = "v",
    csid: str | None = None,
    name: str = "page_view",
    path: str = "/",
    engagement: int = 0,
    key: bool = False,
    source: str = "(direct)",
) -> EnrichedEvent:
    return EnrichedEvent(
        property_id="p",
        event_id=eid,
        event_name=name,
        event_time=t,
        received_at=t,
        event_date=dt.date(2026, 1, 1),
        event_hour=0,
        visitor_id=visitor,
        client_session_id=csid,
        page_path=path,
        engagement_time_ms=engagement,
        is_key_event=key,
        source=source,
    )


def test_sessions_split_after_30_minutes_of_inactivity() -> None:
    events = [ev(0, "a"), ev(29 * MIN, "b"), ev(58 * MIN, "c"), ev(89 * MIN, "d")]
    sessions = sessionize(events)
    assert [len(evs) for _s, evs in sessions] == [3, 1]
    first = sessions[0][0]
    assert (first.start_time, first.end_time, first.page_views) == (0, 58 * MIN, 3)


def test_sessions_do_not_depend_on_arrival_order() -> None:
    base = [ev(i * 7 * MIN, f"e{i}", engagement=1000) for i in range(10)] + [ev(200 * MIN, "late")]
    forward = sessionize([ev(e.event_time, e.event_id) for e in base])
    backward = sessionize([ev(e.event_time, e.event_id) for e in reversed(base)])
    assert [s for s, _ in forward] == [s for s, _ in backward]


def test_a_late_event_can_join_two_sessions() -> None:
    first = sessionize([ev(0, "a"), ev(40 * MIN, "c")])
    assert len(first) == 2
    joined = sessionize([ev(0, "a"), ev(20 * MIN, "b"), ev(40 * MIN, "c")])
    assert len(joined) == 1


def test_client_session_ids_separate_streams() -> None:
    sessions = sessionize(
        [ev(0, "a", csid="1"), ev(MIN, "b", csid="2"), ev(2 * MIN, "c", csid="1")]
    )
    assert sorted(len(evs) for _s, evs in sessions) == [1, 2]


@pytest.mark.parametrize(
    ("events", "engaged"),
    [
        ([ev(0, "a", engagement=10_000)], False),  # exactly 10 s is not "longer than 10 s"
        ([ev(0, "a", engagement=10_001)], True),
        ([ev(0, "a"), ev(MIN, "b")], True),  # two page views
        ([ev(0, "a"), ev(MIN, "b", name="purchase", key=True)], True),  # a key event
        ([ev(0, "a"), ev(MIN, "b", name="scroll")], False),
    ],
)
def test_engaged_sessions(events: list[EnrichedEvent], engaged: bool) -> None:
    ((session, _),) = sessionize(events)
    assert session.engaged is engaged


def test_session_attributes_come_from_its_first_event() -> None:
    events = [
        ev(5 * MIN, "b", path="/second", source="bing"),
        ev(0, "a", name="scroll", path="/x", source="google"),
        ev(MIN, "c", path="/first", source="bing"),
    ]
    ((session, _),) = sessionize(events)
    assert session.source == "google"
    assert session.landing_page == "/first"  # the first page_view, not the first event


def test_session_spanning_midnight_in_the_property_time_zone() -> None:
    """A session from 23:50 to 00:10 local time is one session; reports count it on both days."""
    zone = "America/New_York"
    start = dt.datetime(2026, 1, 10, 23, 50, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    times = [int((start + dt.timedelta(minutes=m)).timestamp() * 1e6) for m in (0, 12, 20)]
    drafts = []
    for i, t in enumerate(times):
        d = draft(
            event_time=t,
            prop=Property(property_id="p", account_id="a", name="n", time_zone=zone),
        )
        d.event.event_time = t
        put_local_time(d)
        d.event.event_id = f"m{i}"
        d.event.visitor_id = "v"
        drafts.append(d.event)
    assert [e.event_date for e in drafts] == [
        dt.date(2026, 1, 10),
        dt.date(2026, 1, 11),
        dt.date(2026, 1, 11),
    ]
    sessions = sessionize(drafts)
    assert len(sessions) == 1
    assert {e.session_key for e in drafts} == {sessions[0][0].session_key}
