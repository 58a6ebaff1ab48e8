"""The reports a correct backend must give for a simulation, computed from the simulator's own
knowledge (which session and visitor each event belongs to, what each source is), with GA4's
metric definitions. Independent of footfall's processing and SQL by construction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from footfall.simulate.model import SimEvent, SimSession, Simulation

NOT_SET = "(not set)"
Row = dict[str, int | float | Decimal]  # Decimal: currency metrics, exact
# GA4's revenue events (the simulation sends purchase and refund only)
PURCHASES = ("purchase", "ecommerce_purchase", "in_app_purchase")
REFUNDS = ("refund", "app_store_refund")


def _money(micros: int) -> Decimal:
    return Decimal(micros) / 1_000_000


def _text(value: object) -> str:
    if value is None or value == "":
        return NOT_SET
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Truth:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.events = [e for e in sim.events if not e.is_bot]
        self.sessions = sim.sessions
        first: dict[str, tuple[int, str]] = {}
        for e in self.events:
            key = (e.time_us, e.event_id)
            if e.visitor not in first or key < first[e.visitor]:
                first[e.visitor] = key
        self.first_event = {v: k[1] for v, k in first.items()}

    def dimension(self, name: str) -> Callable[[SimEvent], str]:
        s = self.sessions
        table: dict[str, Callable[[SimEvent], str]] = {
            "date": lambda e: e.date,
            "dateHour": lambda e: e.date + e.hour,
            "hour": lambda e: e.hour,
            "pagePath": lambda e: e.page_path,
            "pageTitle": lambda e: e.page_title,
            "hostName": lambda e: e.host,
            "landingPage": lambda e: s[e.session].landing_page or NOT_SET,
            "eventName": lambda e: e.name,
            "sessionSource": lambda e: s[e.session].source.source,
            "sessionMedium": lambda e: s[e.session].source.medium,
            "sessionSourceMedium": lambda e: (
                f"{s[e.session].source.source} / {s[e.session].source.medium}"
            ),
            "sessionCampaignName": lambda e: s[e.session].source.campaign,
            "sessionDefaultChannelGroup": lambda e: s[e.session].source.channel,
            "country": lambda e: e.country,
            "countryId": lambda e: e.country_id or NOT_SET,
            "deviceCategory": lambda e: e.device,
            "browser": lambda e: e.browser,
            "operatingSystem": lambda e: e.os,
            "language": lambda e: e.language,
            "languageCode": lambda e: e.language_code,
        }
        if name.startswith("customEvent:"):
            param = name.split(":", 1)[1]
            return lambda e: _text(e.params.get(param))
        return table[name]

    def metrics(self, events: list[SimEvent]) -> Row:
        sessions: dict[str, SimSession] = {e.session: self.sessions[e.session] for e in events}
        n_sessions = len(sessions)
        engaged = sum(1 for x in sessions.values() if x.engaged)
        users = {e.visitor for e in events}
        new = {e.visitor for e in events if self.first_event[e.visitor] == e.event_id}
        active = {
            e.visitor
            for e in events
            if self.sessions[e.session].engaged
            or self.first_event[e.visitor] == e.event_id
            or e.engagement_ms > 0
        }
        views = sum(1 for e in events if e.name == "page_view")
        rate = engaged / n_sessions if n_sessions else 0.0
        gross = sum(e.value_micros for e in events if e.name in PURCHASES)
        refunds = sum(e.value_micros for e in events if e.name in REFUNDS)
        return {
            "activeUsers": len(active),
            "totalUsers": len(users),
            "newUsers": len(new),
            "sessions": n_sessions,
            "engagedSessions": engaged,
            "engagementRate": rate,
            "bounceRate": 1.0 - rate if n_sessions else 0.0,
            "averageSessionDuration": (
                sum((x.end_us - x.start_us) for x in sessions.values()) / n_sessions / 1e6
                if n_sessions
                else 0.0
            ),
            "screenPageViews": views,
            "screenPageViewsPerSession": views / n_sessions if n_sessions else 0.0,
            "eventCount": len(events),
            "eventsPerSession": len(events) / n_sessions if n_sessions else 0.0,
            "sessionsPerUser": n_sessions / len(users) if users else 0.0,
            "userEngagementDuration": sum(e.engagement_ms for e in events) / 1000.0,
            "keyEvents": sum(1 for e in events if e.is_key_event),
            "totalRevenue": _money(gross - refunds),
            "purchaseRevenue": _money(gross - refunds),
            "grossPurchaseRevenue": _money(gross),
            "refundAmount": _money(refunds),
        }

    def report(
        self,
        dimensions: Iterable[str],
        start: dt.date,
        end: dt.date,
        keep: Callable[[SimEvent], bool] | None = None,
    ) -> dict[tuple[str, ...], Row]:
        """Rows keyed by dimension values, for events on dates start..end (inclusive)."""
        dims = [self.dimension(d) for d in dimensions]
        lo, hi = start.strftime("%Y%m%d"), end.strftime("%Y%m%d")
        groups: dict[tuple[str, ...], list[SimEvent]] = defaultdict(list)
        for e in self.events:
            if lo <= e.date <= hi and (keep is None or keep(e)):
                groups[tuple(f(e) for f in dims)].append(e)
        return {key: self.metrics(evs) for key, evs in groups.items()}

    def summary(self) -> dict[str, Any]:
        """The standard ground truth written by ``footfall simulate --truth``."""
        s, e = self.sim.start, self.sim.end

        def table(dims: list[str]) -> list[dict[str, Any]]:
            rows = self.report(dims, s, e)
            return [{"dimensions": list(k), **v} for k, v in sorted(rows.items())]

        return {
            "time_zone": self.sim.time_zone,
            "start": s.isoformat(),
            "end": e.isoformat(),
            "events_sent": len(self.sim.events),
            "bot_events_sent": len(self.sim.events) - len(self.events),
            "total": self.report([], s, e).get((), {}),
            "by_date": table(["date"]),
            "by_date_and_page": table(["date", "pagePath"]),
            "by_channel": table(["sessionDefaultChannelGroup"]),
            "by_country": table(["country"]),
            "by_device": table(["deviceCategory"]),
        }


def write_truth(sim: Simulation, path: Path) -> None:
    path.write_bytes(msgspec.json.format(msgspec.json.encode(Truth(sim).summary()), indent=2))
