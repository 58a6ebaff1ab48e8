"""One batch from the queue to one store transaction.

Stages, in order: ``decode`` → ``pipeline`` (per event, see :mod:`pipeline`) → ``dedupe``
(within the batch and against the store, on ``(property_id, event_id)``) → ``sessionize``
(the new events with the stored sessions they touch) → a :class:`WriteSet`. Writing it and
committing the queue offset is the worker's job.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping

import msgspec

from footfall.clock import Clock, system_clock
from footfall.process.draft import Drop
from footfall.process.pipeline import Pipeline
from footfall.process.revenue import UNCONVERTED
from footfall.process.sessions import SESSION_TIMEOUT_US, sessionize, stream_key
from footfall.schema.events import DeadLetter, DropReason, EnrichedEvent, RawEvent
from footfall.store import EventStore, RawRow, SessionProbe, SessionRef, WriteSet
from footfall.tenancy.model import Property


class BatchStats(msgspec.Struct):
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dropped: dict[str, int] = {}
    # stored events with a value in a currency without an exchange rate: (property, currency)
    revenue_unconverted: dict[tuple[str, str], int] = {}


class Processor:
    def __init__(
        self,
        store: EventStore,
        properties: Callable[[str], Property | None],
        pipeline: Pipeline,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.clock = clock
        self.properties = properties
        self.pipeline = pipeline
        self._decoder = msgspec.msgpack.Decoder(RawEvent)
        self._encoder = msgspec.msgpack.Encoder()
        self.totals = Counter[str]()

    def process(self, messages: list[bytes]) -> tuple[WriteSet, BatchStats]:
        writes = WriteSet()
        stats = BatchStats(received=len(messages), dropped={})
        fresh: dict[tuple[str, str], EnrichedEvent] = {}
        for message in messages:
            raw, result = self._enrich(message)
            payload = message  # undecodable: kept as it came
            if raw is not None:
                # the client address lives in its own column, which retention clears
                payload = self._encoder.encode(msgspec.structs.replace(raw, ip=""))
                writes.raw.append(
                    RawRow(
                        raw.property_id,
                        raw.event_id,
                        raw.received_at,
                        raw.event_time,
                        raw.ip or None,
                        payload,
                    )
                )
            if isinstance(result, Drop):
                stats.dropped[result.reason] = stats.dropped.get(result.reason, 0) + 1
                writes.dead_letters.append(
                    DeadLetter(
                        property_id=raw.property_id if raw else "",
                        event_id=raw.event_id if raw else "",
                        reason=result.reason,
                        detail=result.detail,
                        received_at=raw.received_at if raw else self.clock(),
                        payload=payload,
                    )
                )
                continue
            key = (result.property_id, result.event_id)
            if key in fresh:
                stats.duplicates += 1
                continue
            fresh[key] = result
        # each property's generation, looked up once: a switch (another process's rebuild) in
        # the middle of the batch must not split its reads and its write between two of them
        pinned = self.store.live_generations(
            {k[0] for k in fresh} | {d.property_id for d in writes.dead_letters if d.property_id}
        )
        writes.generation = pinned
        known = self.store.known_event_ids(list(fresh), generation=pinned)
        stats.duplicates += len(known)
        new = [ev for key, ev in fresh.items() if key not in known]
        self._sessionize(new, writes, pinned)
        writes.events = new
        stats.stored = len(new)
        unconverted = Counter(
            (ev.property_id, ev.currency) for ev in new if UNCONVERTED in ev.flags.split(",")
        )
        stats.revenue_unconverted = dict(unconverted)
        self.totals.update(
            received=stats.received, stored=stats.stored, duplicates=stats.duplicates
        )
        self.totals.update({f"dropped_{k}": v for k, v in stats.dropped.items()})
        return writes, stats

    def _enrich(self, message: bytes) -> tuple[RawEvent | None, EnrichedEvent | Drop]:
        try:
            raw = self._decoder.decode(message)
        except msgspec.DecodeError as exc:
            return None, Drop(DropReason.UNDECODABLE, str(exc)[:200])
        prop = self.properties(raw.property_id)
        if prop is None:
            return raw, Drop(DropReason.UNKNOWN_PROPERTY, f"no property {raw.property_id}")
        if raw.rejection is not None:
            return raw, Drop(DropReason.REJECTED, raw.rejection[:300])
        return raw, self.pipeline.run(raw, prop)

    def _sessionize(
        self, new: list[EnrichedEvent], writes: WriteSet, generation: Mapping[str, int]
    ) -> None:
        if not new:
            return
        spans: dict[tuple[str, str, str | None], list[int]] = {}
        for ev in new:
            span = spans.setdefault(stream_key(ev), [ev.event_time, ev.event_time])
            span[0] = min(span[0], ev.event_time)
            span[1] = max(span[1], ev.event_time)
        probes = [SessionProbe(k[0], k[1], k[2], lo, hi) for k, (lo, hi) in spans.items()]
        fresh = {(ev.property_id, ev.event_id) for ev in new}
        # a store without transactions may hold part of a batch that crashed: the new copy wins
        stored = [
            ev
            for ev in self.store.session_events(probes, SESSION_TIMEOUT_US, generation=generation)
            if (ev.property_id, ev.event_id) not in fresh
        ]
        before = {(ev.property_id, ev.event_id): ev.session_key for ev in stored}
        old_sessions: dict[tuple[str, str], SessionRef] = {}
        for ev in stored:
            ref = old_sessions.get((ev.property_id, ev.session_key))
            if ref is None or ev.event_time < ref.start_time:
                old_sessions[(ev.property_id, ev.session_key)] = SessionRef(
                    ev.property_id, ev.visitor_id, ev.session_key, ev.event_time
                )
        new_sessions: set[tuple[str, str]] = set()
        for session, _events in sessionize([*stored, *new]):
            writes.sessions.append(session)
            new_sessions.add((session.property_id, session.session_key))
        writes.rekeyed = [
            ev for ev in stored if ev.session_key != before[(ev.property_id, ev.event_id)]
        ]
        writes.stale_sessions = [
            ref for key, ref in sorted(old_sessions.items()) if key not in new_sessions
        ]
        first: dict[tuple[str, str], tuple[int, str]] = defaultdict(lambda: (2**63 - 1, ""))
        for ev in new:
            key = (ev.property_id, ev.visitor_id)
            first[key] = min(first[key], (ev.event_time, ev.event_id))
        writes.first_seen = [(p, v, t, e) for (p, v), (t, e) in first.items()]
