"""Send a simulation to a running collector over HTTP, as browsers would: one request per page's
worth of events, each visitor with its own User-Agent header. All requests leave from this
machine, so each visitor's address travels in the body as GA4's ``ip_override``, which needs a
server-side credential: a key with the write scope, which also allows history.

Retries on 503 and connection errors re-send the same ``event_id``s, so a retry never counts twice.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
from collections.abc import Iterator, Sequence

import httpx
import msgspec

from footfall.simulate.model import SimEvent

MAX_EVENTS_PER_REQUEST = 25
_json = msgspec.json.Encoder()


class SendStats(msgspec.Struct):
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    retries: int = 0


def requests_for(events: Sequence[SimEvent]) -> Iterator[tuple[dict[str, str], list[SimEvent]]]:
    """Group consecutive events of one visitor into requests of at most 25 events."""
    by_visitor: dict[str, list[SimEvent]] = {}
    for e in events:
        by_visitor.setdefault(e.visitor, []).append(e)
    for evs in by_visitor.values():
        for _key, group in itertools.groupby(evs, key=lambda e: e.session):
            chunk = list(group)
            for i in range(0, len(chunk), MAX_EVENTS_PER_REQUEST):
                part = chunk[i : i + MAX_EVENTS_PER_REQUEST]
                first = part[0]
                headers = {"user-agent": first.user_agent}
                yield headers, part


def body_for(events: Sequence[SimEvent]) -> bytes:
    first = events[0]
    body: dict[str, object] = {
        "events": [
            {
                "name": e.name,
                "event_id": e.event_id,
                "timestamp_micros": e.time_us,
                "params": e.params,
            }
            for e in events
        ]
    }
    if first.client_id is not None:
        body["client_id"] = first.client_id
    body["ip_override"] = first.ip
    return _json.encode(body)


async def send(
    base_url: str,
    measurement_id: str,
    events: Sequence[SimEvent],
    *,
    key: str | None = None,
    concurrency: int = 16,
    gzip_every: int = 3,
) -> SendStats:
    stats = SendStats()
    work = list(requests_for(events))
    queue: asyncio.Queue[tuple[int, dict[str, str], list[SimEvent]]] = asyncio.Queue()
    for i, (headers, part) in enumerate(work):
        queue.put_nowait((i, headers, part))
    url = f"{base_url.rstrip('/')}/v1/collect?measurement_id={measurement_id}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                i, headers, part = queue.get_nowait()
                body = body_for(part)
                h = {**headers, "content-type": "application/json"}
                if key:
                    h["authorization"] = f"Bearer {key}"
                if gzip_every and i % gzip_every == 0:
                    body = gzip.compress(body)
                    h["content-encoding"] = "gzip"
                for attempt in range(30):
                    try:
                        r = await client.post(url, content=body, headers=h)
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code < 500 and r.status_code != 429:
                        break
                    stats.retries += 1
                    wait = min(2.0, 0.1 * 2**attempt)
                    if r is not None and r.headers.get("retry-after", "").isdigit():
                        wait = float(r.headers["retry-after"])  # a rate limit: come back later
                    await asyncio.sleep(wait)
                else:
                    raise RuntimeError(f"request {i} failed after retries")
                assert r is not None
                stats.requests += 1
                result = r.json()
                if "accepted" not in result:
                    raise RuntimeError(
                        f"collector refused a request: {r.status_code} {r.text[:300]}"
                    )
                stats.accepted += result["accepted"]
                stats.rejected += result["rejected"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return stats
