"""The simulator: reproducible, realistic, and its stated expectations hold."""

from __future__ import annotations

import json
from pathlib import Path

from footfall.cli import main
from footfall.process.bots import bot_reason
from footfall.process.geo import GeoLookup, country_name
from footfall.process.useragent import parse_user_agent
from footfall.simulate.catalog import AGENTS, BOT_AGENTS, COUNTRIES, LANGUAGES
from footfall.simulate.model import simulate
from footfall.simulate.truth import Truth

NOW = 1_795_000_000_000_000


def test_same_seed_same_traffic() -> None:
    a = simulate(seed=4, time_zone="Europe/Berlin", visitors_per_day=20, days=3, now_us=NOW)
    b = simulate(seed=4, time_zone="Europe/Berlin", visitors_per_day=20, days=3, now_us=NOW)
    c = simulate(seed=5, time_zone="Europe/Berlin", visitors_per_day=20, days=3, now_us=NOW)
    assert a.events == b.events
    assert a.events != c.events


def test_traffic_looks_like_a_site() -> None:
    sim = simulate(seed=1, time_zone="UTC", visitors_per_day=80, days=7, now_us=NOW)
    people = [e for e in sim.events if not e.is_bot]
    assert all(e.time_us <= NOW for e in sim.events)
    assert {e.name for e in people} >= {"page_view", "scroll", "purchase"}
    visitors_by_day: dict[str, set[str]] = {}
    for e in people:
        visitors_by_day.setdefault(e.visitor, set()).add(e.date)
    assert any(len(days) > 1 for days in visitors_by_day.values()), (
        "visitors come back on other days"
    )
    sessions_per_visitor = {s.visitor for s in sim.sessions.values()}
    assert len(sim.sessions) > len(sessions_per_visitor)
    assert any(s.page_views >= 3 for s in sim.sessions.values())
    assert {e.device for e in people} == {"desktop", "mobile", "tablet"}


def test_expected_countries_match_the_bundled_database() -> None:
    geo = GeoLookup()
    try:
        for c in COUNTRIES:
            for third in c.third_octets:
                for last in (1, 77, 254):
                    assert geo.country(f"{c.prefix}.{third}.{last}") == c.country_id, c
            if c.country_id:
                assert country_name(c.country_id) == c.name
    finally:
        geo.close()


def test_expected_browsers_match_the_parser() -> None:
    for agent in AGENTS:
        parsed = parse_user_agent(agent.user_agent)
        assert (parsed.browser, parsed.os, parsed.device_category) == (
            agent.browser,
            agent.os,
            agent.device,
        )
        assert bot_reason(agent.user_agent) is None
    for ua in BOT_AGENTS:
        assert bot_reason(ua) is not None
    assert {lang.code for lang in LANGUAGES}


def test_truth_counts_people_not_bots() -> None:
    sim = simulate(seed=2, time_zone="UTC", visitors_per_day=50, days=2, now_us=NOW)
    truth = Truth(sim)
    total = truth.report([], sim.start, sim.end)[()]
    assert total["eventCount"] == sum(1 for e in sim.events if not e.is_bot) < len(sim.events)
    assert total["sessions"] == len(sim.sessions)
    assert 0 < total["bounceRate"] < 1


def test_cli_writes_the_ground_truth(tmp_path: Path) -> None:
    out = tmp_path / "truth.json"
    args = [
        "simulate",
        "--no-send",
        "--days",
        "3",
        "--visitors-per-day",
        "10",
        "--seed",
        "9",
        "--truth",
        str(out),
        "--now",
        "2026-05-20T10:00:00Z",
    ]
    assert main(args) == 0
    truth = json.loads(out.read_text())
    assert len(truth["by_date"]) == 3
    assert truth["total"]["screenPageViews"] == sum(r["screenPageViews"] for r in truth["by_date"])
    assert {"by_date_and_page", "by_channel", "by_country", "by_device"} <= set(truth)
