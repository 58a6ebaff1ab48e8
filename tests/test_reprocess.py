"""Re-processing a property from its raw events gives the same reports, every time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import ADMIN_KEY, CLOCK, App, make_settings, now_us
from footfall.serve import Runtime
from footfall.simulate.model import simulate
from footfall.simulate.send import body_for, requests_for
from footfall.simulate.truth import Truth

REPORTS: list[tuple[list[str], list[str]]] = [
    (
        ["date"],
        [
            "activeUsers",
            "newUsers",
            "sessions",
            "engagedSessions",
            "bounceRate",
            "screenPageViews",
            "eventCount",
            "averageSessionDuration",
            "userEngagementDuration",
            "totalRevenue",
        ],
    ),
    (["date"], ["purchaseRevenue", "grossPurchaseRevenue", "refundAmount"]),
    (["sessionDefaultChannelGroup", "landingPage"], ["sessions", "totalUsers"]),
    (["country", "deviceCategory", "browser"], ["activeUsers", "eventCount"]),
]


def snapshot(app: App, start: str, end: str) -> list[dict[tuple[str, ...], list[str]]]:
    return [
        app.rows(
            {
                "dateRanges": [{"startDate": start, "endDate": end}],
                "limit": 100000,
                "dimensions": [{"name": d} for d in dims],
                "metrics": [{"name": m} for m in metrics],
            }
        )
        for dims, metrics in REPORTS
    ]


def test_reprocess_rebuilds_the_same_reports(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path, default_time_zone="Asia/Tokyo"), clock=CLOCK)
    try:
        app = App(runtime)
        sim = simulate(
            seed=21,
            time_zone="Asia/Tokyo",
            visitors_per_day=25,
            days=3,
            now_us=now_us(),
        )
        for headers, part in requests_for(sim.events):
            r = app.collect(
                body_for(part), headers={**headers, "authorization": f"Bearer {ADMIN_KEY}"}
            )
            assert r.status_code == 200, r.text
        app.process()
        start, end = sim.start.isoformat(), sim.end.isoformat()
        before = snapshot(app, start, end)
        expected = Truth(sim).report(["date"], sim.start, sim.end)
        assert {k: int(v[2]) for k, v in before[0].items()} == {
            k: v["sessions"] for k, v in expected.items()
        }

        url = f"/v1/admin/properties/{app.property.property_id}:reprocess"
        auth = {"authorization": f"Bearer {ADMIN_KEY}"}
        for _ in range(2):
            r = app.http.post(url, headers=auth)
            assert r.status_code == 200, r.text
            assert r.json()["rawEvents"] == len(sim.events)  # bots included: they are history too
            assert snapshot(app, start, end) == before
        refused: Any = app.http.post(url, headers={"authorization": "Bearer nope"})
        assert refused.status_code == 401
        unknown = app.http.post(
            f"/v1/admin/properties/{app.property.property_id}:explode", headers=auth
        )
        assert unknown.status_code in (404, 405)
    finally:
        runtime.stop()
