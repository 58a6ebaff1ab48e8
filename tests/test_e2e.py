"""End to end on a real socket: ``footfall serve`` as a process, traffic over HTTP.

- simulated traffic gives exactly the simulator's ground truth in a suite of reports;
- replaying a batch ten times changes no report;
- an accepted event becomes visible in reports within seconds;
- acknowledged events survive SIGKILL and are counted exactly once after a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, CHROME
from footfall.simulate.model import SimEvent, Simulation, simulate
from footfall.simulate.send import send
from footfall.simulate.truth import Truth
from server import Server

pytestmark = pytest.mark.e2e
ZONE = "America/New_York"
INTEGER_METRICS = {
    "activeUsers",
    "totalUsers",
    "newUsers",
    "sessions",
    "engagedSessions",
    "screenPageViews",
    "eventCount",
    "keyEvents",
}
ALL_METRICS = [
    "activeUsers",
    "totalUsers",
    "newUsers",
    "sessions",
    "engagedSessions",
    "engagementRate",
    "bounceRate",
    "averageSessionDuration",
    "screenPageViews",
    "screenPageViewsPerSession",
    "eventCount",
    "eventsPerSession",
    "sessionsPerUser",
    "userEngagementDuration",
    "keyEvents",
    "totalRevenue",
    "purchaseRevenue",
    "grossPurchaseRevenue",
    "refundAmount",
]
CURRENCY_METRICS = {"totalRevenue", "purchaseRevenue", "grossPurchaseRevenue", "refundAmount"}


class Case:
    def __init__(
        self,
        name: str,
        dims: list[str],
        metrics: list[str],
        *,
        days: tuple[int, int] | None = None,
        flt: dict[str, Any] | None = None,
        keep: Callable[[SimEvent], bool] | None = None,
    ) -> None:
        self.name, self.dims, self.metrics, self.days, self.flt, self.keep = (
            name,
            dims,
            metrics,
            days,
            flt,
            keep,
        )


def _string(field: str, value: str, match: str = "EXACT") -> dict[str, Any]:
    return {"filter": {"fieldName": field, "stringFilter": {"matchType": match, "value": value}}}


SUITE = [
    Case("totals, first ten metrics", [], ALL_METRICS[:10]),
    Case("totals, other metrics", [], ALL_METRICS[10:]),
    Case("daily, first ten metrics", ["date"], ALL_METRICS[:10]),
    Case("daily, other metrics", ["date"], ALL_METRICS[10:]),
    Case(
        "page views per page per day",
        ["date", "pagePath"],
        ["screenPageViews", "activeUsers", "sessions"],
    ),
    Case(
        "channels",
        ["sessionDefaultChannelGroup"],
        ["sessions", "engagedSessions", "bounceRate", "newUsers"],
    ),
    Case(
        "source / medium",
        ["sessionSource", "sessionMedium"],
        ["sessions", "totalUsers", "engagementRate"],
    ),
    Case("campaigns", ["sessionCampaignName"], ["sessions", "keyEvents", "totalRevenue"]),
    Case(
        "revenue and refunds",
        ["date", "sessionDefaultChannelGroup"],
        ["totalRevenue", "purchaseRevenue", "grossPurchaseRevenue", "refundAmount"],
    ),
    Case("countries", ["country", "countryId"], ["activeUsers", "sessions", "eventCount"]),
    Case(
        "devices and browsers",
        ["deviceCategory", "browser"],
        ["sessions", "screenPageViewsPerSession"],
    ),
    Case("operating systems", ["operatingSystem"], ["totalUsers", "averageSessionDuration"]),
    Case("languages", ["language", "languageCode"], ["activeUsers"]),
    Case("landing pages", ["landingPage"], ["sessions", "bounceRate", "averageSessionDuration"]),
    Case("events", ["eventName"], ["eventCount", "totalUsers", "userEngagementDuration"]),
    Case("hourly", ["dateHour"], ["eventCount", "sessions"]),
    Case("titles and hosts", ["hostName", "pageTitle"], ["screenPageViews"]),
    Case("custom parameter", ["customEvent:item_name"], ["eventCount", "totalUsers"]),
    Case("last three days", ["date"], ["sessions", "activeUsers", "newUsers"], days=(2, 0)),
    Case(
        "mobile only",
        ["date"],
        ["sessions", "screenPageViews"],
        flt=_string("deviceCategory", "mobile"),
        keep=lambda e: e.device == "mobile",
    ),
    Case(
        "blog pages",
        ["pagePath"],
        ["screenPageViews"],
        flt=_string("pagePath", "/blog", "BEGINS_WITH"),
        keep=lambda e: e.page_path.startswith("/blog"),
    ),
    Case(
        "two countries, not organic",
        ["country"],
        ["sessions"],
        flt={
            "andGroup": {
                "expressions": [
                    {
                        "filter": {
                            "fieldName": "countryId",
                            "inListFilter": {"values": ["US", "gb"]},
                        }
                    },
                    {"notExpression": _string("sessionMedium", "organic")},
                ]
            }
        },
        keep=None,
    ),  # set below: needs the truth's session table
]


def _rows(body: dict[str, Any]) -> dict[tuple[str, ...], list[str]]:
    return {
        tuple(v["value"] for v in row["dimensionValues"]): [v["value"] for v in row["metricValues"]]
        for row in body.get("rows", [])
    }


def _same(metric: str, got: str, expected: float | Decimal) -> bool:
    if metric in INTEGER_METRICS:
        return got == str(int(expected))
    if metric in CURRENCY_METRICS:  # exact, as decimal text without trailing zeros
        assert isinstance(expected, Decimal)
        return Decimal(got) == expected and got == format(expected.normalize(), "f")
    return math.isclose(float(got), expected, rel_tol=1e-9, abs_tol=1e-9)


def check_case(server: Server, sim: Simulation, truth: Truth, case: Case) -> None:
    start, end = sim.start, sim.end
    if case.days:
        start, end = (
            sim.end - dt.timedelta(days=case.days[0]),
            sim.end - dt.timedelta(days=case.days[1]),
        )
    keep = case.keep
    if case.name.startswith("two countries"):

        def keep(e: SimEvent) -> bool:
            return (
                e.country_id in ("US", "GB")
                and truth.sessions[e.session].source.medium != "organic"
            )

    body: dict[str, Any] = {
        "dateRanges": [{"startDate": start.isoformat(), "endDate": end.isoformat()}],
        "dimensions": [{"name": d} for d in case.dims],
        "metrics": [{"name": m} for m in case.metrics],
        "limit": 100000,
    }
    if case.flt:
        body["dimensionFilter"] = case.flt
    got = _rows(server.report(body))
    expected = truth.report(case.dims, start, end, keep)
    assert set(got) == set(expected), f"{case.name}: rows differ: {set(got) ^ set(expected)}"
    for key, row in expected.items():
        for metric, value in zip(case.metrics, got[key], strict=True):
            assert _same(metric, value, row[metric]), (
                f"{case.name} {key} {metric}: got {value}, expected {row[metric]}"
            )


@pytest.fixture(scope="module")
def simulated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, Simulation, Truth]]:
    server = Server(tmp_path_factory.mktemp("e2e"), time_zone=ZONE).start()
    try:
        sim = simulate(
            seed=11, time_zone=ZONE, visitors_per_day=45, days=9, now_us=time.time_ns() // 1000
        )
        stats = asyncio.run(
            send(server.url, server.measurement_id, sim.events, key=ADMIN_KEY, concurrency=8)
        )
        assert stats.accepted == len(sim.events) and stats.rejected == 0
        server.wait_processed()
        yield server, sim, Truth(sim)
    finally:
        server.stop()


def test_simulation_has_what_the_suite_needs(simulated: tuple[Server, Simulation, Truth]) -> None:
    _server, sim, truth = simulated
    assert len(SUITE) >= 15
    assert any(e.is_bot for e in sim.events), "bots must be part of the traffic"
    assert any(e.client_id is None for e in sim.events if not e.is_bot), "cookieless visitors too"
    spanning = [
        s
        for s in sim.sessions.values()
        if len({e.date for e in truth.events if e.session == s.session}) > 1
    ]
    assert spanning, "some sessions must span midnight"
    names = {e.name for e in truth.events}
    assert {"purchase", "refund"} <= names, "purchases and refunds, for the revenue metrics"


@pytest.mark.parametrize("case", SUITE, ids=[c.name for c in SUITE])
def test_reports_equal_the_ground_truth(
    simulated: tuple[Server, Simulation, Truth], case: Case
) -> None:
    check_case(*simulated, case)


def test_replaying_a_batch_ten_times_changes_no_report(
    simulated: tuple[Server, Simulation, Truth],
) -> None:
    server, sim, truth = simulated
    before = [
        server.report(
            {
                "dateRanges": [
                    {"startDate": sim.start.isoformat(), "endDate": sim.end.isoformat()}
                ],
                "dimensions": [{"name": "date"}],
                "metrics": [{"name": m} for m in ALL_METRICS[:10]],
            }
        )
    ]
    batch = sim.events[:400]
    for _ in range(10):
        stats = asyncio.run(
            send(server.url, server.measurement_id, batch, key=ADMIN_KEY, concurrency=8)
        )
        assert stats.accepted == len(batch)
    server.wait_processed()
    after = [
        server.report(
            {
                "dateRanges": [
                    {"startDate": sim.start.isoformat(), "endDate": sim.end.isoformat()}
                ],
                "dimensions": [{"name": "date"}],
                "metrics": [{"name": m} for m in ALL_METRICS[:10]],
            }
        )
    ]
    assert after == before
    for case in SUITE[:4]:
        check_case(server, sim, truth, case)
    people = sum(1 for e in batch if not e.is_bot)  # bots are dropped before dedupe
    assert server.readiness()["checks"]["processor"]["events"]["duplicates"] >= 10 * people


def _page_view(event_id: str, path: str) -> dict[str, Any]:
    return {
        "name": "page_view",
        "event_id": event_id,
        "params": {"page_location": f"https://shop.example.com{path}", "probe": event_id},
    }


def test_an_accepted_event_is_visible_within_seconds(tmp_path: Path) -> None:
    server = Server(tmp_path / "fresh", FOOTFALL_FLUSH_INTERVAL="0.5").start()
    try:
        r = httpx.post(
            f"{server.url}/v1/collect?measurement_id={server.measurement_id}",
            json={"client_id": "f.1", "events": [_page_view("fresh-1", "/fresh")]},
            headers={"user-agent": CHROME},
        )
        assert r.status_code == 200
        acked = time.monotonic()
        body = {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "dimensions": [{"name": "pagePath"}],
            "metrics": [{"name": "screenPageViews"}],
        }
        deadline = acked + 30
        while time.monotonic() < deadline:
            if _rows(server.report(body)).get(("/fresh",)) == ["1"]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the event did not become visible within 30 s")
    finally:
        server.stop()


def test_acknowledged_events_survive_sigkill_and_count_once(tmp_path: Path) -> None:
    data = tmp_path / "durable"
    server = Server(data).start()
    url = f"{server.url}/v1/collect?measurement_id={server.measurement_id}"
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        with httpx.Client(timeout=5) as client:
            n = 0
            while not stop.is_set():
                ids = [f"w{worker}-{n}-{k}" for k in range(5)]
                n += 1
                body = {
                    "client_id": f"dur.{worker}",
                    "events": [_page_view(i, f"/d/{worker}") for i in ids],
                }
                try:
                    r = client.post(url, json=body, headers={"user-agent": CHROME})
                except httpx.TransportError:
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.update(ids)

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 1500 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()  # SIGKILL: no shutdown, requests in flight, the processor mid-batch
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 500

    restarted = Server(data).start()
    try:
        restarted.wait_processed()
        counts = _rows(
            restarted.report(
                {
                    "dateRanges": [{"startDate": "today", "endDate": "today"}],
                    "dimensions": [{"name": "customEvent:probe"}],
                    "metrics": [{"name": "eventCount"}],
                    "limit": 100000,
                }
            )
        )
        missing = [i for i in acked if (i,) not in counts]
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        doubled = {k: v for k, v in counts.items() if v != ["1"]}
        assert not doubled, f"events counted more than once: {list(doubled.items())[:5]}"
    finally:
        restarted.stop()


def test_the_banners_curl_commands_work(tmp_path: Path) -> None:
    """First start prints two curl commands; pasted into a shell they send and count an event."""
    import shlex
    import subprocess

    server = Server(tmp_path / "banner").start()
    try:
        banner = server.log.read_text()
        shown = banner.count(ADMIN_KEY)
        assert shown  # the operator key is shown at first start
        commands = [
            line.strip() for line in banner.splitlines() if line.strip().startswith("curl ")
        ]
        send, ask = commands
        sent = subprocess.run(
            shlex.split(send), capture_output=True, text=True, check=True, timeout=30
        )
        assert '"accepted":1' in sent.stdout
        server.wait_processed()
        asked = subprocess.run(
            shlex.split(ask),
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert '"metricValues":[{"value":"1"}]' in asked.stdout, asked.stdout
    finally:
        server.stop()
    restarted = Server(tmp_path / "banner").start()
    try:
        assert restarted.log.read_text().count(ADMIN_KEY) == shown  # and never again
    finally:
        restarted.stop()
