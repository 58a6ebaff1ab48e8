"""footfall.client against httpx.MockTransport: batching, retries, bounds, close and exit."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import TEST_NOW, TEST_NOW_US, now_us
from footfall.client import DEFAULT_USER_AGENT, AsyncClient, Client, Options
from footfall.client.buffer import Buffer
from footfall.client.events import Envelope, make_event

SECRET = "ffs_very-secret-value-0123456789"


class Collector:
    """A stand-in collector: records every request, answers from a script, then 200s.

    ``received`` counts the copies of each ``event_id`` it took in (and answered or not); footfall
    stores one ``(property, event_id)`` once, so its keys are what would be counted."""

    def __init__(self, *script: Callable[[httpx.Request], httpx.Response]) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.received: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            step = self.script.pop(0) if self.script else None
        if step is not None:
            return step(request)
        return self.accept(request)

    def accept(self, request: httpx.Request) -> httpx.Response:
        events = self.body(request)["events"]
        with self.lock:
            for e in events:
                self.received[e["event_id"]] = self.received.get(e["event_id"], 0) + 1
        results = [
            {"index": i, "status": "accepted", "event_id": e["event_id"]}
            for i, e in enumerate(events)
        ]
        return httpx.Response(200, json={"accepted": len(events), "rejected": 0, "events": results})

    @staticmethod
    def body(request: httpx.Request) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(request.content)
        return data

    def bodies(self) -> list[dict[str, Any]]:
        return [self.body(r) for r in self.requests]

    def ids(self) -> list[list[str]]:
        return [[e["event_id"] for e in b["events"]] for b in self.bodies()]


def status(code: int, headers: dict[str, str] | None = None, **body: Any) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, headers=headers, json=body or {"error": {"code": code}})

    return answer


def lost_response(collector: Collector) -> Any:
    """The collector stores the events, then the connection drops before the response."""

    def answer(request: httpx.Request) -> httpx.Response:
        collector.accept(request)
        raise httpx.ReadError("connection reset by peer", request=request)

    return answer


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def client(collector: Collector, sleeps: list[float] | None = None, **options: Any) -> Client:
    opts = {"flush_interval": 3600.0, **options}
    return Client(
        "http://footfall.test",
        "G-TEST",
        api_secret=SECRET,
        transport=httpx.MockTransport(collector),
        options=Options(**opts),
        now_us=now_us,
        sleep=sleeps.append if sleeps is not None else (lambda s: None),
        random=lambda: 0.0,
    )


def test_track_returns_the_event_id_and_close_sends_everything_in_batches_of_25() -> None:
    collector = Collector()
    c = client(collector)
    ids = [c.track("page_view", {"n": i}, client_id="c1") for i in range(60)]
    stats = c.close()
    assert sorted(len(b) for b in collector.ids()) == [10, 25, 25]
    assert sorted(i for batch in collector.ids() for i in batch) == sorted(ids)
    assert (stats.tracked, stats.accepted, stats.pending, stats.requests) == (60, 60, 0, 3)
    request = collector.requests[0]
    assert request.url.params["measurement_id"] == "G-TEST"
    assert request.url.params["api_secret"] == SECRET
    assert request.url.path == "/v1/collect"
    assert request.headers["user-agent"] == DEFAULT_USER_AGENT
    event = collector.bodies()[0]["events"][0]
    assert event["timestamp_micros"] == TEST_NOW_US  # the time of track, not of sending
    assert set(event) == {"name", "event_id", "timestamp_micros", "params"}


def test_events_are_batched_per_envelope() -> None:
    collector = Collector()
    c = client(collector)
    c.track("a", client_id="c1")
    c.track("b", client_id="c2", user_id="u2")
    c.track("c", client_id="c1")
    c.track("d", client_id="c3", user_agent="Mozilla/5.0 (X11)", ip_override="203.0.113.7")
    c.close()
    envelopes = {
        tuple(sorted((k, v) for k, v in b.items() if k != "events")): [
            e["name"] for e in b["events"]
        ]
        for b in collector.bodies()
    }
    assert envelopes == {
        (("client_id", "c1"),): ["a", "c"],
        (("client_id", "c2"), ("user_id", "u2")): ["b"],
        (
            ("client_id", "c3"),
            ("ip_override", "203.0.113.7"),
            ("user_agent", "Mozilla/5.0 (X11)"),
        ): ["d"],
    }


def test_batches_stay_under_max_batch_bytes() -> None:
    collector = Collector()
    c = client(collector, max_batch_bytes=5_000)
    for i in range(40):
        c.track("page_view", {"page_location": f"https://shop.example.com/{i}/" + "x" * 900})
    c.close()
    sizes = [len(r.content) for r in collector.requests]
    assert max(sizes) <= 5_000
    assert sum(len(b) for b in collector.ids()) == 40
    assert len(sizes) >= 40 // 4  # about four of these events fit in 5,000 bytes


def test_a_batch_waits_at_most_flush_interval() -> None:
    ticks = [100.0]
    buffer = Buffer(
        max_events=100,
        max_bytes=100_000,
        batch_events=25,
        batch_bytes=100_000,
        flush_interval=2.0,
        clock=lambda: ticks[0],
    )
    envelope = Envelope(client_id="c1")
    buffer.put(envelope, make_event("a", None, event_id="e1", time_us=1, max_params=25))
    assert buffer.take() is None and buffer.wait_time() == 2.0
    ticks[0] = 101.5
    buffer.put(envelope, make_event("b", None, event_id="e2", time_us=1, max_params=25))
    assert buffer.take() is None and buffer.wait_time() == 0.5
    ticks[0] = 102.0  # the oldest has waited 2 s: its batch goes, with the younger one
    batch = buffer.take()
    assert batch is not None and [e.event_id for e in batch.events] == ["e1", "e2"]
    assert buffer.wait_time() is None


def test_the_background_threads_send_without_close() -> None:
    collector = Collector()
    c = client(collector, flush_interval=0.05)
    c.track("page_view", client_id="c1")
    deadline = time.monotonic() + 30
    while not collector.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert collector.ids() and c.stats.accepted == 1
    c.close()


def test_a_full_batch_goes_before_flush_interval() -> None:
    collector = Collector()
    c = client(collector)  # flush_interval is an hour
    for i in range(25):
        c.track("page_view", {"n": i}, client_id="c1")
    deadline = time.monotonic() + 30
    while not collector.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [len(b) for b in collector.ids()] == [25]
    c.close()


def test_retries_keep_the_event_ids_and_a_lost_response_counts_once() -> None:
    collector = Collector()
    collector.script = [status(503, {"retry-after": "1"}), refused, lost_response(collector)]
    sleeps: list[float] = []
    c = client(collector, sleeps)
    ids = [c.track("purchase", {"value": 5}, client_id="c1") for _ in range(3)]
    stats = c.close()
    attempts = collector.ids()
    assert len(attempts) == 4 and all(a == ids for a in attempts)  # the same ids every time
    # the lost 2xx stored them, the retry sent the same ids again: footfall keeps them once
    assert collector.received == dict.fromkeys(ids, 2)
    assert (stats.accepted, stats.retries, stats.requests, stats.failed) == (3, 3, 4, 0)
    assert len(sleeps) == 3


def test_retry_after_is_honoured_on_429_and_503() -> None:
    collector = Collector()
    collector.script = [
        status(429, {"retry-after": "7"}),
        status(503, {"retry-after": "2"}),
        status(503, {"retry-after": "100000"}),  # capped at max_retry_after
    ]
    sleeps: list[float] = []
    c = client(collector, sleeps, max_retry_after=60.0, backoff_base=0.5, close_timeout=10**4)
    c.track("page_view")
    c.close()
    assert sleeps == [7.0, 2.0, 60.0]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    delays: dict[float, list[float]] = {}
    for jitter in (0.0, 1.0):
        collector = Collector()
        collector.script = [refused] * 5 + [status(500), status(408)]
        sleeps: list[float] = []
        c = Client(
            "http://footfall.test",
            "G-TEST",
            transport=httpx.MockTransport(collector),
            options=Options(flush_interval=3600, backoff_base=0.5, max_retry_delay=5.0),
            sleep=sleeps.append,
            random=lambda j=jitter: j,
        )
        c.track("page_view")
        assert c.close().accepted == 1
        delays[jitter] = sleeps
    # attempt n waits between half and all of min(5, 0.5 * 2**n)
    assert delays[1.0] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert delays[0.0] == [0.25, 0.5, 1.0, 2.0, 2.5, 2.5, 2.5]


def test_a_final_4xx_is_not_retried_and_is_logged_with_the_servers_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = Collector()
    message = "the api_secret is not valid for this stream"
    collector.script = [status(401, error={"code": 401, "message": message})]
    c = client(collector)
    for _ in range(3):
        c.track("page_view")
    with caplog.at_level(logging.WARNING, logger="footfall.client"):
        stats = c.close()
    assert (stats.requests, stats.failed, stats.accepted, stats.retries) == (1, 3, 0, 0)
    assert any(message in r.getMessage() and "401" in r.getMessage() for r in caplog.records)


def test_per_event_rejections_are_counted_by_reason(caplog: pytest.LogCaptureFixture) -> None:
    def mixed(request: httpx.Request) -> httpx.Response:
        events = Collector.body(request)["events"]
        results = [
            {"index": 0, "status": "accepted", "event_id": events[0]["event_id"]},
            {
                "index": 1,
                "status": "rejected",
                "event_id": events[1]["event_id"],
                "reason": "invalid_event_name",
                "message": "events[1]: event name '1bad' must start with a letter",
            },
        ]
        return httpx.Response(200, json={"accepted": 1, "rejected": 1, "events": results})

    def all_rejected(request: httpx.Request) -> httpx.Response:
        events = Collector.body(request)["events"]
        results = [
            {"index": i, "status": "rejected", "reason": "event_too_old", "message": "old"}
            for i in range(len(events))
        ]
        return httpx.Response(400, json={"accepted": 0, "rejected": 2, "events": results})

    collector = Collector(mixed, all_rejected)
    c = client(collector)
    c.track("ok", client_id="a")
    c.track("1bad", client_id="a")
    c.track("old", client_id="b")
    c.track("old", client_id="b")
    with caplog.at_level(logging.WARNING, logger="footfall.client"):
        stats = c.close()
    assert (stats.accepted, stats.rejected, stats.failed, stats.retries) == (1, 3, 0, 0)
    assert stats.rejected_by_reason == {"invalid_event_name": 1, "event_too_old": 2}
    assert any("must start with a letter" in r.getMessage() for r in caplog.records)


def test_a_whole_request_400_fails_its_batch() -> None:
    message = "events: 30 events; the limit is 25 (max_events_per_request)"
    collector = Collector(status(400, error={"code": 400, "message": message}))
    c = client(collector)
    c.track("page_view")
    stats = c.close()
    assert (stats.failed, stats.rejected, stats.requests) == (1, 0, 1)


def test_a_413_splits_the_batch() -> None:
    def small_server(request: httpx.Request) -> httpx.Response:
        if len(request.content) > 2_500:
            return httpx.Response(413, json={"error": {"code": 413, "message": "too large"}})
        return collector.accept(request)

    collector = Collector(*[small_server] * 100)
    c = client(collector)
    for i in range(20):
        c.track("page_view", {"page_location": f"https://a.test/{i}/" + "y" * 300})
    stats = c.close()
    assert stats.accepted == 20 and len(collector.received) == 20
    assert max(len(r.content) for r in collector.requests if r.content) > 2_500


def test_give_up_after_counts_the_batch_failed() -> None:
    collector = Collector(*[status(503)] * 50)
    ticks = iter(range(0, 10_000, 10))
    c = Client(
        "http://footfall.test",
        "G-TEST",
        transport=httpx.MockTransport(collector),
        options=Options(flush_interval=3600, give_up_after=60, close_timeout=10**4),
        clock=lambda: float(next(ticks)),
        sleep=lambda s: None,
    )
    c.track("page_view")
    stats = c.close()
    assert stats.failed == 1 and stats.accepted == 0 and len(collector.requests) < 50


def test_a_full_queue_drops_the_oldest_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    collector = Collector()
    c = client(collector, max_queue_events=5, max_concurrency=1)
    with caplog.at_level(logging.WARNING, logger="footfall.client"):
        ids = [c.track("page_view", {"n": i}, client_id=f"c{i % 2}") for i in range(8)]
    assert c.stats.dropped == 3 and c.stats.pending == 5
    stats = c.close()
    assert sorted(collector.received) == sorted(ids[3:])  # the newest five were kept
    assert (stats.tracked, stats.dropped, stats.accepted) == (8, 3, 5)
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_the_queue_is_bounded_by_bytes_too() -> None:
    collector = Collector()
    c = client(collector, max_queue_bytes=20_000, max_batch_bytes=20_000)
    for i in range(100):  # one envelope each: no batch is full, none goes before close
        c.track(
            "page_view", {"page_location": f"https://a.test/{i}/" + "z" * 900}, client_id=f"v{i}"
        )
    assert collector.requests == []
    assert c.buffer.size <= 20_000 and c.stats.dropped == 100 - len(c.buffer) > 70
    c.close()


def test_close_gives_up_at_its_timeout_and_every_event_is_accounted_for() -> None:
    collector = Collector(*[refused] * 10**6)
    c = Client(
        "http://footfall.test",
        "G-TEST",
        transport=httpx.MockTransport(collector),
        options=Options(flush_interval=3600, backoff_base=0.01, max_retry_delay=0.02),
    )
    for i in range(30):
        c.track("page_view", client_id=f"c{i % 3}")
    stats = c.close(timeout=0.3)
    assert stats.unsent == 30 and stats.pending == 0
    assert (
        stats.tracked
        == stats.accepted + stats.rejected + stats.failed + stats.dropped + stats.unsent
    )
    with pytest.raises(RuntimeError, match="closed"):
        c.track("page_view")


def test_close_ends_a_long_wait_before_a_retry_and_tries_again_at_once() -> None:
    collector = Collector(refused)
    slow = Options(flush_interval=0.01, backoff_base=300, max_retry_delay=300, close_timeout=60)
    c = Client(
        "http://footfall.test", "G-TEST", transport=httpx.MockTransport(collector), options=slow
    )
    c.track("page_view")
    deadline = time.monotonic() + 30
    while c.stats.retries < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = c.close()  # the retry would wait 150 to 300 s; close tries again now
    assert (stats.accepted, stats.unsent, stats.requests) == (1, 0, 2)


def test_flush_sends_what_is_queued_now() -> None:
    collector = Collector()
    c = client(collector)
    c.track("page_view")
    assert c.flush(timeout=30) is True
    assert len(collector.requests) == 1 and c.stats.pending == 0
    c.close()


def test_an_api_key_goes_in_the_authorization_header() -> None:
    collector = Collector()
    c = Client(
        "http://footfall.test/prefix/",
        "G-TEST",
        api_key="ffk_key-value",
        transport=httpx.MockTransport(collector),
        user_agent="shop-backend/2.1",
    )
    c.track("page_view", user_agent="Mozilla/5.0 (X11)")
    c.close()
    request = collector.requests[0]
    assert request.headers["authorization"] == "Bearer ffk_key-value"
    assert "api_secret" not in request.url.params
    assert request.url.path == "/prefix/v1/collect"
    assert request.headers["user-agent"] == "shop-backend/2.1"


def test_timestamps_become_timestamp_micros() -> None:
    collector = Collector()
    c = client(collector)
    c.track("a", timestamp=TEST_NOW - dt.timedelta(hours=2))
    c.track("b", timestamp=dt.datetime(2026, 1, 2, 3, 4, 5, 6))  # naive: UTC
    c.track("c", timestamp=1_700_000_000_123_456)
    c.close()
    times = {e["name"]: e["timestamp_micros"] for b in collector.bodies() for e in b["events"]}
    assert times == {
        "a": TEST_NOW_US - 2 * 3_600_000_000,
        "b": 1_767_323_045_000_006,
        "c": 1_700_000_000_123_456,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"params": {f"p{i}": i for i in range(26)}}, "the limit is 25"),
        ({"client_id": "x" * 129}, "client_id must be 1 to 128"),
        ({"client_id": "tab\there"}, "printable"),
        ({"user_id": ""}, "user_id must be 1 to 256"),
        ({"ip_override": "not-an-address"}, "IPv4 or IPv6"),
        ({"user_agent": "u" * 513}, "at most 512"),
        ({"params": {"page_location": "x" * 200_000}}, "max_batch_bytes"),
        ({"name": ""}, "needs a name"),
    ],
)
def test_what_would_refuse_a_whole_request_fails_at_track(
    kwargs: dict[str, Any], message: str
) -> None:
    c = client(Collector())
    args = {"name": "page_view", **kwargs}
    with pytest.raises(ValueError, match=message):
        c.track(args.pop("name"), **args)
    assert c.close().tracked == 0


def test_visitor_fields_need_server_side_credentials() -> None:
    c = Client("http://footfall.test", "G-TEST", transport=httpx.MockTransport(Collector()))
    with pytest.raises(ValueError, match="server-side credentials"):
        c.track("page_view", user_agent="Mozilla/5.0")
    with pytest.raises(ValueError, match="api_secret or api_key"):
        Client("http://footfall.test", "G-TEST", api_secret="ffs_a", api_key="ffk_b")
    with pytest.raises(ValueError, match="query string"):
        Client("http://footfall.test/?api_secret=ffs_a", "G-TEST")
    with pytest.raises(ValueError, match="max_batch_bytes"):
        Options(max_batch_bytes=200_000)


def test_the_secret_is_never_logged_or_shown(caplog: pytest.LogCaptureFixture) -> None:
    collector = Collector(status(503), status(401, error={"code": 401, "message": "no"}))
    c = client(collector)
    with caplog.at_level(logging.DEBUG):
        c.track("page_view")
        c.close()
    assert collector.requests  # the secret did travel, in the query string
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request" in logged and SECRET not in logged and "api_secret=***" in logged
    assert SECRET not in repr(c)


def test_the_default_user_agent_is_counted_not_dropped_as_a_bot() -> None:
    from footfall.process.bots import bot_reason

    assert bot_reason(DEFAULT_USER_AGENT) is None
    assert bot_reason(f"python-httpx/{httpx.__version__}") is not None  # httpx's own would be


def test_importing_the_client_loads_no_server_module_and_starts_nothing() -> None:
    code = textwrap.dedent(
        """
        import sys, threading, atexit
        import httpx  # registers an exit hook of its own
        before = atexit._ncallbacks()
        import footfall.client as fc
        c = fc.Client("http://127.0.0.1:9", "G-X")
        a = fc.AsyncClient("http://127.0.0.1:9", "G-X")
        heavy = [m for m in ("duckdb", "pyarrow", "starlette", "uvicorn", "footfall.serve",
                             "footfall.collect", "footfall.schema", "footfall.process") if m in sys.modules]
        print(heavy, threading.active_count(), atexit._ncallbacks() - before)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    heavy, threads, callbacks = out.stdout.split("]")[0] + "]", *out.stdout.split("]")[1].split()
    assert heavy == "[]" and threads == "1" and callbacks == "0"


EXIT_SCRIPT = """
import asyncio, json, sys, httpx
from footfall.client import AsyncClient, Client, Options

out = open(sys.argv[2], "a")

def handler(request):
    for e in json.loads(request.content)["events"]:
        out.write(e["name"] + "\\n")
    out.flush()
    return httpx.Response(200, json={"accepted": 1, "rejected": 0, "events": []})

options = Options(flush_interval=3600)
if sys.argv[1] == "sync":
    c = Client("http://footfall.test", "G-X", transport=httpx.MockTransport(handler), options=options)
    for i in range(30):
        c.track(f"sync_{i}")
else:
    c = AsyncClient("http://footfall.test", "G-X", transport=httpx.MockTransport(handler), options=options)

    async def main():
        for i in range(30):
            c.track(f"async_{i}")
        await asyncio.sleep(0)

    asyncio.run(main())  # returns without aclose: the tasks are cancelled with the loop
# no close(): the interpreter exits here
"""


@pytest.mark.parametrize("variant", ["sync", "async"])
def test_queued_events_are_sent_at_interpreter_exit(tmp_path: Path, variant: str) -> None:
    script, out = tmp_path / "app.py", tmp_path / "sent.txt"
    script.write_text(EXIT_SCRIPT)
    subprocess.run([sys.executable, str(script), variant, str(out)], check=True, timeout=120)
    assert sorted(out.read_text().split()) == sorted(f"{variant}_{i}" for i in range(30))


FORK_SCRIPT = """
import json, os, sys, httpx
from footfall.client import Client, Options

def handler(request):
    with open(sys.argv[1], "a") as out:
        for e in json.loads(request.content)["events"]:
            out.write(f"{os.getpid()} {e['name']} {e['event_id']}\\n")
    return httpx.Response(200, json={"accepted": 1, "rejected": 0, "events": []})

c = Client("http://footfall.test", "G-X", transport=httpx.MockTransport(handler),
           options=Options(flush_interval=3600))
c.track("before_fork")
pid = os.fork()
if pid == 0:
    c.track("in_child")
    c.close()
    os._exit(0)
os.waitpid(pid, 0)
c.track("in_parent")
c.close()
print(pid, os.getpid())
"""


def test_a_forked_child_sends_only_its_own_events(tmp_path: Path) -> None:
    script, out = tmp_path / "fork.py", tmp_path / "sent.txt"
    script.write_text(FORK_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(out)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    child, parent = done.stdout.split()
    sent = [line.split() for line in out.read_text().splitlines()]
    assert sorted(row[:2] for row in sent) == sorted(
        [[child, "in_child"], [parent, "before_fork"], [parent, "in_parent"]]
    )
    assert len({row[2] for row in sent}) == 3  # the child never reuses the parent's random ids


# -- the asyncio client ----------------------------------------------------------------------


def async_client(collector: Collector, sleeps: list[float], **options: Any) -> AsyncClient:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncClient(
        "http://footfall.test",
        "G-TEST",
        api_secret=SECRET,
        transport=httpx.MockTransport(collector),
        options=Options(**{"flush_interval": 3600.0, **options}),
        now_us=now_us,
        sleep=sleep,
        random=lambda: 0.0,
    )


def test_async_client_batches_retries_and_closes() -> None:
    collector = Collector(
        status(429, {"retry-after": "3"}), lost_response(collector := Collector())
    )
    collector.script = [status(429, {"retry-after": "3"}), lost_response(collector)]
    sleeps: list[float] = []

    async def main() -> Any:
        async with async_client(collector, sleeps, max_concurrency=1) as c:
            ids = [c.track("page_view", {"n": i}, client_id="c1") for i in range(30)]
            c.track("other", client_id="c2")
        return ids, c.stats

    ids, stats = asyncio.run(main())
    assert set(ids) <= set(collector.received) and len(collector.received) == 31
    assert sorted(collector.received.values()) == [1] * 6 + [2] * 25  # the lost batch twice
    assert sleeps[0] == 3.0
    assert (stats.tracked, stats.accepted, stats.retries, stats.pending) == (31, 31, 2, 0)


def test_async_client_sends_on_its_own_after_flush_interval() -> None:
    collector = Collector()

    async def main() -> int:
        c = async_client(collector, [], flush_interval=0.05)
        c.track("page_view")
        deadline = time.monotonic() + 30
        while not collector.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        n = len(collector.requests)
        await c.aclose()
        return n

    assert asyncio.run(main()) == 1


def test_async_client_close_timeout_counts_unsent() -> None:
    collector = Collector(*[refused] * 10**6)

    async def main() -> Any:
        c = AsyncClient(
            "http://footfall.test",
            "G-TEST",
            transport=httpx.MockTransport(collector),
            options=Options(flush_interval=3600, backoff_base=0.01, max_retry_delay=0.02),
        )
        for i in range(10):
            c.track("page_view", client_id=f"c{i}")
        return await c.aclose(timeout=0.3)

    stats = asyncio.run(main())
    assert stats.unsent == 10 and stats.pending == 0 and stats.accepted == 0


def test_async_close_ends_a_long_wait_before_a_retry() -> None:
    collector = Collector(refused)
    slow = Options(flush_interval=0.01, backoff_base=300, max_retry_delay=300, close_timeout=60)

    async def main() -> Any:
        c = AsyncClient(
            "http://footfall.test", "G-TEST", transport=httpx.MockTransport(collector), options=slow
        )
        c.track("page_view")
        deadline = time.monotonic() + 30
        while c.stats.retries < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return await c.aclose()

    stats = asyncio.run(main())
    assert (stats.accepted, stats.unsent, stats.requests) == (1, 0, 2)


def test_async_client_carries_on_under_a_new_loop() -> None:
    collector = Collector()
    c = async_client(collector, [])

    async def first() -> None:
        c.track("in_first_loop")  # the loop ends before its batch is due

    async def second() -> Any:
        c.track("in_second_loop")
        return await c.aclose()

    asyncio.run(first())
    stats = asyncio.run(second())
    names = sorted(e["name"] for b in collector.bodies() for e in b["events"])
    assert names == ["in_first_loop", "in_second_loop"] and stats.accepted == 2


def test_async_client_needs_a_running_loop_to_track() -> None:
    c = AsyncClient("http://footfall.test", "G-TEST")
    with pytest.raises(RuntimeError):
        c.track("page_view")
    assert c.stats.tracked == 0
