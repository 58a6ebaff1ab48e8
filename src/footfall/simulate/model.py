"""Seeded, reproducible synthetic traffic: visitors who come back over days, sessions of several
pages from real referrers and campaigns, custom events, purchases and refunds, phones, tablets
and bots.

Every generated event also carries what a correct backend must report for it (its local date,
country, device, the session it belongs to, ...), so :mod:`footfall.simulate.truth` can compute
the expected reports without any of footfall's processing code.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

import msgspec

from footfall.simulate.catalog import (
    AGENTS,
    BOT_AGENTS,
    COUNTRIES,
    KEY_EVENTS,
    LANGUAGES,
    PAGES,
    SITE,
    SOURCES,
    Agent,
    Country,
    Language,
    Page,
    Source,
)

T = TypeVar("T")
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
MICROS = 1_000_000  # micros per currency unit


class SimEvent(msgspec.Struct, kw_only=True):
    # what is sent
    event_id: str
    name: str
    time_us: int
    client_id: str | None
    ip: str
    user_agent: str
    params: dict[str, str | int | float]
    # what is expected
    is_bot: bool
    visitor: str
    session: str
    date: str  # YYYYMMDD in the property's time zone
    hour: str  # HH
    page_path: str
    page_title: str
    host: str
    country_id: str
    country: str
    device: str
    browser: str
    os: str
    language_code: str
    language: str
    engagement_ms: int
    value_micros: int  # the value parameter in micros, from its decimal text; 0 without one
    is_key_event: bool


class SimSession(msgspec.Struct, kw_only=True):
    session: str
    visitor: str
    start_us: int
    end_us: int
    page_views: int
    engagement_ms: int
    key_events: int
    landing_page: str
    source: Source

    @property
    def engaged(self) -> bool:
        return self.engagement_ms > 10_000 or self.key_events > 0 or self.page_views >= 2


class Visitor(msgspec.Struct, kw_only=True):
    visitor_id: str
    client_id: str | None
    agent: Agent
    country: Country
    ip: str
    language: Language
    is_bot: bool = False
    bot_agent: str = ""


class Simulation(msgspec.Struct, kw_only=True):
    seed: int
    time_zone: str
    start: dt.date
    end: dt.date
    events: list[SimEvent]
    sessions: dict[str, SimSession]


def _pick(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(items, weights=weights, k=1)[0]


class Generator:
    def __init__(
        self, *, seed: int, time_zone: str, visitors_per_day: int, days: int, now_us: int
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.zone = ZoneInfo(time_zone)
        self.time_zone = time_zone
        self.visitors_per_day = visitors_per_day
        self.days = days
        # nothing later than a minute ago, so the collector never sees a future event
        self.horizon_us = now_us - MINUTE
        self.today = dt.datetime.fromtimestamp(now_us / SECOND, self.zone).date()
        self.events: list[SimEvent] = []
        self.sessions: dict[str, SimSession] = {}
        self._n_events = 0
        self._n_visitors = 0
        self._cookieless_ids: set[tuple[str, str, dt.date]] = set()

    # -- people ----------------------------------------------------------------------------

    def _ip(self, country: Country) -> str:
        third = self.rng.choice(country.third_octets)
        return f"{country.prefix}.{third}.{self.rng.randint(1, 254)}"

    def _visitor(self, cookieless: bool, bot: bool) -> Visitor:
        self._n_visitors += 1
        n = self._n_visitors
        rng = self.rng
        agent = _pick(rng, AGENTS, [a.weight for a in AGENTS])
        country = _pick(rng, COUNTRIES, [c.weight for c in COUNTRIES])
        language = _pick(rng, LANGUAGES, [lang.weight for lang in LANGUAGES])
        client_id = None if cookieless else f"{rng.randint(10**8, 10**9 - 1)}.{n}"
        return Visitor(
            visitor_id=f"v{n}",
            client_id=client_id,
            agent=agent,
            country=country,
            ip=self._ip(country),
            language=language,
            is_bot=bot,
            bot_agent=rng.choice(BOT_AGENTS) if bot else "",
        )

    # -- time ------------------------------------------------------------------------------

    def _local_start(self, day: dt.date, late: bool) -> int:
        if late:  # a session that runs over midnight
            seconds = 23 * 3600 + self.rng.randint(35 * 60, 50 * 60)
        else:
            # busier in the day than at night
            hour = _pick(
                self.rng,
                range(24),
                [1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 7, 7, 7, 6, 5, 4, 3, 2],
            )
            seconds = hour * 3600 + self.rng.randint(0, 3599)
        local = dt.datetime.combine(day, dt.time(), self.zone) + dt.timedelta(seconds=seconds)
        return int(local.timestamp() * SECOND)

    def _stamp(self, t_us: int) -> tuple[str, str]:
        local = dt.datetime.fromtimestamp(t_us / SECOND, self.zone)
        return local.strftime("%Y%m%d"), local.strftime("%H")

    # -- traffic ---------------------------------------------------------------------------

    def run(self) -> Simulation:
        first_day = self.today - dt.timedelta(days=self.days - 1)
        for offset in range(self.days):
            day = first_day + dt.timedelta(days=offset)
            n_new = max(1, round(self.visitors_per_day * self.rng.uniform(0.7, 1.3)))
            for _ in range(n_new):
                self._visit(day, first_day)
        self.events.sort(key=lambda e: (e.time_us, e.event_id))
        return Simulation(
            seed=self.seed,
            time_zone=self.time_zone,
            start=first_day,
            end=self.today,
            events=self.events,
            sessions=self.sessions,
        )

    def _visit(self, day: dt.date, first_day: dt.date) -> None:
        rng = self.rng
        roll = rng.random()
        bot = roll < 0.05
        cookieless = not bot and roll < 0.10
        visitor = self._visitor(cookieless, bot)
        if cookieless:
            self._cookieless_session(visitor, day)
            return
        starts = [self._local_start(day, late=rng.random() < 0.04)]
        if not bot and rng.random() < 0.4:  # returning visitor
            for _ in range(rng.randint(1, 3)):
                later = day + dt.timedelta(days=rng.randint(0, 6))
                if later <= self.today:
                    starts.append(self._local_start(later, late=rng.random() < 0.04))
        starts.sort()
        last_end = 0
        for i, planned in enumerate(starts):
            start = max(planned, last_end + 2 * HOUR)  # sessions of one visitor never touch
            source = (
                _pick(rng, SOURCES, [s.weight for s in SOURCES])
                if i == 0 or rng.random() < 0.5
                else SOURCES[0]
            )
            last_end = self._session(visitor, start, source)

    def _cookieless_session(self, visitor: Visitor, day: dt.date) -> None:
        """One short session without client_id: its identity is a daily hash of address and agent."""
        rng = self.rng
        for _ in range(100):
            start = self._local_start(day, late=False)
            utc = dt.datetime.fromtimestamp(start / SECOND, dt.UTC)
            seconds_left = 86400 - (utc.hour * 3600 + utc.minute * 60 + utc.second)
            key = (visitor.ip, visitor.agent.user_agent, utc.date())
            if seconds_left > 3600 and key not in self._cookieless_ids:
                self._cookieless_ids.add(key)
                break
            visitor.ip = self._ip(visitor.country)
        else:
            return
        self._session(visitor, start, _pick(rng, SOURCES, [s.weight for s in SOURCES]), max_pages=2)

    def _session(self, visitor: Visitor, start: int, source: Source, max_pages: int = 8) -> int:
        rng = self.rng
        session_id = f"{visitor.visitor_id}s{start // SECOND}"
        pages = rng.choices([1, 2, 3, 4, 5, 6, 7, 8], weights=[40, 22, 14, 9, 6, 4, 3, 2], k=1)[0]
        pages = min(pages, max_pages)
        t = start
        previous_url = ""
        session = SimSession(
            session=session_id,
            visitor=visitor.visitor_id,
            start_us=start,
            end_us=start,
            page_views=0,
            engagement_ms=0,
            key_events=0,
            landing_page="",
            source=source,
        )
        emitted = 0
        for n in range(pages):
            page = (
                PAGES[0]
                if n == 0 and rng.random() < 0.4
                else _pick(rng, PAGES, [p.weight for p in PAGES])
            )
            url = f"https://{SITE}{page.path}"
            if n == 0 and source.query:
                url += "?" + source.query
            referrer = source.referrer if n == 0 else previous_url
            engagement = rng.randint(0, 15_000) if pages == 1 else rng.randint(2_000, 90_000)
            params: dict[str, str | int | float] = {"page_location": url, "page_title": page.title}
            if referrer:
                params["page_referrer"] = referrer
            if engagement:
                params["engagement_time_msec"] = engagement
            if self._emit(
                visitor,
                session,
                t,
                name="page_view",
                page=page,
                params=params,
                engagement=engagement,
            ):
                emitted += 1
            previous_url = url
            extra_t = t + rng.randint(3, 40) * SECOND
            for name, extra in self._interactions(page):
                if self._emit(
                    visitor, session, extra_t, name=name, page=page, params=extra, engagement=0
                ):
                    emitted += 1
                extra_t += rng.randint(1, 20) * SECOND
            t = max(extra_t, t + rng.randint(5, 20 * 60) * SECOND)
        if emitted and not visitor.is_bot:
            self.sessions[session_id] = session
        return t

    def _interactions(self, page: Page) -> list[tuple[str, dict[str, str | int | float]]]:
        rng = self.rng
        out: list[tuple[str, dict[str, str | int | float]]] = []
        if rng.random() < 0.3:
            out.append(("scroll", {"percent_scrolled": 90}))
        if page.path.startswith("/products/") and rng.random() < 0.25:
            out.append(
                (
                    "add_to_cart",
                    {"item_name": page.path.rsplit("/", 1)[1], "value": 29.5, "currency": "USD"},
                )
            )
        if page.path == "/cart" and rng.random() < 0.35:
            value = round(rng.uniform(15, 240), 2)
            transaction = f"T{rng.randint(10**6, 10**7)}"
            out.append(
                ("purchase", {"transaction_id": transaction, "value": value, "currency": "USD"})
            )
            if rng.random() < 0.2:  # refunded, in full or in part, as a string amount
                cents = round(value * 100)
                refunded = cents if rng.random() < 0.5 else rng.randint(1, cents)
                out.append(
                    (
                        "refund",
                        {
                            "transaction_id": transaction,
                            "value": f"{refunded // 100}.{refunded % 100:02d}",
                            "currency": "USD",
                        },
                    )
                )
        if page.path == "/contact" and rng.random() < 0.3:
            out.append(("generate_lead", {"form_id": "contact"}))
        if page.path.startswith("/blog") and rng.random() < 0.15:
            out.append(("click", {"link_domain": "tea-lovers.org", "outbound": "true"}))
        return out

    def _emit(
        self,
        visitor: Visitor,
        session: SimSession,
        t: int,
        *,
        name: str,
        page: Page,
        params: dict[str, str | int | float],
        engagement: int,
    ) -> bool:
        if t > self.horizon_us:
            return False
        self._n_events += 1
        params = {**params, "language": visitor.language.code}
        if name != "page_view":
            params["page_location"] = f"https://{SITE}{page.path}"
            params["page_title"] = page.title
        if visitor.client_id is not None:
            params["session_id"] = session.session
        date, hour = self._stamp(t)
        is_key = name in KEY_EVENTS
        # a JSON number is sent as its shortest text (repr), a string as it is
        value = params.get("value", 0)
        text = repr(value) if isinstance(value, float) else str(value)
        value_micros = int(Decimal(text) * MICROS)
        self.events.append(
            SimEvent(
                event_id=f"sim{self.seed}-{self._n_events}",
                name=name,
                time_us=t,
                client_id=visitor.client_id,
                ip=visitor.ip,
                user_agent=visitor.bot_agent or visitor.agent.user_agent,
                params=params,
                is_bot=visitor.is_bot,
                visitor=visitor.visitor_id,
                session=session.session,
                date=date,
                hour=hour,
                page_path=page.path,
                page_title=page.title,
                host=SITE,
                country_id=visitor.country.country_id,
                country=visitor.country.name,
                device=visitor.agent.device,
                browser=visitor.agent.browser,
                os=visitor.agent.os,
                language_code=visitor.language.code,
                language=visitor.language.name,
                engagement_ms=engagement,
                value_micros=value_micros,
                is_key_event=is_key,
            )
        )
        session.end_us = max(session.end_us, t)
        session.engagement_ms += engagement
        session.key_events += is_key
        if name == "page_view":
            session.page_views += 1
            if not session.landing_page:
                session.landing_page = page.path
        return True


def simulate(
    *, seed: int, time_zone: str, visitors_per_day: int, days: int, now_us: int
) -> Simulation:
    return Generator(
        seed=seed, time_zone=time_zone, visitors_per_day=visitors_per_day, days=days, now_us=now_us
    ).run()
