"""footfall.client against ``footfall serve`` on a real socket.

- the server stopped (SIGTERM or SIGKILL) and started again in the middle of a run: every event
  tracked before, during and after the outage is counted exactly once, with the sync client and
  with the asyncio one;
- a proxy that forwards a batch and then drops the response: the retried batch is counted once.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import CHROME, IPHONE
from footfall.client import AsyncClient, Client, Options
from server import Server

pytestmark = pytest.mark.e2e

FAST_RETRIES = Options(
    flush_interval=0.05, backoff_base=0.05, max_retry_delay=0.5, close_timeout=120, timeout=5
)


def stream_secret(server: Server) -> str:
    """A new API secret on the demo stream, made as an operator would."""
    props = httpx.get(f"{server.url}/v1/admin/properties", headers=server.auth, timeout=10).json()
    stream_id = props["properties"][0]["streams"][0]["stream_id"]
    r = httpx.post(
        f"{server.url}/v1/admin/streams/{stream_id}/secrets",
        json={"name": "sdk"},
        headers=server.auth,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    value: str = r.json()["value"]
    return value


def counts_by_probe(server: Server) -> dict[str, int]:
    server.wait_processed()
    body = server.report(
        {
            # from yesterday: a run a minute before midnight ends on the next day
            "dateRanges": [{"startDate": "1daysAgo", "endDate": "today"}],
            "dimensions": [{"name": "customEvent:probe"}],
            "metrics": [{"name": "eventCount"}],
            "limit": 100000,
        }
    )
    return {
        row["dimensionValues"][0]["value"]: int(row["metricValues"][0]["value"])
        for row in body.get("rows", [])
    }


def track(client: Client | AsyncClient, probe: str, n: int) -> None:
    visitor = int(probe.rsplit("-", 1)[1]) % 7
    client.track(
        "page_view",
        {"page_location": f"https://shop.example.com/{probe}", "probe": probe},
        client_id=f"sdk.{visitor}",
        # the visitor's browser, as a web app passes it on; every third event goes without one
        # and is counted under the SDK's own user agent
        user_agent=None if n % 3 == 0 else (CHROME if visitor % 2 else IPHONE),
    )


def wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_events_tracked_while_the_server_is_away_are_counted_once(tmp_path: Path, how: str) -> None:
    server = Server(tmp_path / "data").start()
    try:
        client = Client(
            server.url,
            server.measurement_id,
            api_secret=stream_secret(server),
            options=FAST_RETRIES,
        )
        before, during, after = 120, 90, 40
        for n in range(before):
            track(client, f"before-{n}", n)
        wait_for(lambda: client.stats.accepted == before, "the first events were not accepted")

        server.kill() if how == "sigkill" else server.stop()
        for n in range(during):
            track(client, f"during-{n}", n)
        wait_for(lambda: client.stats.retries >= 3, "the client did not retry")
        assert client.stats.accepted == before

        server.start()  # the same port and data directory
        for n in range(after):
            track(client, f"after-{n}", n)
        stats = client.close()
        total = before + during + after
        assert (stats.tracked, stats.accepted, stats.pending) == (total, total, 0)
        assert stats.failed == stats.rejected == stats.dropped == stats.unsent == 0

        counts = counts_by_probe(server)
        expected = {
            f"{phase}-{n}"
            for phase, k in [("before", before), ("during", during), ("after", after)]
            for n in range(k)
        }
        assert set(counts) == expected, f"missing {sorted(expected - set(counts))[:5]}"
        assert set(counts.values()) == {1}, "an event was counted more than once"
    finally:
        server.stop()


def test_the_asyncio_client_rides_out_a_restart_too(tmp_path: Path) -> None:
    server = Server(tmp_path / "async").start()
    secret = stream_secret(server)

    async def run() -> Any:
        client = AsyncClient(
            server.url, server.measurement_id, api_secret=secret, options=FAST_RETRIES
        )
        for n in range(60):
            track(client, f"async-{n}", n)
        while client.stats.accepted < 60:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(server.kill)  # the loop keeps running while the server is away
        for n in range(60, 100):
            track(client, f"async-{n}", n)
        while client.stats.retries < 3:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(server.start)
        return await client.aclose()

    try:
        stats = asyncio.run(asyncio.wait_for(run(), timeout=240))
        assert (stats.tracked, stats.accepted, stats.pending, stats.unsent) == (100, 100, 0, 0)
        assert counts_by_probe(server) == {f"async-{n}": 1 for n in range(100)}
    finally:
        server.stop()


class LosingProxy(http.server.ThreadingHTTPServer):
    """Forwards each POST to the server; the first ``lose`` times it then hangs up instead of
    relaying the answer, as a load balancer or a network can after the write is durable."""

    daemon_threads = True

    def __init__(self, upstream: str, lose: int) -> None:
        self.upstream, self.lose, self.lost_events = upstream, lose, 0
        self.lock = threading.Lock()
        self.http = httpx.Client(timeout=30)
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(http.server.BaseHTTPRequestHandler):
    server: LosingProxy
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        proxy = self.server
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
        }
        r = proxy.http.post(f"{proxy.upstream}{self.path}", content=body, headers=headers)
        with proxy.lock:
            lose = proxy.lose > 0 and r.status_code == 200
            if lose:
                proxy.lose -= 1
                proxy.lost_events += r.json()["accepted"]
        if lose:
            self.close_connection = True  # the events are durable; the client never hears it
            return
        self.send_response(r.status_code)
        for k in ("content-type", "retry-after"):
            if k in r.headers:
                self.send_header(k, r.headers[k])
        self.send_header("content-length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Server, LosingProxy]]:
    server = Server(tmp_path / "proxied").start()
    proxy = LosingProxy(server.url, lose=4)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        proxy.http.close()
        server.stop()


def test_a_batch_whose_2xx_was_lost_is_retried_and_counted_once(
    proxied: tuple[Server, LosingProxy],
) -> None:
    server, proxy = proxied
    client = Client(
        proxy.url, server.measurement_id, api_secret=stream_secret(server), options=FAST_RETRIES
    )
    for n in range(100):
        track(client, f"lost-{n}", n)
    stats = client.close()
    assert proxy.lose == 0 and proxy.lost_events >= 4  # four answers never reached the client
    assert (stats.accepted, stats.failed, stats.unsent) == (100, 0, 0)
    assert stats.retries >= 4
    counts = counts_by_probe(server)
    assert counts == {f"lost-{n}": 1 for n in range(100)}
    duplicates = server.readiness()["checks"]["processor"]["events"]["duplicates"]
    assert duplicates == proxy.lost_events  # the copies the retries sent, dropped by event_id
