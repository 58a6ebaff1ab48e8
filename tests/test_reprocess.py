"""Re-processing builds a property's derived data beside the live data and switches to it at
once: reports never see a mix or nothing, a crash resumes, other properties keep flowing, and
the result equals the simulator's truth, the same every time."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import httpx
import msgspec
import pytest

from conftest import ADMIN_KEY, CHROME, CLOCK, App, SyncASGI, make_settings, now_us
from footfall.serve import Runtime, create_app
from footfall.simulate.model import Simulation, simulate
from footfall.simulate.send import body_for, requests_for
from footfall.simulate.send import send as send_all
from footfall.simulate.truth import Truth
from footfall.store import DONE, RUNNING, Rebuild, WriteSet
from footfall.store.duckdb import DuckDBStore
from server import Server

AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}
ZONE = "Asia/Tokyo"
DATE_METRICS = [
    "activeUsers",
    "newUsers",
    "sessions",
    "engagedSessions",
    "screenPageViews",
    "eventCount",
    "keyEvents",
]
# compared exactly: money is summed in integer micros, so revenue is exact too
REPORTS: list[tuple[list[str], list[str]]] = [
    (
        ["date"],
        [
            *DATE_METRICS,
            "bounceRate",
            "averageSessionDuration",
            "userEngagementDuration",
        ],
    ),
    (["sessionDefaultChannelGroup", "landingPage"], ["sessions", "totalUsers"]),
    (["country", "deviceCategory", "browser"], ["activeUsers", "eventCount"]),
    (["date"], ["purchaseRevenue", "grossPurchaseRevenue", "refundAmount", "totalRevenue"]),
]


def report_bodies(sim: Simulation) -> list[dict[str, Any]]:
    return [
        {
            "dateRanges": [{"startDate": sim.start.isoformat(), "endDate": sim.end.isoformat()}],
            "limit": 100000,
            "dimensions": [{"name": d} for d in dims],
            "metrics": [{"name": m} for m in metrics],
            "metricAggregations": ["TOTAL"],
        }
        for dims, metrics in REPORTS
    ]


def snapshot(http: SyncASGI, property_id: str, sim: Simulation) -> list[Any]:
    """Full report results (rows, totals, row counts), as a client sees them."""
    out = []
    for body in report_bodies(sim):
        r = http.post(f"/v1beta/properties/{property_id}:runReport", json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        result = r.json()
        result.pop("metadata", None)
        out.append(result)
    return out


def by_date(snap: list[Any]) -> dict[str, dict[str, int]]:
    """The date report of a snapshot, integer metrics only."""
    return {
        row["dimensionValues"][0]["value"]: {
            m: int(v["value"]) for m, v in zip(DATE_METRICS, row["metricValues"], strict=False)
        }
        for row in snap[0].get("rows", [])
    }


def with_key_events(sim: Simulation, names: set[str]) -> Simulation:
    """The simulation as it looks to a property whose key events are ``names``."""
    events = [msgspec.structs.replace(e, is_key_event=e.name in names) for e in sim.events]
    counts = Counter(e.session for e in events if e.is_key_event and not e.is_bot)
    sessions = {
        k: msgspec.structs.replace(x, key_events=counts[k]) for k, x in sim.sessions.items()
    }
    return msgspec.structs.replace(sim, events=events, sessions=sessions)


def truth_by_date(sim: Simulation) -> dict[str, dict[str, int]]:
    rows = Truth(sim).report(["date"], sim.start, sim.end)
    return {k[0]: {m: int(v[m]) for m in DATE_METRICS} for k, v in rows.items()}


def iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).isoformat().replace("+00:00", "Z")


def send(app: App, sim: Simulation) -> None:
    for headers, part in requests_for(sim.events):
        r = app.collect(body_for(part), headers={**headers, **AUTH})
        assert r.status_code == 200, r.text


def status(http: SyncASGI, property_id: str, key: str = ADMIN_KEY) -> Any:
    return http.get(
        f"/v1/admin/properties/{property_id}/reprocess",
        headers={"authorization": f"Bearer {key}"},
    )


def start(http: SyncASGI, property_id: str, key: str = ADMIN_KEY) -> Any:
    return http.post(
        f"/v1/admin/properties/{property_id}:reprocess",
        headers={"authorization": f"Bearer {key}"},
    )


def derived(runtime: Runtime, property_id: str, generation: int) -> dict[str, list[Any]]:
    """Every derived row of one generation, without its generation column."""
    out = {}
    with runtime.store._reader() as cur:  # type: ignore[attr-defined]
        for table, order in (
            ("events", "event_id"),
            ("sessions", "session_key"),
            ("visitors", "visitor_id"),
            ("dead_letters", "event_id, reason"),
        ):
            out[table] = cur.execute(
                f"SELECT * EXCLUDE (generation) FROM {table} "
                f"WHERE property_id = ? AND generation = ? ORDER BY {order}",
                [property_id, generation],
            ).fetchall()
    return out


def generations_stored(runtime: Runtime, property_id: str) -> set[int]:
    with runtime.store._reader() as cur:  # type: ignore[attr-defined]
        rows = cur.execute(
            "SELECT DISTINCT generation FROM events WHERE property_id = ? UNION "
            "SELECT DISTINCT generation FROM sessions WHERE property_id = ?",
            [property_id, property_id],
        ).fetchall()
    return {int(r[0]) for r in rows}


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[tuple[App, Simulation]]:
    """A property in UTC holding three days of traffic simulated in Tokyo: once its time zone
    is set to Tokyo, a rebuild changes every date's numbers."""
    runtime = Runtime(
        make_settings(tmp_path, batch_size=60, rate_limit_per_key=0, rate_limit_per_property=0),
        clock=CLOCK,
    )
    app = App(runtime)
    sim = simulate(seed=21, time_zone=ZONE, visitors_per_day=30, days=4, now_us=now_us())
    assert len(sim.events) > 300  # at any instant: more than five pages of 60
    send(app, sim)
    app.process()
    yield app, sim
    runtime.stop()


def test_a_rebuild_gives_the_same_reports_and_the_same_rows_every_time(
    loaded: tuple[App, Simulation],
) -> None:
    app, sim = loaded
    pid = app.property.property_id
    runtime = app.runtime
    patch = app.http.request(
        "PATCH", f"/v1/admin/properties/{pid}", json={"time_zone": ZONE}, headers=AUTH
    )
    assert patch.status_code == 200, patch.text
    assert runtime.rebuilder is not None
    rows: list[dict[str, list[Any]]] = []
    reports = []
    for generation in (1, 2):
        r = start(app.http, pid)
        assert r.status_code == 202, r.text
        assert r.json()["state"] == "running" and r.json()["generation"] == generation
        runtime.rebuilder.drain()
        done = status(app.http, pid).json()
        assert done["state"] == "done", done
        assert done["raw_events_read"] == done["raw_events_total"] == len(sim.events)  # bots too
        assert generations_stored(runtime, pid) == {generation}  # the old one is deleted
        rows.append(derived(runtime, pid, generation))
        reports.append(snapshot(app.http, pid, sim))
    assert rows[0] == rows[1] and rows[0]["events"] and rows[0]["dead_letters"]
    assert reports[0] == reports[1]
    assert by_date(reports[0]) == truth_by_date(sim)


def test_reports_see_the_old_data_until_the_switch_then_all_the_new(
    loaded: tuple[App, Simulation],
) -> None:
    app, sim = loaded
    pid = app.property.property_id
    runtime = app.runtime
    assert runtime.rebuilder is not None
    before = snapshot(app.http, pid, sim)
    assert by_date(before) != truth_by_date(sim)  # dates in UTC, the traffic's are Tokyo's
    r = app.http.request(
        "PATCH",
        f"/v1/admin/properties/{pid}",
        json={"time_zone": ZONE, "key_events": ["purchase", "page_view"]},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert start(app.http, pid).status_code == 202
    for _ in range(4):  # four pages of 60 of the raw events
        assert runtime.rebuilder.run_once()
        assert snapshot(app.http, pid, sim) == before
    progress = status(app.http, pid).json()
    assert progress["state"] == "running" and progress["raw_events_read"] == 240
    runtime.rebuilder.drain()
    after = snapshot(app.http, pid, sim)
    # every date in Tokyo's, every page view a key event (so every session engaged)
    expected = truth_by_date(with_key_events(sim, {"purchase", "page_view"}))
    assert expected != truth_by_date(sim)
    assert by_date(after) == expected


def test_a_generation_not_ready_is_waited_for_without_reading_history_again(
    loaded: tuple[App, Simulation], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the store says the new generation cannot be switched to yet (on the cluster, until
    its rollups are built), the rebuild asks again off the processor thread: it neither
    re-reads the raw history nor takes the processor's turn. Once ready it catches up and
    switches."""
    app, sim = loaded
    pid = app.property.property_id
    rebuilder = app.runtime.rebuilder
    assert rebuilder is not None
    monkeypatch.setattr("footfall.process.reprocess.NOT_READY_WAIT_S", 0.0)
    store = rebuilder.store
    asked: list[int] = []
    unbuilt: list[int] = []
    on_processor: list[int] = []
    ready_after = 3
    generation_ready, raw_unbuilt, submit = (
        store.generation_ready,
        store.raw_unbuilt,
        rebuilder.submit,
    )

    def counted_ready(rebuild: Any) -> bool:
        asked.append(rebuild.generation)
        return len(asked) > ready_after and generation_ready(rebuild)

    def counted_unbuilt(*args: Any, **kwargs: Any) -> Any:
        unbuilt.append(1)
        return raw_unbuilt(*args, **kwargs)

    def counted_submit(task: Any) -> Any:
        on_processor.append(1)
        return submit(task)

    monkeypatch.setattr(store, "generation_ready", counted_ready)
    monkeypatch.setattr(store, "raw_unbuilt", counted_unbuilt)
    monkeypatch.setattr(rebuilder, "submit", counted_submit)
    assert start(app.http, pid).status_code == 202
    pages = -(-len(sim.events) // 60)
    for _ in range(pages + ready_after - 1):
        rebuilder.run_once()
    assert status(app.http, pid).json()["state"] == "running"
    assert len(asked) == ready_after  # asked once per attempt, each time refused
    assert unbuilt == [] and on_processor == []
    while rebuilder.run_once():
        pass
    done = status(app.http, pid).json()
    assert done["state"] == "done" and done["raw_events_read"] == len(sim.events)
    assert len(asked) == ready_after + 1 and len(on_processor) == 1 and unbuilt


def test_a_start_settles_only_the_rebuilds_still_to_settle(
    loaded: tuple[App, Simulation], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished rebuild is stored settled once its old generation is deleted, so a process
    that starts does not delete (on the cluster: catch up and delete) for every rebuild ever
    run; one a crash left unsettled is settled by the next start, once."""
    app, _sim = loaded
    pid = app.property.property_id
    rebuilder = app.runtime.rebuilder
    assert rebuilder is not None
    assert start(app.http, pid).status_code == 202
    rebuilder.drain()
    done = status(app.http, pid).json()
    assert done["state"] == "done" and done["settled_at"] == done["finished_at"] is not None
    store = rebuilder.store
    dropped: list[str] = []
    drop_generations = store.drop_generations

    def counted_drop(property_id: str) -> int:
        dropped.append(property_id)
        return drop_generations(property_id)

    monkeypatch.setattr(store, "drop_generations", counted_drop)

    def restart() -> None:
        rebuilder._claimed_at = None  # as a new process: run_once begins with resume
        rebuilder.run_once()

    restart()
    assert dropped == [] and store.unsettled(now_us()) == []
    (stored,) = store.rebuilds(pid)
    store.write(WriteSet(rebuild=msgspec.structs.replace(stored, settled_at=None)))  # a crash
    assert [r.property_id for r in store.unsettled(now_us())] == [pid]
    restart()
    assert dropped == [pid] and store.unsettled(now_us()) == []
    assert status(app.http, pid).json()["settled_at"] is not None
    restart()
    assert dropped == [pid]


def _late_event(app: App, received_at: int) -> None:
    """An event stamped long ago (queued late): its raw row sorts before the rebuild's cursor."""
    now = now_us()
    CLOCK.set(received_at)
    try:
        page = {"page_location": "https://x.example/late"}
        r = app.collect({"client_id": "late.1", "events": [{"name": "page_view", "params": page}]})
        assert r.status_code == 200, r.text
    finally:
        CLOCK.set(now)


def test_events_arriving_during_a_rebuild_are_counted_once(
    loaded: tuple[App, Simulation],
) -> None:
    app, sim = loaded
    pid = app.property.property_id
    runtime = app.runtime
    assert runtime.rebuilder is not None

    def total_events() -> int:
        return int(snapshot(app.http, pid, sim)[0]["totals"][0]["metricValues"][5]["value"])

    stored = total_events()
    assert start(app.http, pid).status_code == 202
    assert runtime.rebuilder.run_once() and runtime.rebuilder.run_once()
    cursor = runtime.rebuilder.running()[0].after
    assert cursor is not None
    # meanwhile: fresh events, a client's retry of events already stored, and a late one
    fresh = {
        "client_id": "fresh.1",
        "events": [
            {"name": "page_view", "params": {"page_location": f"https://x.example/{i}"}}
            for i in range(5)
        ],
    }
    assert app.collect(fresh).status_code == 200
    headers, part = next(iter(requests_for(sim.events)))
    retried = [e for e in part if not e.is_bot]
    assert app.collect(body_for(part), headers={**headers, **AUTH}).status_code == 200
    _late_event(app, cursor[0] - 1)
    app.process()  # the live generation has them at once
    assert total_events() == stored + 6
    runtime.rebuilder.drain()
    assert total_events() == stored + 6  # and the new one too, each once
    done = status(app.http, pid).json()
    assert done["raw_events_read"] == len(sim.events) + 6, done
    assert retried  # the retry changed nothing


def test_other_properties_are_processed_while_a_rebuild_runs(
    loaded: tuple[App, Simulation], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _sim = loaded
    pid = app.property.property_id
    runtime = app.runtime
    t = runtime.tenancy
    other = t.create_property(app.first.account.account_id, "Other", time_zone="UTC")
    stream = t.create_stream(other.property_id, "Web")
    gate = threading.Event()
    pages = []
    real_page = runtime.store.raw_page

    def slow_page(*args: Any) -> Any:
        pages.append(args)
        if len(pages) > 1:
            gate.wait(60)  # the rebuild is stuck mid-way until the test lets it go
        return real_page(*args)

    monkeypatch.setattr(runtime.store, "raw_page", slow_page)
    runtime.start()
    try:
        assert start(app.http, pid).status_code == 202
        deadline = time.monotonic() + 60
        while len(pages) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status(app.http, pid).json()["raw_events_read"] == 60
        r = app.http.post(
            f"/v1/collect?measurement_id={stream.measurement_id}",
            json={
                "client_id": "o.1",
                "events": [
                    {"name": "page_view", "params": {"page_location": "https://o.example/"}}
                ],
            },
            headers={"user-agent": CHROME},
        )
        assert r.status_code == 200
        body = {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "metrics": [{"name": "eventCount"}],
        }
        seen = None
        while time.monotonic() < deadline:
            got = app.http.post(
                f"/v1beta/properties/{other.property_id}:runReport", json=body, headers=AUTH
            ).json()
            if got.get("rows"):
                seen = got["rows"][0]["metricValues"][0]["value"]
                break
            time.sleep(0.1)
        assert seen == "1", "another property's event waited for the rebuild"
        assert status(app.http, pid).json()["state"] == "running"
        readiness = app.http.get("/readyz", headers=AUTH).json()
        running = readiness["checks"]["reprocess"]["running"]
        assert [r["property_id"] for r in running] == [pid]
        gate.set()
        while time.monotonic() < deadline and status(app.http, pid).json()["state"] == RUNNING:
            time.sleep(0.1)
        assert status(app.http, pid).json()["state"] == "done"
        while time.monotonic() < deadline and runtime.rebuilder.running():
            time.sleep(0.05)
        assert app.http.get("/readyz", headers=AUTH).json()["checks"]["reprocess"]["running"] == []
    finally:
        gate.set()


def test_the_progress_route_and_who_may_see_it(loaded: tuple[App, Simulation]) -> None:
    app, sim = loaded
    pid = app.property.property_id
    runtime = app.runtime
    assert runtime.rebuilder is not None
    t = runtime.tenancy
    stranger = t.create_account("Stranger")
    strangers_admin = t.create_key(stranger.account_id, "admin", ["admin"]).value
    own_reader = t.create_key(app.first.account.account_id, "reader", ["read"]).value

    missing = status(app.http, pid)
    assert missing.status_code == 404 and "not been re-processed" in missing.text
    for key, code in ((strangers_admin, 404), (own_reader, 403), ("ffk_nope", 401)):
        assert status(app.http, pid, key).status_code == code
        assert start(app.http, pid, key).status_code == code
    first = start(app.http, pid)
    assert first.status_code == 202
    body = first.json()
    assert body["state"] == "running" and body["raw_events_read"] == 0
    assert body["raw_events_total"] == len(sim.events) and body["finished_at"] is None
    assert body["started_at"] == iso(now_us()) == body["updated_at"]
    again = start(app.http, pid)  # a second request returns the running rebuild
    assert again.status_code == 202 and again.json() == body
    assert status(app.http, pid, strangers_admin).status_code == 404
    runtime.rebuilder.run_once()
    moving = status(app.http, pid).json()
    assert moving["state"] == "running" and moving["raw_events_read"] == 60
    CLOCK.advance(90)
    runtime.rebuilder.drain()
    done = status(app.http, pid).json()
    assert done["state"] == "done" and done["last_error"] is None
    assert done["finished_at"] == iso(now_us()) == done["updated_at"]
    assert start(app.http, pid).json()["generation"] == 2  # done: a new request starts anew


def test_a_rebuild_resumes_by_itself_after_a_crash(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        store=f"duckdb://{tmp_path}/footfall.duckdb",
        batch_size=50,
        rate_limit_per_key=0,
        rate_limit_per_property=0,
    )
    runtime = Runtime(settings, clock=CLOCK)
    app = App(runtime)
    pid = app.property.property_id
    sim = simulate(seed=5, time_zone=ZONE, visitors_per_day=30, days=4, now_us=now_us())
    assert len(sim.events) > 200  # at any instant: more than four pages of 50
    send(app, sim)
    app.process()
    assert (
        app.http.request(
            "PATCH", f"/v1/admin/properties/{pid}", json={"time_zone": ZONE}, headers=AUTH
        ).status_code
        == 200
    )
    before = snapshot(app.http, pid, sim)
    assert start(app.http, pid).status_code == 202
    assert runtime.rebuilder is not None
    for _ in range(3):
        runtime.rebuilder.run_once()
    runtime.stop()  # the process goes between two pages (SIGKILL: the e2e test below)

    restarted = Runtime(settings, clock=CLOCK)
    try:
        http = SyncASGI(create_app(restarted))
        assert snapshot(http, pid, sim) == before  # the old data, whole
        left = status(http, pid).json()
        assert left["state"] == "running" and left["raw_events_read"] == 150
        assert restarted.rebuilder is not None
        restarted.rebuilder.drain()  # what the started thread does: resume, unasked
        done = status(http, pid).json()
        assert done["state"] == "done" and done["raw_events_read"] == len(sim.events)
        assert by_date(snapshot(http, pid, sim)) == truth_by_date(sim)
        assert generations_stored(restarted, pid) == {1}
    finally:
        restarted.stop()


def test_a_store_from_before_generations_is_upgraded_in_place(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store=f"duckdb://{tmp_path}/new.duckdb")
    runtime = Runtime(settings, clock=CLOCK)
    app = App(runtime)
    pid = app.property.property_id
    sim = simulate(seed=8, time_zone="UTC", visitors_per_day=8, days=1, now_us=now_us())
    send(app, sim)
    app.process()
    before = snapshot(app.http, pid, sim)
    runtime.stop()

    # the same data in the schema of a store written before derived rows had generations
    schema = resources.files("footfall.store.duckdb").joinpath("schema.sql").read_text()
    old_schema = re.sub(r",\n\s*generation INTEGER NOT NULL DEFAULT 0\n", "\n", schema)
    old_schema = old_schema.replace("generation INTEGER NOT NULL DEFAULT 0,\n", "")
    old_schema = old_schema.replace("(property_id, generation, ", "(property_id, ")
    assert "generation INTEGER" not in old_schema.split("CREATE TABLE IF NOT EXISTS generations")[0]
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute(old_schema)
    con.execute(f"ATTACH '{tmp_path}/new.duckdb' AS new (READ_ONLY)")
    for table in ("meta", "tenancy", "usage", "raw_events"):
        con.execute(f"INSERT INTO {table} SELECT * FROM new.{table}")
    for table in ("events", "sessions", "visitors", "dead_letters"):
        con.execute(f"INSERT INTO {table} SELECT * EXCLUDE (generation) FROM new.{table}")
    # the schema version before generations (2: values in micros)
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()

    upgraded = Runtime(
        make_settings(tmp_path, store=f"duckdb://{tmp_path}/old.duckdb"), clock=CLOCK
    )
    try:
        http = SyncASGI(create_app(upgraded))
        assert snapshot(http, pid, sim) == before
        assert upgraded.rebuilder is not None
        assert start(http, pid).status_code == 202
        upgraded.rebuilder.drain()
        assert snapshot(http, pid, sim) == before
    finally:
        upgraded.stop()


def test_a_store_from_before_settled_rebuilds_settles_its_finished_ones_once(
    tmp_path: Path,
) -> None:
    """A file of schema version 3 has no settled_at: its finished rebuilds are unsettled once."""
    path = tmp_path / "v3.duckdb"
    store = DuckDBStore(str(path))
    finished = Rebuild(property_id="100000001", generation=1, state=DONE, finished_at=5)
    store.write(WriteSet(rebuild=finished))
    store.close()
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE rebuilds DROP COLUMN settled_at")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()
    store = DuckDBStore(str(path))
    try:
        assert store.unsettled(now_us()) == [finished]
        store.write(WriteSet(rebuild=msgspec.structs.replace(finished, settled_at=6)))
        assert store.unsettled(now_us()) == []
    finally:
        store.close()


def _reports(server: Server, sim: Simulation) -> list[Any]:
    out = []
    for body in report_bodies(sim):
        result = server.report(body)
        result.pop("metadata", None)
        out.append(result)
    return out


def _status(server: Server) -> Any:
    r = httpx.get(
        f"{server.url}/v1/admin/properties/{server.property_id}/reprocess",
        headers=server.auth,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.e2e
def test_sigkill_mid_rebuild_keeps_the_reports_and_the_restart_finishes_it(tmp_path: Path) -> None:
    data = tmp_path / "killed"
    env = {"FOOTFALL_BATCH_SIZE": "250"}
    server = Server(data, **env).start()  # the property in UTC; the traffic is Tokyo's
    try:
        sim = simulate(
            seed=31, time_zone=ZONE, visitors_per_day=260, days=7, now_us=time.time_ns() // 1000
        )
        stats = asyncio.run(
            send_all(server.url, server.measurement_id, sim.events, key=ADMIN_KEY, concurrency=8)
        )
        assert stats.accepted == len(sim.events)
        server.wait_processed()
        before = _reports(server, sim)
        assert by_date(before) != truth_by_date(sim)
        r = httpx.patch(
            f"{server.url}/v1/admin/properties/{server.property_id}",
            json={"time_zone": ZONE},
            headers=server.auth,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        r = httpx.post(
            f"{server.url}/v1/admin/properties/{server.property_id}:reprocess",
            headers=server.auth,
            timeout=30,
        )
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 120
        while _status(server)["raw_events_read"] < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        progress = _status(server)
        assert progress["state"] == "running", progress
        server.kill()  # SIGKILL mid-rebuild
    finally:
        server.stop()

    restarted = Server(data, **env).start()
    try:
        seen = [(_reports(restarted, sim), _status(restarted))]
        assert seen[0][1]["state"] == "running", "the rebuild was over before the first report"
        assert seen[0][1]["raw_events_read"] >= progress["raw_events_read"]
        assert seen[0][0] == before  # unchanged, whole: nothing emptied, nothing mixed
        ready = restarted.readiness()["checks"]["reprocess"]
        assert ready["alive"]
        while seen[-1][1]["state"] == "running" and time.monotonic() < deadline + 120:
            seen.append((_reports(restarted, sim), _status(restarted)))
        done = seen[-1][1]
        assert done["state"] == "done", done
        assert done["raw_events_read"] == done["raw_events_total"] == len(sim.events)
        after = _reports(restarted, sim)
        for reports, _ in seen:  # each report the old data or the new, never a mix
            assert all(r in (old, new) for r, old, new in zip(reports, before, after, strict=True))
        assert by_date(after) == truth_by_date(sim)
        truth = Truth(sim)
        channels = truth.report(["sessionDefaultChannelGroup", "landingPage"], sim.start, sim.end)
        got = {
            tuple(v["value"] for v in row["dimensionValues"]): [
                int(v["value"]) for v in row["metricValues"]
            ]
            for row in after[1]["rows"]
        }
        assert got == {k: [v["sessions"], v["totalUsers"]] for k, v in channels.items()}
    finally:
        restarted.stop()
