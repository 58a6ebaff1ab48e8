"""Command-line glue for ``footfall simulate``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

from footfall.clock import system_clock, to_us
from footfall.settings import ClientSettings
from footfall.simulate.model import simulate
from footfall.simulate.send import send
from footfall.simulate.truth import write_truth


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the server (default FOOTFALL_URL or http://127.0.0.1:8000)")
    p.add_argument("--measurement-id", dest="measurement_id", help="the stream's measurement id")
    p.add_argument(
        "--key",
        help="a key with the write scope on the property (default FOOTFALL_KEY): sends each "
        "visitor's address and history older than 72 hours",
    )
    p.add_argument("--seed", type=int, default=1, help="same seed, same traffic (default 1)")
    p.add_argument("--days", type=int, default=14, help="days of history ending today (default 14)")
    p.add_argument("--visitors-per-day", dest="visitors_per_day", type=int, default=200)
    p.add_argument("--time-zone", dest="time_zone", default="UTC", help="the property's time zone")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    p.add_argument("--truth", type=Path, help="write the expected reports (JSON) here")
    p.add_argument("--no-send", dest="no_send", action="store_true", help="only write --truth")
    p.add_argument(
        "--now",
        type=_instant,
        help="the instant the history ends, ISO 8601 (default: now); the same --now and --seed "
        "give the same traffic",
    )


def _instant(value: str) -> int:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 instant") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a UTC offset, e.g. {value}Z")
    return to_us(moment)


def run(args: argparse.Namespace, client: ClientSettings) -> int:
    if not client.key and not args.no_send:
        print(
            "footfall simulate: sending needs --key (a key with the write scope)", file=sys.stderr
        )
        return 2
    sim = simulate(
        seed=args.seed,
        time_zone=args.time_zone,
        visitors_per_day=args.visitors_per_day,
        days=args.days,
        now_us=args.now if args.now is not None else system_clock(),
    )
    print(
        f"simulated {len(sim.events)} events in {len(sim.sessions)} sessions, {sim.start} to {sim.end}"
    )
    if args.truth:
        write_truth(sim, args.truth)
        print(f"expected reports written to {args.truth}")
    if args.no_send:
        return 0
    if not args.measurement_id:
        print("footfall simulate: --measurement-id is required to send", file=sys.stderr)
        return 2
    started = time.perf_counter()
    stats = asyncio.run(
        send(
            client.url,
            args.measurement_id,
            sim.events,
            key=client.key,
            concurrency=args.concurrency,
        )
    )
    elapsed = time.perf_counter() - started
    print(
        f"sent {stats.requests} requests in {elapsed:.1f}s: {stats.accepted} events accepted, "
        f"{stats.rejected} rejected, {stats.retries} retries"
    )
    return 0 if stats.rejected == 0 else 1
