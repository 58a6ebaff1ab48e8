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
import msgspec
import pytest
from clusterkit import cluster  # noqa: F401 (the fixture)

from conftest import ADMIN_KEY, CHROME
from footfall.simulate.model import simulate
from footfall.simulate.send import send
from footfall.simulate.truth import Truth
from test_e2e import SUITE, check_case

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
ZONE = "America/New_York"


def wait_processed(process: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checks = process.readiness()["checks"]
        if checks["queue"].get("pending") == 0 and not checks["processor"]["last_error"]:
            return
        time.sleep(0.5)
    raise TimeoutError(process.readiness())


def wait_rolled_up(rollup: Any, timeout: float = 300) -> dict[str, Any]:
    """Until the rollup scheduler has no changed hour left (its lag is then zero)."""
    time.sleep(1.5)  # past the scheduler's one-second cache of the lag
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check: dict[str, Any] = rollup.readiness()["checks"]["rollup"]
        assert not check["last_error"], check
        if check["pending_hours"] == 0 and check["runs"]["ok"] > 0:
            assert check["lag_seconds"] == 0
            return check
        time.sleep(0.5)
    raise TimeoutError(rollup.readiness())


def report_sources(api: Any) -> dict[str, float]:
    text = httpx.get(f"{api.url}/metrics", headers=api.auth, timeout=10).text
    return {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("footfall_reports{")
    }


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
    rollup = cluster.start("rollup", ZONE)
    sim = simulate(
        seed=11, time_zone=ZONE, visitors_per_day=30, days=6, now_us=time.time_ns() // 1000
    )
    stats = asyncio.run(
        send(collect.url, api.measurement_id, sim.events, key=ADMIN_KEY, concurrency=8)
    )
    assert stats.accepted == len(sim.events) and stats.rejected == 0
    wait_processed(process)
    wait_rolled_up(rollup)
    truth = Truth(sim)
    for case in SUITE:
        check_case(api, sim, truth, case)
    # most of the suite came from the rollups; custom parameters and mixed sets from Spark SQL
    sources = report_sources(api)
    assert sources["rollups"] >= len(SUITE) - 2 and sources["spark"] >= 2, sources


ROLLUP_COLUMNS = (  # all but the build, which every run changes
    "property_id, dimension_set, hour, event_date, event_hour, dims, events, views, key_events, "
    "engagement_ms, revenue_micros, users, active_users, new_users, sessions"
)


def rollup_rows(cluster: Any) -> tuple[set[tuple[Any, ...]], int]:
    """Every rollup cell of the keyspace, and the newest write time among them; each hour's
    partitions hold one build (the older ones are deleted once the hour switches)."""
    from cassandra.cluster import Cluster

    keyspace = cluster.env["FOOTFALL_STORE"].rsplit("/", 1)[1]
    c = Cluster(["127.0.0.1"], port=9042)
    try:
        session = c.connect()
        rows = list(
            session.execute(
                f"SELECT {ROLLUP_COLUMNS}, build, writetime(events) AS written "
                f'FROM "{keyspace}".rollups'
            )
        )
    finally:
        c.shutdown()
    builds: dict[tuple[Any, ...], set[int]] = {}
    for r in rows:
        builds.setdefault((r.property_id, r.dimension_set, r.hour), set()).add(r.build)
    assert all(len(b) == 1 for b in builds.values()), "an hour kept an old build"
    cells = {tuple(tuple(v) if isinstance(v, list) else v for v in r)[:-2] for r in rows}
    return cells, max(r.written for r in rows)


def test_the_rollup_job_run_again_changes_nothing(cluster: Any) -> None:
    before, written = rollup_rows(cluster)
    assert len(before) > 100
    assert msgspec.json.decode(cluster.run("rollup", "--once"))["hours"] == 0  # all current
    for _ in range(2):
        out = msgspec.json.decode(cluster.run("rollup", "--once", "--all"))
        assert out["hours"] > 0 and out["events"] > 0
        again, rewritten = rollup_rows(cluster)
        assert rewritten > written, "the hours were not rebuilt"
        assert again == before
        written = rewritten


def test_a_fresh_event_reaches_reports_after_the_scheduled_rollup(cluster: Any) -> None:
    collect = next(s for s in cluster.servers if s.command == "collect")
    api = next(s for s in cluster.servers if s.command == "api")
    rollup = next(s for s in cluster.servers if s.command == "rollup")
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "dimensions": [{"name": "eventName"}],
        "metrics": [{"name": "eventCount"}],
        "dimensionFilter": {
            "filter": {"fieldName": "eventName", "stringFilter": {"value": "lag_probe"}}
        },
    }
    assert not api.report(body).get("rows")
    sent = time.monotonic()
    r = httpx.post(
        f"{collect.url}/v1/collect?measurement_id={api.measurement_id}",
        json={"client_id": "lag.1", "events": [{"name": "lag_probe", "event_id": "lag-1"}]},
        headers={"user-agent": CHROME},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    seen_lag = 0.0
    deadline = sent + 300
    while time.monotonic() < deadline:
        seen_lag = max(seen_lag, rollup.readiness()["checks"]["rollup"]["lag_seconds"])
        rows = api.report(body).get("rows", [])
        if rows:
            assert rows[0]["metricValues"][0]["value"] == "1"
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the event never reached runReport: {rollup.readiness()}")
    assert seen_lag > 0, "the lag never showed the pending hour"
    check = wait_rolled_up(rollup)
    assert check["lag_seconds"] == 0
    metrics = httpx.get(f"{rollup.url}/metrics", headers=rollup.auth, timeout=10).text
    assert "footfall_rollup_lag_seconds 0.0" in metrics
    assert 'footfall_rollup_runs{outcome="ok"}' in metrics


def test_dropped_events_go_to_the_dead_letter_topic(cluster: Any) -> None:
    from confluent_kafka import Consumer

    collect = next(s for s in cluster.servers if s.command == "collect")
    api = next(s for s in cluster.servers if s.command == "api")
    r = httpx.post(
        f"{collect.url}/v1/collect?measurement_id={api.measurement_id}",
        json={"client_id": "bot.1", "events": [{"name": "page_view", "event_id": "dead-1"}]},
        headers={
            "user-agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    topic = cluster.env["FOOTFALL_QUEUE"].rsplit("/", 1)[1] + ".dead"
    consumer = Consumer(
        {
            "bootstrap.servers": "127.0.0.1:9092",
            "group.id": "dead-reader",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    letters: dict[bytes, Any] = {}
    deadline = time.monotonic() + 120
    try:
        while f"{api.property_id}/dead-1".encode() not in letters and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=100, timeout=1.0):
                if m.error() is None:
                    letters[m.key()] = msgspec.json.decode(m.value())
    finally:
        consumer.close()
    letter = letters[f"{api.property_id}/dead-1".encode()]
    assert letter["reason"] == "bot" and letter["event_id"] == "dead-1"


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
    rollup = next(s for s in cluster.servers if s.command == "rollup")
    wait_rolled_up(rollup)
    before = api.report(body)
    assert before.get("rows")
    url = f"{both.url}/v1/admin/properties/{api.property_id}"
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}
    r = httpx.post(f"{url}:reprocess", headers=auth, timeout=60)
    assert r.status_code == 202, r.text
    generation = r.json()["generation"]
    refused = httpx.post(
        f"{api.url}/v1/admin/properties/{api.property_id}:reprocess", headers=auth, timeout=60
    )
    assert refused.status_code == 503  # re-processing runs where a processor runs
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        # the rebuild writes beside the live data, and switches once its rollups are built
        assert api.report(body) == before
        status = httpx.get(f"{url}/reprocess", headers=auth, timeout=60).json()
        if status["state"] != "running":
            break
        time.sleep(1)
    assert status["state"] == "done", status
    assert status["generation"] == generation
    assert status["raw_events_read"] == status["raw_events_total"] > 0
    wait_rolled_up(rollup)
    assert api.report(body) == before
