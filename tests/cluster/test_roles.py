"""The cluster shape end to end: collect → Kafka → process → Cassandra → api, as separate
processes, gives the simulator's ground truth for the embedded suite of reports."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from clusterkit import cluster  # noqa: F401 (the fixture)

from conftest import ADMIN_KEY, CHROME
from footfall.simulate.model import simulate
from footfall.simulate.send import send
from footfall.simulate.truth import Truth
from test_e2e import SUITE, check_case

pytestmark = pytest.mark.cluster
ZONE = "America/New_York"


def wait_processed(process: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checks = process.readiness()["checks"]
        if checks["queue"].get("pending") == 0 and not checks["processor"]["last_error"]:
            return
        time.sleep(0.5)
    raise TimeoutError(process.readiness())


def probe_counts(api: Any, prefix: str) -> dict[str, str]:
    """How many times each probe event (its ``probe`` param starts with ``prefix``) was counted."""
    flt = {
        "filter": {
            "fieldName": "customEvent:probe",
            "stringFilter": {"matchType": "BEGINS_WITH", "value": prefix},
        }
    }
    rows = api.report(
        {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "dimensions": [{"name": "customEvent:probe"}],
            "metrics": [{"name": "eventCount"}],
            "dimensionFilter": flt,
            "limit": 100000,
        }
    )
    return {
        r["dimensionValues"][0]["value"]: r["metricValues"][0]["value"]
        for r in rows.get("rows", [])
    }


def test_parity_with_the_ground_truth(cluster: Any) -> None:
    cluster.migrate(ZONE)
    collect = cluster.start("collect", ZONE)
    process = cluster.start("process", ZONE)
    api = cluster.start("api", ZONE)
    sim = simulate(
        seed=11, time_zone=ZONE, visitors_per_day=30, days=6, now_us=time.time_ns() // 1000
    )
    stats = asyncio.run(
        send(collect.url, api.measurement_id, sim.events, key=ADMIN_KEY, concurrency=8)
    )
    assert stats.accepted == len(sim.events) and stats.rejected == 0
    wait_processed(process)
    truth = Truth(sim)
    for case in SUITE:
        check_case(api, sim, truth, case)


def test_a_killed_processor_loses_nothing_and_doubles_nothing(cluster: Any) -> None:
    collect = next(s for s in cluster.servers if s.command == "collect")
    api = next(s for s in cluster.servers if s.command == "api")
    first = next(s for s in cluster.servers if s.command == "process")
    url = f"{collect.url}/v1/collect?measurement_id={api.measurement_id}"
    acked: list[str] = []
    stop = threading.Event()

    def sender() -> None:
        n = 0
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                ids = [f"kill-{n}-{k}" for k in range(5)]
                n += 1
                events = [
                    {
                        "name": "page_view",
                        "event_id": i,
                        "params": {"page_location": "https://shop.example.com/k", "probe": i},
                    }
                    for i in ids
                ]
                r = client.post(
                    url,
                    json={"client_id": f"k{n % 50}", "events": events},
                    headers={"user-agent": CHROME},
                )
                if r.status_code == 200:
                    acked.extend(ids)

    thread = threading.Thread(target=sender)
    thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < 1500 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()  # SIGKILL, most likely mid-batch
    second = cluster.start("process", ZONE)  # its partitions move here
    while len(acked) < 3000 and time.monotonic() < deadline + 30:
        time.sleep(0.05)
    stop.set()
    thread.join()
    wait_processed(second)
    counts = probe_counts(api, "kill-")
    missing = [i for i in acked if i not in counts]
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert set(counts.values()) == {"1"}, "some events were counted twice"


def _engine(action: str, name: str) -> None:
    script = Path(__file__).resolve().parents[2] / "deploy" / "cluster.sh"
    subprocess.run(
        ["bash", str(script), action, name], check=True, capture_output=True, timeout=300
    )


def test_kafka_down_answers_503_then_everything_acknowledged_counts_once(cluster: Any) -> None:
    collect = next(s for s in cluster.servers if s.command == "collect")
    api = next(s for s in cluster.servers if s.command == "api")
    process = next(s for s in cluster.servers if s.command == "process" and s.proc.poll() is None)
    url = f"{collect.url}/v1/collect?measurement_id={api.measurement_id}"
    acked: list[str] = []
    statuses: list[int] = []

    def send(tag: str, n: int) -> None:
        for i in range(n):
            event_id = f"down-{tag}-{i}"
            body = {
                "client_id": f"d{i}",
                "events": [
                    {
                        "name": "page_view",
                        "event_id": event_id,
                        "params": {
                            "page_location": "https://shop.example.com/d",
                            "probe": event_id,
                        },
                    }
                ],
            }
            r = httpx.post(url, json=body, headers={"user-agent": CHROME}, timeout=60)
            statuses.append(r.status_code)
            if r.status_code == 200:
                acked.append(event_id)
            else:
                assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text

    send("before", 20)
    _engine("stop", "kafka")
    try:
        statuses.clear()
        send("during", 8)
        assert set(statuses) == {503}, f"a false acknowledgement while Kafka was down: {statuses}"
    finally:
        _engine("start", "kafka")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the collector notices the brokers are back
        statuses.clear()
        send(f"after-{int(time.monotonic())}", 1)
        if statuses == [200]:
            break
        time.sleep(1)
    send("after", 20)
    wait_processed(process)
    counts = probe_counts(api, "down-")
    assert [i for i in acked if i not in counts] == []
    assert set(counts.values()) == {"1"}


def test_reprocessing_on_cassandra_rebuilds_the_same_reports(cluster: Any) -> None:
    api = next(s for s in cluster.servers if s.command == "api")
    for process in [s for s in cluster.servers if s.command == "process" and s.proc.poll() is None]:
        wait_processed(process)
    both = cluster.start("serve", ZONE)  # a processor in the same process as the admin API
    body = {
        "dateRanges": [{"startDate": "30daysAgo", "endDate": "today"}],
        "limit": 100000,
        "dimensions": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
        "metrics": [
            {"name": m}
            for m in (
                "totalUsers",
                "newUsers",
                "sessions",
                "engagedSessions",
                "screenPageViews",
                "eventCount",
                "averageSessionDuration",
            )
        ],
    }
    before = api.report(body)
    assert before.get("rows")
    r = httpx.post(
        f"{both.url}/v1/admin/properties/{api.property_id}:reprocess",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=600,
    )
    assert r.status_code == 200, r.text
    assert r.json()["rawEvents"] > 0
    assert api.report(body) == before
