"""The processing pipeline: a named list of small steps, each timed, each able to drop.

A step reads the draft and fills in its own fields of the enriched event, or returns a
:class:`Drop` with a typed reason. The list in :func:`build_pipeline` is the specification of
what happens to every event, in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from footfall.process.bots import drop_bots
from footfall.process.draft import Draft, Drop, start_draft
from footfall.process.fields import put_event_fields, put_local_time
from footfall.process.geo import GeoLookup, make_put_geo
from footfall.process.identity import SaltSource, make_put_identity
from footfall.process.page import put_page
from footfall.process.rates import ExchangeRates
from footfall.process.revenue import make_put_revenue
from footfall.process.traffic import make_put_traffic_source
from footfall.process.useragent import put_user_agent
from footfall.schema.events import DropReason, EnrichedEvent, RawEvent
from footfall.tenancy.model import Property

Step = Callable[[Draft], Drop | None]


class Pipeline:
    def __init__(self, steps: list[tuple[str, Step]]) -> None:
        self.steps = steps
        self.seconds: dict[str, float] = {name: 0.0 for name, _ in steps}

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.steps]

    def run(self, raw: RawEvent, prop: Property) -> EnrichedEvent | Drop:
        draft = start_draft(raw, prop)
        clock = time.perf_counter
        for name, step in self.steps:
            started = clock()
            try:
                dropped = step(draft)
            except Exception as exc:  # a step bug must not stop the stream: dead-letter the event
                dropped = Drop(DropReason.INVALID, f"{name} failed: {type(exc).__name__}")
            self.seconds[name] += clock() - started
            if dropped is not None:
                return dropped
        return draft.event


def build_pipeline(*, geo: GeoLookup, salts: SaltSource, rates: ExchangeRates) -> Pipeline:
    return Pipeline(
        [
            ("drop_bots", drop_bots),
            ("put_user_agent", put_user_agent),
            ("put_geo", make_put_geo(geo)),
            ("put_page", put_page),
            ("put_traffic_source", make_put_traffic_source()),
            ("put_identity", make_put_identity(salts)),
            ("put_event_fields", put_event_fields),
            ("put_local_time", put_local_time),
            ("put_revenue", make_put_revenue(rates)),
        ]
    )
