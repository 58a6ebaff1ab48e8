"""A full data disk, for real: ``footfall serve`` on a 64 MB tmpfs under load, with a filler
file taking the space away.

- below ``disk_reserve_bytes`` the collector answers 503 (never a 200 it cannot keep) while the
  processor drains what is queued into the store;
- at zero bytes free (real ENOSPC for the queue and the store) nothing answers 200 or 500;
- once space returns the server accepts and processes again by itself, without a restart;
- killed with a backlog and restarted on a nearly full disk, it starts and drains.

At the end every event that got a 200 is in the reports, exactly once.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from conftest import CHROME, CLOCK, App, make_settings
from footfall.serve import Runtime
from footfall.store.disk import CHECK_EVERY_S, DiskSpace, is_disk_full, local_dirs
from footfall.store.duckdb import DuckDBStore
from footfall.tenancy.model import Account
from server import Server

pytestmark = pytest.mark.timeout(900)
MB = 1 << 20
DISK = 64 * MB
RESERVE = 32 * MB
DISK_MESSAGE = "disk is nearly full"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """Mounts small tmpfs file systems of their own, unmounted at the end whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root (CI runs as root)")
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    try:
        yield mount
    finally:
        for point in mounted:
            subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
def small_disk(tmpfs: Callable[[int], Path]) -> Path:
    return tmpfs(DISK)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(mount: Path, leave: int) -> Path:
    """Grow a filler file until at most ``leave`` bytes are free (or the disk is full)."""
    filler = mount / "filler"
    with filler.open("ab", buffering=0) as fh:
        while (free := free_bytes(mount)) > leave:
            try:
                fh.write(b"\0" * max(4096, min(MB, free - leave)))
                fh.flush()
            except OSError:
                break
    return filler


def accepted_for(load: Load, seconds: float) -> bool:
    """No event was accepted during ``seconds``."""
    before = load.snapshot()[0]
    time.sleep(seconds)
    return load.snapshot()[0] == before


class Pinned:
    """Keep at most ``leave`` bytes free, topping the filler up as the server gives space back
    (a DuckDB checkpoint truncates its WAL), until stopped."""

    def __init__(self, mount: Path, leave: int) -> None:
        self.mount, self.leave = mount, leave
        self.filler = fill(mount, leave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05) and os.path.ismount(self.mount):
            with contextlib.suppress(OSError):
                fill(self.mount, self.leave)

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.filler.unlink(missing_ok=True)


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Load:
    """Four senders posting ten events per request, each with its own event id."""

    def __init__(self, server: Server) -> None:
        self.url = f"{server.url}/v1/collect?measurement_id={server.measurement_id}"
        self.acked: set[str] = set()
        self.codes: collections.Counter[int] = collections.Counter()
        self.refusals: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(w,)) for w in range(4)]
        self._round = 0

    def _send(self, worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                ids = [f"r{self._round}w{worker}n{n}k{k}" for k in range(10)]
                n += 1
                body = {
                    "client_id": f"disk.{worker}.{n % 40}",
                    "events": [
                        {
                            "name": "page_view",
                            "event_id": i,
                            "params": {
                                "page_location": f"https://shop.example.com/p/{n % 50}",
                                "probe": i,
                            },
                        }
                        for i in ids
                    ],
                }
                try:
                    r = client.post(self.url, json=body, headers={"user-agent": CHROME})
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.codes[r.status_code] += 1
                    if r.status_code == 200:
                        self.acked.update(ids)
                    else:
                        self.refusals[r.json()["error"]["message"]] += 1
                        if r.status_code == 503:
                            assert r.headers.get("retry-after")
                        time.sleep(0.02)

    def start(self, server: Server | None = None) -> Load:
        if server is not None:
            self.url = f"{server.url}/v1/collect?measurement_id={server.measurement_id}"
        self._round += 1
        self._stop.clear()
        self._threads = [threading.Thread(target=self._send, args=(w,)) for w in range(4)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def snapshot(self) -> tuple[int, collections.Counter[int]]:
        with self._lock:
            return len(self.acked), collections.Counter(self.codes)


def start(data: Path, log: Path, *, ready: bool = True) -> Server:
    server = Server(data, FOOTFALL_DISK_RESERVE_BYTES=str(RESERVE), FOOTFALL_FLUSH_INTERVAL="0.2")
    server.log = log  # off the small disk: a real server logs elsewhere too
    return server.start(timeout=120, ready=ready)


def checks(server: Server) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.url}/readyz", headers=server.auth, timeout=30).json()
    return body


def pending(server: Server) -> int | None:
    value = checks(server)["checks"]["queue"].get("pending")
    return value if isinstance(value, int) else None


def assert_every_acked_event_counted_once(server: Server, acked: set[str]) -> None:
    wait_for("the queue to drain", lambda: pending(server) == 0, timeout=180)
    r = httpx.post(
        f"{server.url}/v1beta/properties/{server.property_id}:runReport",
        json={
            "dateRanges": [{"startDate": "7daysAgo", "endDate": "today"}],
            "dimensions": [{"name": "customEvent:probe"}],
            "metrics": [{"name": "eventCount"}],
            "limit": 250000,
        },
        headers=server.auth,
        timeout=300,
    )
    assert r.status_code == 200, r.text
    counts = {
        row["dimensionValues"][0]["value"]: row["metricValues"][0]["value"]
        for row in r.json().get("rows", [])
    }
    missing = [i for i in acked if i not in counts]
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged events lost, e.g. {missing[:5]}"
    )
    doubled = {k: v for k, v in counts.items() if v != "1"}
    assert not doubled, f"counted more than once: {list(doubled.items())[:5]}"


@pytest.mark.e2e
def test_a_full_disk_refuses_events_drains_and_recovers_without_restart(
    small_disk: Path, tmp_path: Path
) -> None:
    server = start(small_disk / "data", tmp_path / "serve.log")
    try:
        load = Load(server).start()
        try:
            refuse_drain_and_recover(server, load, small_disk)
        finally:
            load.stop()
        assert set(load.codes) <= {200, 503}, load.codes
        assert all(DISK_MESSAGE in m or "queue" in m for m in load.refusals), load.refusals
        assert_every_acked_event_counted_once(server, load.acked)
    finally:
        server.stop()


def refuse_drain_and_recover(server: Server, load: Load, disk: Path) -> None:
    wait_for("events to be accepted", lambda: load.snapshot()[0] >= 2000)

    # no space at all, with events queued: real ENOSPC for the queue and the store; no 200 it
    # cannot keep, no 500, and the processor waits for space
    wait_for("a backlog", lambda: (pending(server) or 0) > 0)
    filler = fill(disk, 0)
    wait_for(
        "the processor to meet the full disk",
        lambda: "No space left" in (checks(server)["checks"]["processor"]["last_error"] or ""),
        timeout=30,
    )
    # requests admitted before the disk filled may still be answered (SQLite reuses its WAL's
    # space); once they are, nothing more is accepted
    wait_for("requests in flight to be answered", lambda: accepted_for(load, 1.0), timeout=30)
    accepted = load.snapshot()[0]
    time.sleep(1.0)
    assert load.snapshot()[0] == accepted
    assert checks(server)["status"] == "not ready"

    # space returns: accepting and processing again, the same process
    filler.unlink()
    wait_for("events to be accepted again", lambda: load.snapshot()[0] >= accepted + 2000, 60)
    wait_for("readiness", lambda: checks(server)["status"] == "ready", timeout=60)

    # below the reserve: refused with a clear 503, while the processor drains the queue
    # the refusals so far were for the full disk: wait for new ones
    seen = sum(n for m, n in load.refusals.items() if DISK_MESSAGE in m)
    pinned = Pinned(disk, RESERVE - 8 * MB)
    try:
        wait_for(
            "503s naming the disk",
            lambda: sum(n for m, n in load.refusals.items() if DISK_MESSAGE in m) > seen,
            timeout=30,
        )
        wait_for("readiness to say why", lambda: checks(server)["status"] == "not ready")
        assert checks(server)["checks"]["disk"]["status"] == "low"
        wait_for("the processor to drain while the collector refuses", lambda: pending(server) == 0)
        accepted, codes = load.snapshot()
        time.sleep(1.0)
        later, later_codes = load.snapshot()
        assert later == accepted, "events were accepted below the reserve"
        assert later_codes[503] > codes[503]
        assert checks(server)["checks"]["processor"]["last_error"] is None

    finally:
        pinned.release()
    wait_for("events to be accepted again", lambda: load.snapshot()[0] >= accepted + 2000, 60)
    wait_for("readiness", lambda: checks(server)["status"] == "ready", timeout=60)


@pytest.mark.e2e
def test_a_server_killed_on_a_nearly_full_disk_starts_and_drains(
    small_disk: Path, tmp_path: Path
) -> None:
    data, log = small_disk / "data", tmp_path / "serve.log"
    server = start(data, log)
    load = Load(server).start()
    try:
        wait_for(
            "a backlog under load",
            lambda: load.snapshot()[0] >= 3000 and (pending(server) or 0) > 0,
        )
        server.kill()  # SIGKILL with events queued and requests in flight
    finally:
        load.stop()
        server.stop()  # nothing left running if the backlog never came
    fill(small_disk, RESERVE - 12 * MB)

    restarted = start(data, log, ready=False)  # below the reserve: it starts not ready
    try:
        ready = checks(restarted)
        assert ready["checks"]["disk"]["status"] == "low"
        assert_every_acked_event_counted_once(restarted, load.acked)
        r = httpx.post(
            f"{restarted.url}/v1/collect?measurement_id={restarted.measurement_id}",
            json={"client_id": "late.1", "events": [{"name": "page_view"}]},
            headers={"user-agent": CHROME},
            timeout=30,
        )
        assert r.status_code == 503 and DISK_MESSAGE in r.json()["error"]["message"]
        assert r.headers["retry-after"] == "5"

        (small_disk / "filler").unlink()
        before = load.snapshot()[0]
        load.start(restarted)
        try:
            wait_for("events accepted again", lambda: load.snapshot()[0] >= before + 500, 60)
        finally:
            load.stop()
        wait_for("readiness", lambda: checks(restarted)["status"] == "ready", timeout=60)
        assert_every_acked_event_counted_once(restarted, load.acked)
    finally:
        restarted.stop()


def test_a_store_invalidated_by_a_full_disk_opens_again_by_itself(
    tmpfs: Callable[[int], Path],
) -> None:
    """DuckDB invalidates a database whose checkpoint failed for want of space, and refuses
    every statement after; the store opens it again, losing nothing committed."""
    disk = tmpfs(16 * MB)
    store = DuckDBStore(str(disk / "footfall.duckdb"))
    try:
        store.put(Account(account_id="acc_kept", name="kept"))
        for i in range(300):
            store.set_meta(f"fact:{i}", "v" * 2000)
        filler = fill(disk, 0)
        with pytest.raises(duckdb.FatalException, match="No space left"):
            store._con.execute("CHECKPOINT")
        filler.unlink()

        def works() -> bool:
            try:
                return store.get(Account, "acc_kept") is not None
            except duckdb.Error:
                return False

        wait_for("the store to open again", works, timeout=10)
        assert all(store.get_meta(f"fact:{i}") == "v" * 2000 for i in range(300))
        store.set_meta("after", "written")
        assert store.get_meta("after") == "written"
    finally:
        store.close()


# -- without root: the reserve check on a measured free space ----------------------------------


class Measured:
    def __init__(self, free: int) -> None:
        self.free, self.calls = free, 0

    def __call__(self, path: Path) -> int:
        self.calls += 1
        return self.free


def test_the_collector_refuses_below_the_reserve_and_accepts_again(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path), clock=CLOCK)
    measured = Measured(free=10 * MB)
    now = [0.0]
    runtime.disk = DiskSpace([tmp_path], 8 * MB, measure=measured, clock=lambda: now[0])
    app = App(runtime)
    try:
        event = {"client_id": "r.1", "events": [{"name": "page_view"}]}
        assert app.collect(event).status_code == 200
        measured.free = 7 * MB
        assert app.collect(event).status_code == 200  # measured at most every CHECK_EVERY_S
        now[0] += CHECK_EVERY_S
        refused = app.collect(event)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert DISK_MESSAGE in refused.json()["error"]["message"]
        assert app.collect({"client_id": "r.1", "events": [{"name": "1bad"}]}).status_code == 400
        ready, checks = runtime.readiness()
        assert not ready  # (the processor thread is not started in-process either)
        assert checks["disk"] == {"status": "low", "free_bytes": 7 * MB, "reserve_bytes": 8 * MB}
        calls = measured.calls
        for _ in range(20):
            app.collect(event)
        assert measured.calls == calls  # no statvfs per request
        assert app.process() == 2  # what was accepted is still processed
        measured.free = 9 * MB
        now[0] += CHECK_EVERY_S
        assert app.collect(event).status_code == 200
        assert runtime.readiness()[1]["disk"]["status"] == "ok"
    finally:
        runtime.stop()


def test_a_zero_reserve_turns_the_check_off(tmp_path: Path) -> None:
    disk = DiskSpace([tmp_path], 0, measure=Measured(free=0))
    disk.admit()
    assert not disk.low and disk.readiness()["status"] == "ok"


def test_the_watched_disks_are_those_of_local_files(tmp_path: Path) -> None:
    queue, store = tmp_path / "q" / "queue.sqlite3", tmp_path / "s" / "footfall.duckdb"
    assert local_dirs(f"local://{queue}", f"duckdb://{store}") == [queue.parent, store.parent]
    assert local_dirs("memory://q", "memory://") == []
    assert local_dirs("kafka://k:9092/t", "cassandra://c:9042/ks") == []
    assert local_dirs(f"local://{queue}", "duckdb://:memory:") == [queue.parent]


def test_disk_full_errors_are_told_apart() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    try:
        try:
            raise OSError(errno.ENOSPC, "nope")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(ValueError("bad value"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
