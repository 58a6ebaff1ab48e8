"""Sessions: a visitor's events split at 30 minutes of inactivity.

A session stream is one visitor's events with the same client ``session_id`` param (as GA4's
Measurement Protocol sends it; streams without one are split by time alone). Within a stream, events are
ordered by (time, event_id) and a new session starts after a gap of more than 30 minutes.
The result depends only on the set of events, never on the order they arrived in, so replays
and re-processing give the same sessions.

Engaged (GA4): more than 10 seconds of engagement time, a key event, or 2+ page views.
A session spanning midnight belongs to both days: reports count it on each date it has events.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from footfall.schema.events import EnrichedEvent, Session

SESSION_TIMEOUT_US = 30 * 60 * 1_000_000
ENGAGED_MS = 10_000
PAGE_VIEW_EVENTS = frozenset({"page_view", "screen_view"})

StreamKey = tuple[str, str, str | None]


def stream_key(ev: EnrichedEvent) -> StreamKey:
    return (ev.property_id, ev.visitor_id, ev.client_session_id)


def session_key(stream: StreamKey, first: EnrichedEvent) -> str:
    text = "\x1f".join(
        (stream[0], stream[1], stream[2] or "", str(first.event_time), first.event_id)
    )
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def sessionize(
    events: Iterable[EnrichedEvent], timeout_us: int = SESSION_TIMEOUT_US
) -> list[tuple[Session, list[EnrichedEvent]]]:
    """Split events into sessions; sets ``session_key`` on every event and returns each session."""
    streams: dict[StreamKey, list[EnrichedEvent]] = defaultdict(list)
    for ev in events:
        streams[stream_key(ev)].append(ev)
    out: list[tuple[Session, list[EnrichedEvent]]] = []
    for key, stream in streams.items():
        stream.sort(key=lambda e: (e.event_time, e.event_id))
        run: list[EnrichedEvent] = [stream[0]]
        for ev in stream[1:]:
            if ev.event_time - run[-1].event_time > timeout_us:
                out.append(_close(key, run))
                run = []
            run.append(ev)
        out.append(_close(key, run))
    return out


def _close(key: StreamKey, run: list[EnrichedEvent]) -> tuple[Session, list[EnrichedEvent]]:
    first = run[0]
    skey = session_key(key, first)
    page_views = 0
    engagement = 0
    key_events = 0
    landing = ""
    for ev in run:
        ev.session_key = skey
        if ev.event_name in PAGE_VIEW_EVENTS:
            page_views += 1
            if not landing:
                landing = ev.page_path
        engagement += ev.engagement_time_ms
        key_events += ev.is_key_event
    session = Session(
        property_id=key[0],
        session_key=skey,
        visitor_id=key[1],
        client_session_id=key[2],
        start_time=first.event_time,
        end_time=run[-1].event_time,
        event_count=len(run),
        page_views=page_views,
        engagement_ms=engagement,
        key_events=key_events,
        engaged=engagement > ENGAGED_MS or key_events > 0 or page_views >= 2,
        landing_page=landing,
        source=first.source,
        medium=first.medium,
        campaign=first.campaign,
        channel_group=first.channel_group,
    )
    return session, run
