"""The Cassandra store's write path, side by side: rows batched per partition (one UNLOGGED batch
per partition, the default) against one statement per row, on the same engines in one run.

Writes ``--batches`` synthetic batches (``--events`` events each, five per visitor, one session
per visitor, over three hours) in each mode, alternating A, B, A, B so that machine noise hits
both, into a keyspace of its own (dropped at the end). Needs Cassandra on 127.0.0.1:9042
(``deploy/cluster.sh up``). Prints events/s per mode and their ratio, as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid

from footfall.schema.events import EnrichedEvent, Session
from footfall.store import RawRow, WriteSet

HOUR_US = 3_600_000_000


def batch(n_events: int, property_id: str, start_us: int) -> WriteSet:
    events, raw, sessions, first = [], [], [], []
    for v in range(n_events // 5):
        visitor = uuid.uuid4().hex
        key = uuid.uuid4().hex
        t0 = start_us + (v * 7919 % 3) * HOUR_US + v * 1000
        for k in range(5):
            event_id = uuid.uuid4().hex
            t = t0 + k * 20_000_000
            events.append(
                EnrichedEvent(
                    property_id=property_id,
                    event_id=event_id,
                    event_name="page_view",
                    event_time=t,
                    received_at=t,
                    event_date=dt.date(2026, 11, 26),
                    event_hour=(t // HOUR_US) % 24,
                    visitor_id=visitor,
                    client_id=f"{v}.1",
                    session_key=key,
                    page_location=f"https://shop.example.com/p/{k}",
                    page_host="shop.example.com",
                    page_path=f"/p/{k}",
                    page_title="Product",
                    country_id="US",
                    country="United States",
                    browser="Chrome",
                    os="Windows",
                    engagement_time_ms=1200,
                )
            )
            raw.append(RawRow(property_id, event_id, t, t, "10.0.0.1", b"x" * 300))
        sessions.append(
            Session(
                property_id=property_id,
                session_key=key,
                visitor_id=visitor,
                client_session_id=None,
                start_time=t0,
                end_time=t0 + 80_000_000,
                event_count=5,
                page_views=5,
                engagement_ms=6000,
                key_events=0,
                engaged=True,
                landing_page="/p/0",
                source="(direct)",
                medium="(none)",
                campaign="(direct)",
                channel_group="Direct",
            )
        )
        first.append((property_id, visitor, t0, events[-5].event_id))
    return WriteSet(raw=raw, events=events, sessions=sessions, first_seen=first)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--batches", type=int, default=6)
    args = p.parse_args()
    keyspace = "wbench" + uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "FOOTFALL_STORE": f"cassandra://127.0.0.1:9042/{keyspace}",
        "FOOTFALL_QUEUE": "memory://bench",
        "FOOTFALL_CASSANDRA_REPLICATION": "NetworkTopologyStrategy:datacenter1=1",
        "FOOTFALL_CASSANDRA_SHARDS": "16",
    }
    subprocess.run(
        [sys.executable, "-m", "footfall", "migrate", "--data-dir", f"/tmp/{keyspace}"],
        env=env,
        check=True,
        capture_output=True,
    )
    from footfall.store.cassandra import CassandraStore

    store = CassandraStore(env["FOOTFALL_STORE"], shards=16)
    seconds = {"per_partition": 0.0, "per_row": 0.0}
    start = time.time_ns() // 1000 // HOUR_US * HOUR_US
    try:
        for i in range(args.batches * 2):
            mode = "per_partition" if i % 2 == 0 else "per_row"
            writes = batch(args.events, "p-bench", start)
            store.partition_batches = mode == "per_partition"
            began = time.perf_counter()
            store.write(writes)
            seconds[mode] += time.perf_counter() - began
    finally:
        store.session.execute(f'DROP KEYSPACE IF EXISTS "{keyspace}"')
        store.close()
    total = args.events * args.batches
    rates = {m: round(total / s) for m, s in seconds.items()}
    result = {
        "events_per_batch": args.events,
        "batches_per_mode": args.batches,
        "events_per_s": rates,
        "ratio": round(rates["per_partition"] / rates["per_row"], 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
