"""Shared fixtures: an in-process app on memory adapters, and raw events to feed the pipeline."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from footfall.clock import FixedClock, to_us
from footfall.schema.events import RawEvent
from footfall.serve import Runtime, create_app
from footfall.settings import Settings, load_settings
from footfall.tenancy.model import Property

ADMIN_KEY = "ffk_test-operator-key-for-the-suite-0123456789"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
OKHTTP = "okhttp/4.12.0"  # an Android app's HTTP client; crawler lists count it as a script
_queue_names = itertools.count()


def example(name: str) -> dict[str, Any]:
    """One of the event contract's example payloads (shared with the collector and processor tests)."""
    text = resources.files("footfall.schema").joinpath("examples", name).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def example_names() -> list[str]:
    folder = resources.files("footfall.schema").joinpath("examples")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))


# The instant every in-process test runs at: fixed, so results never depend on when the suite
# runs. CI runs the suite again at other instants (a minute to midnight UTC, a daylight-saving
# change) by setting TEST_NOW, with the servers' clocks shifted too (.ci/shifted-clock).
TEST_NOW = dt.datetime.fromisoformat(os.environ.get("TEST_NOW", "2026-05-20T10:00:00Z"))
TEST_NOW_US = to_us(TEST_NOW)
CLOCK = FixedClock(TEST_NOW_US)


def now_us() -> int:
    """The tests' clock: the instant in-process runtimes are given."""
    return CLOCK()


@pytest.fixture(autouse=True)
def _fixed_clock() -> None:
    """Each test starts at TEST_NOW (a test may advance the clock)."""
    CLOCK.set(TEST_NOW_US)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    flags = {
        "data_dir": str(tmp_path),
        "store": "memory://",
        "queue": f"memory://q{next(_queue_names)}",
        "admin_key": ADMIN_KEY,
        **overrides,
    }
    return load_settings(flags, environ={})


class SyncASGI:
    """A small synchronous HTTP client for an ASGI app (lifespan not run)."""

    def __init__(
        self,
        asgi: Any,
        client: tuple[str, int] = ("203.0.113.9", 50000),
        *,
        raise_app_exceptions: bool = True,
    ) -> None:
        self.transport = httpx.ASGITransport(
            app=asgi, client=client, raise_app_exceptions=raise_app_exceptions
        )

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://testserver"
            ) as c:
                return await c.request(method, url, **kw)

        return asyncio.run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def options(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kw)


class App:
    """footfall serve in-process: HTTP through the ASGI app, processing on demand."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.http = SyncASGI(create_app(runtime))
        first = runtime.first_start
        assert first is not None
        self.first = first
        self.property: Property = first.property
        self.stream_secret = first.stream_secret

    @property
    def mid(self) -> str:
        return self.first.stream.measurement_id

    def collect(self, body: Any, *, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        h = {"user-agent": CHROME, **(headers or {})}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(
            f"/v1/collect?measurement_id={self.mid}", content=content, headers=h, **kw
        )

    def process(self) -> int:
        return self.runtime.worker.drain()

    def report(self, body: dict[str, Any], token: str = ADMIN_KEY) -> Any:
        return self.http.post(
            f"/v1beta/properties/{self.property.property_id}:runReport",
            json=body,
            headers={"authorization": f"Bearer {token}"},
        )

    def rows(self, body: dict[str, Any]) -> dict[tuple[str, ...], list[str]]:
        r = self.report(body)
        assert r.status_code == 200, r.text
        return {
            tuple(v["value"] for v in row["dimensionValues"]): [
                v["value"] for v in row["metricValues"]
            ]
            for row in r.json().get("rows", [])
        }


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    runtime = Runtime(make_settings(tmp_path), clock=CLOCK)
    yield App(runtime)
    runtime.stop()


def raw_event(**kw: Any) -> RawEvent:
    defaults: dict[str, Any] = {
        "property_id": "100000001",
        "event_id": f"e{next(_queue_names)}",
        "name": "page_view",
        "event_time": now_us(),
        "received_at": now_us(),
        "params": {"page_location": "https://shop.example.com/"},
        "client_id": "c1",
        "ip": "23.20.0.10",
        "user_agent": CHROME,
    }
    defaults.update(kw)
    return RawEvent(**defaults)


def encode(event: RawEvent) -> bytes:
    return msgspec.msgpack.encode(event)


@pytest.fixture(autouse=True)
def _engines_only_in_the_cluster_tier(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unmarked test that opens a Kafka queue or a Cassandra store fails at once, loudly."""
    if request.node.get_closest_marker("cluster"):
        return

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("this test touches a cluster engine: mark it @pytest.mark.cluster")

    monkeypatch.setattr("footfall.queue.kafka._client", refuse)
    monkeypatch.setattr("footfall.store.cassandra.base.CassandraBase.__init__", refuse)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The cases the fuzz tests sent per route (tests/test_fuzz.py), for the record."""
    cases: dict[str, int] | None = getattr(config, "fuzz_cases", None)
    if not cases:
        return
    terminalreporter.write_sep("-", f"fuzz: {sum(cases.values())} generated requests")
    for route, n in cases.items():
        terminalreporter.write_line(f"{n:>7}  {route}")
