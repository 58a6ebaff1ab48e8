"""Ack-to-visible latency: how long after the collector's 200 an event shows up in a report.

Every ``--interval`` seconds a probe posts ONE page_view whose page path is unique
(``/bench-probe/<uuid>``) and notes the time its 200 arrives. A single poller asks
``runReport`` every ``--poll`` seconds for the probes not yet seen (an EXACT filter on the
path, or an inListFilter when several probes are waiting) and notes when each row first
appears. Probes start on their schedule whether or not the earlier ones are visible yet, so a
slow processor does not reduce the number of samples, and the report load stays at one small
query per poll. With ``--until`` (a Unix time) no probe starts after that moment, so the
"under load" probes are all sent while wrk is running.

Writes a JSON summary (``--out``) and prints one line. Exit status 1 if any probe failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
GIVE_UP_S = 60.0


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (with 30 samples, p99 is the maximum)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report_body(paths: list[str]) -> dict[str, Any]:
    if len(paths) == 1:
        match: dict[str, Any] = {"stringFilter": {"matchType": "EXACT", "value": paths[0]}}
    else:
        match = {"inListFilter": {"values": paths}}
    return {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "dimensions": [{"name": "pagePath"}],
        "metrics": [{"name": "screenPageViews"}],
        "dimensionFilter": {"filter": {"fieldName": "pagePath", **match}},
    }


class Probes:
    def __init__(self, client: httpx.AsyncClient, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.samples: list[dict[str, Any]] = []
        self.pending: dict[str, dict[str, Any]] = {}  # path -> sample, acked and not yet seen
        self.sending = True

    async def send_one(self, n: int) -> None:
        path = f"/bench-probe/{uuid.uuid4().hex}"
        sample: dict[str, Any] = {"path": path, "ok": False}
        self.samples.append(sample)
        body = {
            "client_id": f"{random.randint(10**8, 10**9 - 1)}.{n}",
            "events": [
                {
                    "name": "page_view",
                    "event_id": f"probe-{uuid.uuid4().hex}",
                    "params": {
                        "page_location": f"https://shop.example.com{path}",
                        "page_title": "Probe",
                    },
                }
            ],
        }
        headers = {
            "user-agent": UA,
            "x-forwarded-for": f"23.20.{random.randint(0, 255)}.{random.randint(1, 254)}",
        }
        sent = time.perf_counter()
        try:
            r = await self.client.post(
                f"{self.args.url}/v1/collect",
                params={"measurement_id": self.args.measurement_id},
                json=body,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            sample["error"] = f"collect: {type(exc).__name__}: {exc}"
            return
        acked = time.perf_counter()
        if r.status_code != 200 or r.json().get("accepted") != 1:
            sample["error"] = f"collect {r.status_code}: {r.text[:200]}"
            return
        sample.update(sent_at=time.time(), ack_s=round(acked - sent, 4), acked=acked)
        self.pending[path] = sample

    async def send_all(self) -> None:
        tasks = []
        for n in range(self.args.samples):
            if self.args.until and time.time() >= self.args.until:
                break
            tasks.append(asyncio.create_task(self.send_one(n)))
            await asyncio.sleep(self.args.interval)
        await asyncio.gather(*tasks)
        self.sending = False

    async def poll(self) -> None:
        url = f"{self.args.url}/v1beta/properties/{self.args.property_id}:runReport"
        auth = {"authorization": f"Bearer {self.args.token}"}
        while self.sending or self.pending:
            if self.pending:
                paths = list(self.pending)
                try:
                    r = await self.client.post(url, json=report_body(paths), headers=auth)
                    rows = r.json().get("rows", []) if r.status_code == 200 else []
                except (httpx.HTTPError, ValueError):
                    rows = []
                seen = time.perf_counter()
                for row in rows:
                    sample = self.pending.pop(row["dimensionValues"][0]["value"], None)
                    if sample is not None:
                        sample.update(ok=True, visible_s=round(seen - sample.pop("acked"), 4))
                for sample in list(self.pending.values()):
                    if seen - sample["acked"] > GIVE_UP_S:
                        del self.pending[sample["path"]]
                        sample["error"] = f"not visible after {GIVE_UP_S:.0f} s"
                        sample.pop("acked")
            await asyncio.sleep(self.args.poll)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    await asyncio.sleep(args.delay)
    async with httpx.AsyncClient(timeout=30) as client:
        probes = Probes(client, args)
        await asyncio.gather(probes.send_all(), probes.poll())
    return probes.samples


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--measurement-id", required=True)
    p.add_argument("--property-id", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--label", default="idle")
    p.add_argument("--samples", type=int, default=30)
    p.add_argument("--interval", type=float, default=0.3, help="seconds between probe starts")
    p.add_argument("--poll", type=float, default=0.05, help="pause between report polls (s)")
    p.add_argument("--delay", type=float, default=0.0, help="pause before the first probe (s)")
    p.add_argument("--until", type=float, default=0.0, help="start no probe after this Unix time")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    args.url = args.url.rstrip("/")

    started = time.time()
    samples = asyncio.run(run(args))
    latencies = [float(s["visible_s"]) for s in samples if s["ok"]]
    acks = [float(s["ack_s"]) for s in samples if "ack_s" in s]
    summary = {
        "label": args.label,
        "started_at": started,
        "samples": len(samples),
        "visible": len(latencies),
        "failed": len(samples) - len(latencies),
        "events_accepted": len(acks),
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "max_s": max(latencies) if latencies else None,
        "min_s": min(latencies) if latencies else None,
        "ack_p50_s": percentile(acks, 50),
        "ack_max_s": max(acks) if acks else None,
        "detail": samples,
    }
    args.out.write_text(json.dumps(summary, indent=2))
    print(
        f"ack-to-visible ({args.label}): {len(latencies)}/{len(samples)} visible, "
        f"p50 {summary['p50_s']} s, p99 {summary['p99_s']} s, max {summary['max_s']} s",
        file=sys.stderr,
    )
    return 0 if latencies and len(latencies) == len(samples) else 1


if __name__ == "__main__":
    sys.exit(main())
