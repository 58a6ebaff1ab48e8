"""Bounded cost: connection timeouts, report rows, bytes, time and concurrency, separate rate
limits for the collector and reports, and bulk loading with a write key."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, CHROME, CLOCK, TEST_NOW, TEST_NOW_US, App, make_settings
from footfall.api.runner import ReportRunner
from footfall.errors import ApiError
from footfall.schema.events import EnrichedEvent, Session
from footfall.serve import Runtime
from footfall.settings import SettingsError, load_settings
from footfall.store import Store, WriteSet
from footfall.store import duckdb as duckdb_store
from server import Server

DAY = TEST_NOW.date()  # the demo property's time zone is UTC


def write_events(store: Store, property_id: str, n: int, *, per_session: int = 5) -> None:
    """``n`` page views on distinct pages straight into the store, ``per_session`` a session."""
    for start in range(0, n, 20_000):
        events: list[EnrichedEvent] = []
        sessions: list[Session] = []
        first: list[tuple[str, str, int, str]] = []
        for i in range(start, min(n, start + 20_000)):
            visitor, key = f"v{i // per_session}", f"s{i // per_session}"
            t = TEST_NOW_US - 3_600_000_000 + i
            events.append(
                EnrichedEvent(
                    property_id=property_id,
                    event_id=f"e{i}",
                    event_name="page_view",
                    event_time=t,
                    received_at=t,
                    event_date=DAY,
                    event_hour=TEST_NOW.hour,
                    visitor_id=visitor,
                    session_key=key,
                    page_path=f"/p/{i}",
                    page_location=f"https://shop.example.com/p/{i}",
                    page_title=f"Page {i}",
                )
            )
            if i % per_session == 0:
                sessions.append(
                    Session(
                        property_id=property_id,
                        session_key=key,
                        visitor_id=visitor,
                        client_session_id=None,
                        start_time=t,
                        end_time=t + per_session,
                        event_count=per_session,
                        page_views=per_session,
                        engagement_ms=0,
                        key_events=0,
                        engaged=True,
                        landing_page=f"/p/{i}",
                        source="google",
                        medium="organic",
                        campaign="(organic)",
                        channel_group="Organic Search",
                    )
                )
                first.append((property_id, visitor, t, f"e{i}"))
        store.write(WriteSet(events=events, sessions=sessions, first_seen=first))


def pages_report(limit: int = 0, *, heavy: bool = False) -> dict[str, Any]:
    """One row per page: as heavy as the pages are many (``heavy``: more work per row)."""
    body: dict[str, Any] = {
        "dateRanges": [{"startDate": "2020-01-01", "endDate": DAY.isoformat()}],
        "dimensions": [{"name": "pagePath"}, {"name": "pageLocation"}, {"name": "pageTitle"}],
        "metrics": [
            {"name": "activeUsers"},
            {"name": "sessions"},
            {"name": "screenPageViews"},
            {"name": "engagementRate"},
        ],
    }
    if heavy:
        body["dimensions"].append({"name": "landingPage"})
        body["metrics"] += [{"name": "newUsers"}, {"name": "averageSessionDuration"}]
        body["metricAggregations"] = ["TOTAL", "MINIMUM", "MAXIMUM"]
    if limit:
        body["limit"] = limit
    return body


ONE_ROW = {
    "dateRanges": [{"startDate": "2020-01-01", "endDate": DAY.isoformat()}],
    "metrics": [{"name": "eventCount"}],
}


def limited_app(tmp_path: Path, **settings: Any) -> App:
    return App(Runtime(make_settings(tmp_path, **settings), clock=CLOCK))


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"header_timeout": 0}, "header_timeout"),
        ({"body_timeout": -1}, "body_timeout"),
        ({"keep_alive_timeout": 0}, "keep_alive_timeout"),
        ({"report_timeout": 0}, "report_timeout"),
        ({"report_max_rows": 250_001}, "GA4's maximum"),
        ({"report_max_response_bytes": 10}, "report_max_response_bytes"),
        ({"report_workers": 1}, "report_workers"),
        ({"report_concurrency_per_property": 4}, "never takes every report worker"),
        ({"report_workers": 3, "report_concurrency_per_key": 3}, "report_concurrency_per_key"),
        ({"report_queue_timeout": 0}, "report_queue_timeout"),
        ({"duckdb_memory_limit": "lots"}, "duckdb_memory_limit"),
        ({"rate_limit_reports_per_property": -1}, "rate_limit_reports_per_property"),
    ],
)
def test_bad_limits_say_what_to_fix(flags: dict[str, object], needle: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(flags, environ={})
    assert needle in str(info.value)


# -- connection timeouts, on a real server ------------------------------------------------------


@pytest.fixture(scope="module")
def timed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("timeouts"),
        FOOTFALL_HEADER_TIMEOUT="1.5",
        FOOTFALL_BODY_TIMEOUT="2",
        FOOTFALL_KEEP_ALIVE_TIMEOUT="1",
    ).start()
    yield server
    server.stop()


def _connect(server: Server) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    conn.settimeout(15)
    return conn


def _until_closed(conn: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it sent before."""
    start, received = time.monotonic(), b""
    try:
        while chunk := conn.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass  # closed with a reset: closed all the same
    except TimeoutError:
        pytest.fail(f"the server kept the connection open; it sent {received[:200]!r}")
    finally:
        conn.close()
    return time.monotonic() - start, received


def _closed_within(server: Server, send: bytes, bound: float) -> bytes:
    conn = _connect(server)
    if send:
        conn.sendall(send)
    took, received = _until_closed(conn)
    # closed near the bound: not before it, and not much after (the machine may be busy)
    assert bound * 0.8 <= took <= bound + 3, (took, received[:200])
    return received


def test_a_connection_that_sends_nothing_is_closed(timed_server: Server) -> None:
    assert _closed_within(timed_server, b"", 1.5) == b""


def test_a_partial_request_head_gets_408(timed_server: Server) -> None:
    received = _closed_within(timed_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nAccept: ", 1.5)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert "header_timeout" in json.loads(body)["error"]["message"]


def test_a_partial_body_gets_408(timed_server: Server) -> None:
    head = (
        f"POST /v1/collect?measurement_id={timed_server.measurement_id} HTTP/1.1\r\n"
        "Host: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    received = _closed_within(timed_server, head.encode() + b'{"client_id": "1", ', 2)
    status, _, body = received.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408")
    assert "body_timeout" in json.loads(body)["error"]["message"]
    # the server is fine afterwards, and logged nothing for the client that went away
    assert httpx.get(f"{timed_server.url}/healthz", timeout=10).status_code == 200
    assert "Traceback" not in timed_server.log.read_text()


def test_an_idle_keep_alive_connection_is_closed(timed_server: Server) -> None:
    conn = _connect(timed_server)
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = conn.recv(65536)
    assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower()
    took, rest = _until_closed(conn)
    assert (first + rest).endswith(b'{"status":"ok"}') and took <= 1 + 3


def test_a_body_trickled_after_an_early_answer_is_not_waited_for(timed_server: Server) -> None:
    conn = _connect(timed_server)
    conn.sendall(b"POST /v1beta/properties/1:runReport HTTP/1.1\r\nHost: x\r\n")
    conn.sendall(b"Content-Length: 1000\r\n\r\n{")
    start = time.monotonic()
    for _ in range(8):  # a byte every half second: the keep-alive timer never runs out
        time.sleep(0.5)
        try:
            conn.sendall(b" ")
        except OSError:
            break
    _took, answered = _until_closed(conn)
    assert time.monotonic() - start <= 2 + 3 + 1  # the body timer closed it
    assert answered.startswith(b"HTTP/1.1 401")


def test_a_slow_request_within_the_bounds_is_answered(timed_server: Server) -> None:
    body = json.dumps(
        {
            "client_id": "slow.1",
            "events": [{"name": "page_view", "params": {"page_location": "https://a.example/"}}],
        }
    ).encode()
    head = (
        f"POST /v1/collect?measurement_id={timed_server.measurement_id} HTTP/1.1\r\n"
        f"Host: x\r\nUser-Agent: {CHROME}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    conn = _connect(timed_server)
    pieces = [head[:20], head[20:60], head[60:], body[:10], body[10:]]
    for piece in pieces:  # about 1 s for the head and 1 s for the body, each within its bound
        conn.sendall(piece)
        time.sleep(0.45)
    answer = conn.recv(65536)
    conn.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b'"accepted":1' in answer


# -- report rows, bytes and time ---------------------------------------------------------------


def test_reports_are_capped_at_report_max_rows(tmp_path: Path) -> None:
    app = limited_app(tmp_path, report_max_rows=50)
    try:
        write_events(app.runtime.store, app.property.property_id, 60)
        refused = app.report(pages_report(limit=51))
        assert refused.status_code == 400
        assert "report_max_rows" in refused.json()["error"]["message"]
        # without a limit, GA4's default of 10,000 is cut to the server's cap
        capped = app.report(pages_report())
        assert capped.status_code == 200, capped.text
        assert len(capped.json()["rows"]) == 50 and capped.json()["rowCount"] == 60
        assert app.report(pages_report(limit=50)).status_code == 200
        realtime = app.http.post(
            f"/v1beta/properties/{app.property.property_id}:runRealtimeReport",
            json={"metrics": [{"name": "eventCount"}], "limit": 51},
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert realtime.status_code == 400 and "report_max_rows" in realtime.text
    finally:
        app.runtime.stop()


def test_a_response_over_report_max_response_bytes_gets_400(tmp_path: Path) -> None:
    app = limited_app(tmp_path, report_max_response_bytes=100_000)
    try:
        write_events(app.runtime.store, app.property.property_id, 2_000)
        small = app.report(pages_report(limit=100))
        assert small.status_code == 200 and len(small.content) < 100_000
        big = app.report(pages_report())
        assert big.status_code == 400, big.status_code
        message = big.json()["error"]["message"]
        assert "report_max_response_bytes" in message and "offset" in message
        metrics = app.http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}).text
        assert 'footfall_reports_stopped_total{bound="report_max_response_bytes"} 1.0' in metrics
    finally:
        app.runtime.stop()


def test_a_report_past_its_time_budget_is_stopped_and_its_cursor_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = limited_app(
        tmp_path,
        report_timeout=0.05,
        report_workers=2,
        report_concurrency_per_property=1,
        report_concurrency_per_key=1,
    )
    try:
        write_events(app.runtime.store, app.property.property_id, 20_000)
        execute = duckdb_store.execute

        def slow(cur: Any, sql: str, params: list[Any]) -> Any:
            # a statement that runs for minutes, whatever the machine: only the budget stops it
            cur.execute("SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3").fetchall()
            return execute(cur, sql, params)

        monkeypatch.setattr(duckdb_store, "execute", slow)
        start = time.monotonic()
        stopped = app.report(pages_report(limit=250_000))
        took = time.monotonic() - start
        monkeypatch.setattr(duckdb_store, "execute", execute)
        assert stopped.status_code == 503, stopped.text[:300]
        assert "report_timeout" in stopped.json()["error"]["message"]
        assert int(stopped.headers["retry-after"]) >= 1
        assert took < 30  # interrupted: the statement alone runs for minutes
        # every reader cursor answers afterwards, the interrupted one included (3: workers + 1);
        # with a budget no small report can miss on a busy machine
        store: Any = app.runtime.store
        store.report_timeout = 30.0
        for _ in range(6):
            assert app.rows(ONE_ROW) == {(): ["20000"]}
        metrics = app.http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}).text
        assert 'footfall_reports_stopped_total{bound="report_timeout"} 1.0' in metrics
    finally:
        app.runtime.stop()


def test_the_engine_has_a_memory_limit_and_spills_under_the_data_dir(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path, duckdb_memory_limit="100MB"), clock=CLOCK)
    try:
        store: Any = runtime.store
        # the settings of the engine the reports run on (a cursor shares its database's)
        with store._reader() as cur:
            limit, temp = cur.execute(
                "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
            ).fetchone()
            # a sort bigger than the limit spills to disk instead of failing
            cur.execute("SET preserve_insertion_order = false")
            rows = cur.execute(
                "SELECT count(*) FROM (SELECT i, repeat('x', 100) || i AS s FROM range(1500000) "
                "t(i) ORDER BY s DESC LIMIT 1000000)"
            ).fetchone()
        assert limit in ("95.3 MiB", "100.0 MB")
        assert Path(temp) == (tmp_path / "duckdb-tmp").resolve()
        assert rows == (1_000_000,)
    finally:
        runtime.stop()


# -- report concurrency ------------------------------------------------------------------------


def test_the_runner_bounds_reports_per_property_and_key() -> None:
    async def scenario() -> dict[str, Any]:
        runner = ReportRunner(workers=4, per_property=2, per_key=3, queue_timeout=0.3)
        release = threading.Event()

        def slow() -> str:
            release.wait(10)
            return "done"

        async def attempt(prop: str, key: str) -> str:
            try:
                return await runner.run(prop, key, slow)
            except ApiError as exc:
                return f"{exc.code}: {exc.message}"

        a = [asyncio.create_task(attempt("A", f"k{i}")) for i in range(2)]
        await asyncio.sleep(0.05)
        third_of_a = await attempt("A", "k9")  # waits 0.3 s, then refused
        b = asyncio.create_task(attempt("B", "k1"))  # another property still runs
        await asyncio.sleep(0.05)
        # k1 now runs on A and B; a third of k1 on another property still runs (3 per key)
        c = asyncio.create_task(attempt("C", "k1"))
        await asyncio.sleep(0.05)
        release.set()
        results = [await t for t in [*a, b]]
        fourth_of_k1 = await c
        running_after = runner.running
        release.clear()
        # per key: three of one key across properties, a fourth waits and is refused
        keyed = [asyncio.create_task(attempt(p, "kk")) for p in ("P", "Q", "R")]
        await asyncio.sleep(0.05)
        fourth_of_kk = await attempt("S", "kk")
        release.set()
        await asyncio.gather(*keyed)
        return {
            "third_of_a": third_of_a,
            "results": results,
            "fourth_of_k1": fourth_of_k1,
            "fourth_of_kk": fourth_of_kk,
            "running_after": running_after,
        }

    got = asyncio.run(scenario())
    assert (
        got["third_of_a"].startswith("429")
        and "report_concurrency_per_property" in got["third_of_a"]
    )
    assert got["results"] == ["done", "done", "done"]
    assert got["fourth_of_k1"] == "done"
    assert (
        got["fourth_of_kk"].startswith("429")
        and "report_concurrency_per_key" in got["fourth_of_kk"]
    )
    assert got["running_after"] == 0


def test_a_report_waits_briefly_for_a_turn_then_gets_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = limited_app(tmp_path, report_concurrency_per_property=1, report_queue_timeout=0.3)
    try:
        store = app.runtime.store
        real = store.run_report
        gate = threading.Event()

        def slow(query: Any) -> Any:
            gate.wait(10)
            return real(query)

        monkeypatch.setattr(store, "run_report", slow)
        auth = {"authorization": f"Bearer {ADMIN_KEY}"}
        url = f"/v1beta/properties/{app.property.property_id}:runReport"

        async def two_at_once() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                transport=app.http.transport, base_url="http://testserver"
            ) as client:
                first = asyncio.create_task(client.post(url, json=ONE_ROW, headers=auth))
                await asyncio.sleep(0.1)
                second = await client.post(url, json=ONE_ROW, headers=auth)
                gate.set()
                return [await first, second]

        first, second = asyncio.run(two_at_once())
        assert first.status_code == 200
        assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
        assert "report_concurrency_per_property" in second.json()["error"]["message"]
        assert app.report(ONE_ROW).status_code == 200  # the turn is given back
    finally:
        app.runtime.stop()


def test_the_dashboards_nine_reports_at_once_all_get_their_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defaults let the dashboard's burst through on a property whose reports are slow."""
    app = limited_app(tmp_path)
    try:
        store = app.runtime.store
        real = store.run_report
        most = [0]
        running = [0]
        lock = threading.Lock()

        def slow(query: Any) -> Any:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.3)
            with lock:
                running[0] -= 1
            return real(query)

        monkeypatch.setattr(store, "run_report", slow)
        auth = {"authorization": f"Bearer {ADMIN_KEY}"}
        url = f"/v1beta/properties/{app.property.property_id}:runReport"

        async def burst() -> list[int]:
            async with httpx.AsyncClient(
                transport=app.http.transport, base_url="http://testserver"
            ) as client:
                sent = [client.post(url, json=ONE_ROW, headers=auth) for _ in range(9)]
                return [r.status_code for r in await asyncio.gather(*sent)]

        assert asyncio.run(burst()) == [200] * 9
        assert most[0] == 2  # report_concurrency_per_property at a time
    finally:
        app.runtime.stop()


# -- the bystander: another tenant's report and collect while heavy reports run ---------------


def _timed(call: Callable[[], httpx.Response], expect: int = 200) -> float:
    start = time.monotonic()
    response = call()
    took = time.monotonic() - start
    assert response.status_code == expect, response.text[:300]
    return took


def test_heavy_reports_leave_other_tenants_their_latency(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # a big property, written straight to the store before the server starts
    settings = load_settings({"data_dir": str(data), "admin_key": ADMIN_KEY}, environ={})
    runtime = Runtime(settings, clock=CLOCK)
    assert runtime.first_start is not None
    big = runtime.first_start.property.property_id
    write_events(runtime.store, big, 80_000)
    runtime.stop()
    budget, queue_wait = 0.5, 0.5
    server = Server(
        data,
        FOOTFALL_REPORT_TIMEOUT=str(budget),
        FOOTFALL_REPORT_CONCURRENCY_PER_PROPERTY="2",
        FOOTFALL_REPORT_QUEUE_TIMEOUT=str(queue_wait),
    ).start()
    try:
        with (
            httpx.Client(base_url=server.url, headers=server.auth, timeout=30) as admin,
            httpx.Client(base_url=server.url, timeout=30) as bystander,
        ):
            _bystander_under_heavy_reports(server, big, admin, bystander, budget + queue_wait)
    finally:
        server.stop()


def _bystander_under_heavy_reports(
    server: Server, big: str, admin: httpx.Client, bystander: httpx.Client, bound: float
) -> None:
    # the bystander: another account's property, stream and read key
    account = admin.post("/v1/admin/accounts", json={"name": "Bystander"}).json()
    prop = admin.post(
        "/v1/admin/properties", json={"name": "small", "account_id": account["account_id"]}
    ).json()
    mid = prop["streams"][0]["measurement_id"]
    key = admin.post(
        "/v1/admin/keys",
        json={"name": "reader", "account_id": account["account_id"], "scopes": ["read"]},
    ).json()["value"]
    report_url = f"/v1beta/properties/{prop['property_id']}:runReport"
    event = {"name": "page_view", "params": {"page_location": "https://small.example/"}}

    def report() -> httpx.Response:
        return bystander.post(report_url, json=ONE_ROW, headers={"authorization": f"Bearer {key}"})

    def collect() -> httpx.Response:
        return bystander.post(
            f"/v1/collect?measurement_id={mid}",
            json={"client_id": "by.1", "events": [event]},
            headers={"user-agent": CHROME},
        )

    for _ in range(3):  # warm up both paths
        report()
        collect()
    idle_report = statistics.median(_timed(report) for _ in range(15))
    idle_collect = statistics.median(_timed(collect) for _ in range(15))

    heavy: list[tuple[int, float]] = []  # status, seconds

    def send_heavy() -> None:
        with httpx.Client(base_url=server.url, headers=server.auth, timeout=60) as client:
            end = time.monotonic() + 4.5
            while time.monotonic() < end:
                start = time.monotonic()
                r = client.post(
                    f"/v1beta/properties/{big}:runReport",
                    json=pages_report(limit=250_000, heavy=True),
                )
                heavy.append((r.status_code, time.monotonic() - start))

    threads = [threading.Thread(target=send_heavy) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.75)  # let the heavy ones get going
    busy_report: list[float] = []
    busy_collect: list[float] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        busy_report.append(_timed(report))
        busy_collect.append(_timed(collect))
    for t in threads:
        t.join(60)

    codes = [code for code, _ in heavy]
    lines = []
    for name, idle, busy in (
        ("report", idle_report, busy_report),
        ("collect", idle_collect, busy_collect),
    ):
        lines.append(
            f"bystander {name}: idle median {idle * 1000:.1f} ms; under heavy reports median "
            f"{statistics.median(busy) * 1000:.1f} ms, max {max(busy) * 1000:.1f} ms "
            f"({len(busy)} samples, x{statistics.median(busy) / idle:.1f} the idle median)"
        )
    lines.append(
        f"heavy reports: {len(codes)} answered: {codes.count(503)} stopped at the time budget "
        f"(503), {codes.count(429)} refused for concurrency (429), {codes.count(200)} answered "
        f"within the budget; slowest answer {max(s for _, s in heavy):.2f} s"
    )
    print("\n" + "\n".join(lines))
    # the heavy ones were bounded: stopped at the budget or refused after a short wait
    assert set(codes) <= {200, 429, 503} and 503 in codes and 429 in codes, codes
    assert max(s for code, s in heavy if code != 200) <= bound + 3
    # the bystander kept its latency: a generous multiple of idle, and a ceiling
    for idle, busy in ((idle_report, busy_report), (idle_collect, busy_collect)):
        assert statistics.median(busy) <= max(20 * idle, 0.25), (idle, busy)
        assert max(busy) <= 3.0, (idle, busy)


# -- rate limits: the collector's and the reports' buckets, bulk loading ------------------------


def _event() -> dict[str, Any]:
    return {"name": "page_view", "params": {"page_location": "https://shop.example.com/"}}


def test_a_collect_flood_leaves_the_propertys_reports_answering(tmp_path: Path) -> None:
    app = limited_app(tmp_path, rate_limit_per_property=3, rate_limit_burst_seconds=1)
    try:
        codes = [
            app.collect({"client_id": "1", "events": [_event()]}).status_code for _ in range(10)
        ]
        assert 429 in codes  # the public measurement id's bucket is empty
        for _ in range(3):
            assert app.report(ONE_ROW).status_code == 200
        assert app.collect({"client_id": "1", "events": [_event()]}).status_code == 429
    finally:
        app.runtime.stop()


def test_reports_have_their_own_bucket_per_property(tmp_path: Path) -> None:
    app = limited_app(tmp_path, rate_limit_reports_per_property=2, rate_limit_burst_seconds=1)
    try:
        codes = [app.report(ONE_ROW).status_code for _ in range(6)]
        assert codes[:2] == [200, 200] and 429 in codes
        refused = app.report(ONE_ROW)
        assert refused.status_code == 429 and "reports" in refused.json()["error"]["message"]
        # the collector is not blocked by the reports' bucket
        assert app.collect({"client_id": "1", "events": [_event()]}).status_code == 200
    finally:
        app.runtime.stop()


def test_bulk_loading_with_a_write_key_is_not_throttled_like_a_dashboard(tmp_path: Path) -> None:
    # a key's bucket of 100 requests refilled at 10 a second: a dashboard's budget
    app = limited_app(tmp_path, rate_limit_per_key=10, rate_limit_burst_seconds=10)
    try:
        t = app.runtime.tenancy
        account = app.first.account.account_id
        writer = t.create_key(account, "backfill", ["write"]).value
        reader = t.create_key(account, "dashboard", ["read"]).value
        old = TEST_NOW_US - 30 * 86_400_000_000  # history: only a write key may send it
        backfill = [
            app.collect(
                {
                    "client_id": f"c{i}",
                    "events": [{**_event(), "timestamp_micros": old + i}],
                },
                headers={"authorization": f"Bearer {writer}", "user-agent": CHROME},
            ).status_code
            for i in range(200)
        ]
        assert backfill == [200] * 200
        reads = [app.report(ONE_ROW, token=reader).status_code for _ in range(200)]
        assert 429 in reads and reads[:100] == [200] * 100
    finally:
        app.runtime.stop()
