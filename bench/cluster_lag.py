"""Cluster benchmark: ingest through the cluster roles and measure how far the reports are behind.

Starts ``footfall collect``, ``process``, ``api`` and ``rollup`` (the scheduler) on free loopback
ports against the engines of ``deploy/cluster.sh up`` (Kafka, Cassandra, Spark), in a keyspace
and topic of its own. For ``--duration`` seconds it sends events at ``--rate`` events/s (five per
request, many visitors), and every ``duration / probes`` seconds one probe page view with a unique
page path. It then notes, per probe, when its row first appears in a ``runReport`` by pagePath
(a report answered from the hourly rollups), and samples the scheduler's lag
(``/readyz`` ``checks.rollup.lag_seconds``) every second.

Prints a summary and writes it as JSON to ``bench/results/cluster-<UTC timestamp>.json``. Stops by
itself; only loopback addresses are used. Exit status 1 if a probe never became visible.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
ENGINES = {"Kafka": 9092, "Cassandra": 9042, "Spark master": 7077}


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(name: str, token: str, interval: float) -> dict[str, str]:
    jars = sorted((ROOT / "build" / "cluster" / "spark" / "jars").glob("*.jar"))
    return {
        **os.environ,
        "FOOTFALL_QUEUE": f"kafka://127.0.0.1:9092/footfall.{name}",
        "FOOTFALL_STORE": f"cassandra://127.0.0.1:9042/{name}",
        "FOOTFALL_CASSANDRA_REPLICATION": "NetworkTopologyStrategy:datacenter1=1",
        "FOOTFALL_CASSANDRA_SHARDS": "4",
        "FOOTFALL_KAFKA_PARTITIONS": "4",
        "FOOTFALL_KAFKA_REPLICATION_FACTOR": "1",
        "FOOTFALL_KAFKA_MIN_INSYNC_REPLICAS": "1",
        "FOOTFALL_ADMIN_KEY": token,
        "FOOTFALL_RATE_LIMIT_PER_PROPERTY": "0",
        "FOOTFALL_RATE_LIMIT_PER_KEY": "0",
        "FOOTFALL_LOG_LEVEL": "warning",
        "FOOTFALL_SPARK_MASTER": "spark://127.0.0.1:7077",
        "FOOTFALL_SPARK_JARS": ",".join(str(j) for j in jars),
        "FOOTFALL_SPARK_PARTITIONS": "2",
        "FOOTFALL_SPARK_CORES": "1",
        "FOOTFALL_SPARK_EXECUTOR_MEMORY": "512m",
        "FOOTFALL_ROLLUP_INTERVAL": str(interval),
    }


class Role:
    def __init__(self, command: str, env: dict[str, str], workdir: Path) -> None:
        self.command, self.port = command, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{command}.log"
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "footfall", command, "--host", "127.0.0.1"),
                *("--port", str(self.port), "--data-dir", str(workdir)),
            ],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.command} exited; see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"{self.command} not ready after {timeout} s; see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def load(
    client: httpx.AsyncClient,
    url: str,
    rate: float,
    until: float,
    *,
    counts: dict[str, int],
    total: int = 0,
) -> None:
    """Five events per request at ``rate`` events/s, from 5,000 returning visitors, until the
    monotonic time ``until`` (or, with ``total``, until that many were sent, 16 at a time)."""
    interval = 5 / rate
    next_at = time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        visitor = random.randrange(5000)
        events = [
            {
                "name": "page_view",
                "event_id": uuid.uuid4().hex,
                "params": {"page_location": f"https://shop.example.com/p/{random.randrange(200)}"},
            }
            for _ in range(5)
        ]
        try:
            r = await client.post(
                url,
                json={"client_id": f"{visitor}.1", "events": events},
                headers={"user-agent": UA, "x-forwarded-for": f"10.1.{visitor % 250}.7"},
            )
            counts["accepted" if r.status_code == 200 else f"http_{r.status_code}"] += 5
        except httpx.HTTPError:
            counts["errors"] += 5

    if total:
        gate = asyncio.Semaphore(16)

        async def gated() -> None:
            async with gate:
                await one()

        await asyncio.gather(*(gated() for _ in range(total // 5)))
        return
    while time.monotonic() < until:
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*pending)


async def probes(
    client: httpx.AsyncClient, args: argparse.Namespace, ids: dict[str, str], until: float
) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    every = args.duration / args.probes
    report = f"{args.api}/v1beta/properties/{ids['property']}:runReport"
    auth = {"authorization": f"Bearer {args.token}"}

    async def one(n: int) -> None:
        path = f"/bench-probe/{uuid.uuid4().hex}"
        r = await client.post(
            f"{args.collect}/v1/collect?measurement_id={ids['measurement']}",
            json={
                "client_id": f"probe.{n}",
                "events": [
                    {
                        "name": "page_view",
                        "event_id": f"probe-{uuid.uuid4().hex}",
                        "params": {"page_location": f"https://shop.example.com{path}"},
                    }
                ],
            },
            headers={"user-agent": UA},
        )
        acked = time.time()
        sample: dict[str, Any] = {"ok": False}
        samples.append(sample)
        if r.status_code != 200:
            return
        body = {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "dimensions": [{"name": "pagePath"}],
            "metrics": [{"name": "screenPageViews"}],
            "dimensionFilter": {
                "filter": {"fieldName": "pagePath", "stringFilter": {"value": path}}
            },
        }
        while time.time() - acked < args.give_up:
            found = await client.post(report, json=body, headers=auth)
            if found.status_code == 200 and found.json().get("rows"):
                sample.update(ok=True, ack_to_visible_s=round(time.time() - acked, 3))
                return
            await asyncio.sleep(0.5)

    tasks = []
    for n in range(args.probes):
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(min(every, max(0.0, until - time.monotonic())))
    await asyncio.gather(*tasks)
    return samples


async def watch_lag(
    client: httpx.AsyncClient, url: str, stop: asyncio.Event, auth: dict[str, str]
) -> list[float]:
    """The rollup role's lag, from its /readyz checks (an operator key's detail)."""
    lags: list[float] = []
    while not stop.is_set():
        try:
            check = (await client.get(f"{url}/readyz", headers=auth)).json()["checks"]["rollup"]
            if check["lag_seconds"] is not None:
                lags.append(float(check["lag_seconds"]))
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return lags


async def report_latency(
    client: httpx.AsyncClient, args: argparse.Namespace, ids: dict[str, str]
) -> dict[str, float]:
    """Seconds per runReport: from the rollups, and from Spark SQL (first, then warm)."""
    url = f"{args.api}/v1beta/properties/{ids['property']}:runReport"
    auth = {"authorization": f"Bearer {args.token}"}
    dates = [{"startDate": "7daysAgo", "endDate": "today"}]
    bodies = {
        "rollups": {"dimensions": [{"name": "pagePath"}], "metrics": [{"name": "sessions"}]},
        "spark_sql_first": {
            "dimensions": [{"name": "pagePath"}, {"name": "country"}],
            "metrics": [{"name": "sessions"}],
        },
        "spark_sql_warm": {
            "dimensions": [{"name": "pagePath"}, {"name": "country"}],
            "metrics": [{"name": "sessions"}],
        },
    }
    out: dict[str, float] = {}
    for name, body in bodies.items():
        started = time.monotonic()
        r = await client.post(url, json={"dateRanges": dates, **body}, headers=auth, timeout=600)
        r.raise_for_status()
        out[name] = round(time.monotonic() - started, 3)
    return out


async def measure(args: argparse.Namespace, ids: dict[str, str], rollup: Role) -> dict[str, Any]:
    counts: dict[str, int] = {"accepted": 0, "errors": 0}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        stop = asyncio.Event()
        auth = {"authorization": f"Bearer {args.token}"}
        lag_task = asyncio.create_task(watch_lag(client, rollup.url, stop, auth))
        started = time.monotonic()
        until = started + args.duration
        url = f"{args.collect}/v1/collect?measurement_id={ids['measurement']}"
        _, samples = await asyncio.gather(
            load(client, url, args.rate, until, counts=counts), probes(client, args, ids, until)
        )
        load_s = time.monotonic() - started
        stop.set()
        lags = await lag_task
        last = (await client.get(f"{rollup.url}/readyz", headers=auth)).json()["checks"]["rollup"]
        report_s = await report_latency(client, args, ids)
    visible = [s["ack_to_visible_s"] for s in samples if s["ok"]]
    return {
        "events": counts,
        "events_per_s": round(counts["accepted"] / load_s, 1),
        "rollup_interval_s": args.rollup_interval,
        "probes": len(samples),
        "probes_visible": len(visible),
        "ack_to_report_s": {
            "p50": percentile(visible, 50),
            "p90": percentile(visible, 90),
            "max": max(visible, default=None),
        },
        "rollup_lag_s": {
            "samples": len(lags),
            "p50": percentile(lags, 50),
            "p90": percentile(lags, 90),
            "max": max(lags, default=None),
        },
        "report_latency_s": report_s,
        "rollup_runs": last["runs"],
        "rollup_hours_rebuilt": last["hours_rebuilt"],
        "rollup_last_run": last["last_run"],
    }


async def send_backlog(args: argparse.Namespace, ids: dict[str, str]) -> int:
    """``--backlog`` events as fast as 16 connections take them, with no processor running."""
    counts: dict[str, int] = {"accepted": 0, "errors": 0}
    url = f"{args.collect}/v1/collect?measurement_id={ids['measurement']}"
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as client:
        await load(client, url, rate=1e9, until=0.0, counts=counts, total=args.backlog)
    return counts["accepted"]


def drain_rate(
    process: Role, events: int, auth: dict[str, str], timeout: float = 900
) -> dict[str, Any]:
    """Seconds from the processor's start until nothing is pending, and events/s."""
    started = time.monotonic()
    process.wait_ready()
    deadline = started + timeout
    while time.monotonic() < deadline:
        readiness = httpx.get(f"{process.url}/readyz", headers=auth, timeout=10).json()
        pending = readiness["checks"]["queue"]
        if pending.get("pending") == 0:
            seconds = time.monotonic() - started
            return {
                "events": events,
                "seconds": round(seconds, 1),
                "events_per_s": round(events / seconds),
            }
        time.sleep(0.5)
    raise SystemExit(f"the processor did not drain {events} events in {timeout} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", "60")))
    p.add_argument("--rate", type=float, default=float(os.environ.get("BENCH_RATE", "500")))
    p.add_argument("--probes", type=int, default=int(os.environ.get("BENCH_PROBES", "10")))
    p.add_argument(
        "--rollup-interval",
        type=float,
        default=float(os.environ.get("BENCH_ROLLUP_INTERVAL", "30")),
    )
    p.add_argument("--give-up", type=float, default=600.0)
    p.add_argument("--backlog", type=int, default=int(os.environ.get("BENCH_BACKLOG", "30000")))
    args = p.parse_args()
    for engine, port in ENGINES.items():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                print(f"{engine} is not running: bash deploy/cluster.sh up", file=sys.stderr)
                return 2
    name = "bench" + uuid.uuid4().hex[:8]
    args.token = "ffk_bench_" + uuid.uuid4().hex
    workdir = ROOT / "build" / "bench" / name
    workdir.mkdir(parents=True)
    env = env_for(name, args.token, args.rollup_interval)
    subprocess.run(
        [sys.executable, "-m", "footfall", "migrate", "--data-dir", str(workdir)],
        env=env,
        check=True,
        capture_output=True,
    )
    roles = [Role(c, env, workdir) for c in ("collect", "api", "rollup")]
    try:
        for role in roles:
            role.wait_ready()
        collect, api, rollup = roles
        args.collect, args.api = collect.url, api.url
        auth = {"authorization": f"Bearer {args.token}"}
        prop = httpx.get(f"{api.url}/v1/admin/properties", headers=auth).json()["properties"][0]
        ids = {"property": prop["property_id"], "measurement": prop["streams"][0]["measurement_id"]}
        # a backlog in Kafka first, then the processor: how fast one processor drains it
        backlog = asyncio.run(send_backlog(args, ids))
        roles.append(Role("process", env, workdir))
        drain = drain_rate(roles[-1], backlog, auth)
        result = {"processor_drain": drain, **asyncio.run(measure(args, ids, rollup))}
    finally:
        for role in roles:
            role.stop()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = ROOT / "bench" / "results" / f"cluster-{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    result = {"timestamp": stamp, "duration_s": args.duration, "target_rate": args.rate, **result}
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {out}", file=sys.stderr)
    return 0 if result["probes_visible"] == result["probes"] else 1


if __name__ == "__main__":
    sys.exit(main())
