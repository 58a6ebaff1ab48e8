"""The processor's batch stages against a real (in-memory) DuckDB store."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import (
    CHROME,
    CLOCK,
    OKHTTP,
    encode,
    example,
    example_names,
    make_settings,
    now_us,
    raw_event,
)
from footfall.collect.protocols.native import Limits, Stamp, build_events, decode_envelope
from footfall.process.geo import GeoLookup
from footfall.process.identity import SaltSource
from footfall.process.pipeline import build_pipeline
from footfall.process.processor import Processor
from footfall.process.rates import ExchangeRates
from footfall.schema.events import RawEvent
from footfall.serve import Runtime
from footfall.store.duckdb import DuckDBStore
from footfall.tenancy.model import Property

PROPERTY = Property(property_id="100000001", account_id="acc_test", name="t", time_zone="UTC")
MIN = 60_000_000


class Rig:
    def __init__(self) -> None:
        self.store = DuckDBStore(":memory:")
        self.store.put(PROPERTY)
        self.geo = GeoLookup()
        self.processor = Processor(
            self.store,
            lambda pid: self.store.get(Property, pid),
            build_pipeline(
                geo=self.geo, salts=SaltSource(self.store), rates=ExchangeRates(self.store)
            ),
        )

    def feed(self, events: list[RawEvent] | list[bytes]) -> Any:
        messages = [e if isinstance(e, bytes) else encode(e) for e in events]
        writes, stats = self.processor.process(messages)
        self.store.write(writes)
        return stats

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.store._reader() as cur:
            return cur.execute(sql).fetchall()

    def sessions(self) -> list[tuple[Any, ...]]:
        return self.query(
            "SELECT visitor_id, start_time, end_time, event_count, page_views, engaged, landing_page "
            "FROM sessions ORDER BY ALL"
        )

    def event_sessions(self) -> list[tuple[Any, ...]]:
        return self.query("SELECT event_id, session_key FROM events ORDER BY ALL")


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.geo.close()
    r.store.close()


def visit(visitor: str, start: int, n: int, gap: int = 5 * MIN, prefix: str = "") -> list[RawEvent]:
    return [
        raw_event(
            event_id=f"{prefix}{visitor}-{i}",
            client_id=visitor,
            event_time=start + i * gap,
            params={
                "page_location": f"https://shop.example.com/p{i}",
                "engagement_time_msec": 3000,
            },
        )
        for i in range(n)
    ]


def test_replaying_a_batch_changes_nothing(rig: Rig) -> None:
    t0 = now_us() - 3600 * 1_000_000
    events = visit("a", t0, 4) + visit("b", t0, 2)
    first = rig.feed(events)
    assert first.stored == 6
    before = (rig.sessions(), rig.event_sessions(), rig.store.count("raw_events"))
    for _ in range(3):
        again = rig.feed(events)
        assert (again.stored, again.duplicates) == (0, 6)
    assert (rig.sessions(), rig.event_sessions(), rig.store.count("raw_events")) == before


def test_duplicates_inside_one_batch_count_once(rig: Rig) -> None:
    e = raw_event(event_id="same")
    stats = rig.feed([e, e, e])
    assert (stats.stored, stats.duplicates) == (1, 2)
    assert rig.store.count("events") == 1


def test_sessions_are_the_same_whatever_the_batches_and_their_order(rig: Rig) -> None:
    t0 = now_us() - 5 * 3600 * 1_000_000
    events = (
        visit("a", t0, 6, gap=20 * MIN)  # one session: gaps under 30 minutes
        + visit("a", t0 + 4 * 3600 * 1_000_000, 2, prefix="r")  # a second session hours later
        + visit("b", t0, 3, gap=45 * MIN)  # three sessions: gaps over 30 minutes
    )
    rig.feed(events)
    expected = (rig.sessions(), rig.event_sessions())

    shuffled = Rig()
    try:
        order = events[:]
        random.Random(7).shuffle(order)
        for i in range(0, len(order), 2):  # small batches, in a random order
            shuffled.feed(order[i : i + 2])
        assert (shuffled.sessions(), shuffled.event_sessions()) == expected
        assert shuffled.store.count("sessions") == 1 + 1 + 3
    finally:
        shuffled.geo.close()
        shuffled.store.close()


def test_a_late_event_merges_stored_sessions(rig: Rig) -> None:
    t0 = now_us() - 3600 * 1_000_000
    rig.feed(
        [
            raw_event(event_id="x1", event_time=t0),
            raw_event(event_id="x3", event_time=t0 + 40 * MIN),
        ]
    )
    assert rig.store.count("sessions") == 2
    rig.feed([raw_event(event_id="x2", event_time=t0 + 20 * MIN)])
    assert rig.store.count("sessions") == 1
    (session,) = rig.sessions()
    assert (session[3], session[4], session[5]) == (3, 3, True)
    assert len({key for _id, key in rig.event_sessions()}) == 1


def test_a_batch_reads_and_writes_the_generation_it_began_with(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process switches the property's live generation while a batch is processed (a
    cluster rebuild): the batch's dedupe, its sessions and its write all keep the generation
    looked up at its start, so none of its rows lands in the new one half-made."""
    rig.feed(visit("v1", now_us() - 60 * MIN, 2))
    known_event_ids = rig.store.known_event_ids

    def then_switch(*args: Any, **kwargs: Any) -> set[tuple[str, str]]:
        known = known_event_ids(*args, **kwargs)
        with rig.store._transaction() as con:
            con.execute("INSERT OR REPLACE INTO generations VALUES (?, 1)", [PROPERTY.property_id])
        return known

    monkeypatch.setattr(rig.store, "known_event_ids", then_switch)
    stats = rig.feed(
        [*visit("v1", now_us() - 60 * MIN, 2), *visit("v1", now_us() - 50 * MIN, 1, prefix="b")]
    )
    assert stats.duplicates == 2 and stats.stored == 1  # deduped against generation 0
    assert rig.query("SELECT generation, count(*) FROM events GROUP BY ALL") == [(0, 3)]
    assert rig.query("SELECT DISTINCT generation FROM sessions") == [(0,)]


def test_bots_unknown_properties_and_garbage_go_to_dead_letters(rig: Rig) -> None:
    stats = rig.feed(
        [
            raw_event(
                event_id="bot",
                user_agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ),
            raw_event(event_id="ghost", property_id="999"),
            b"\x93not msgpack",
            raw_event(event_id="person"),
        ]
    )
    assert stats.stored == 1
    rows = rig.query(
        "SELECT event_id, reason, octet_length(payload) > 0 FROM dead_letters ORDER BY reason"
    )
    assert rows == [
        ("bot", "bot", True),
        ("", "undecodable", True),
        ("ghost", "unknown_property", True),
    ]
    # raw events keep everything that could be decoded, bots included, for re-processing
    assert rig.store.count("raw_events") == 3


def test_an_event_acknowledged_but_refused_is_kept_as_a_dead_letter_with_why(rig: Rig) -> None:
    refused = msgspec.structs.replace(
        raw_event(event_id="refused"), rejection="invalid_event_name: event name '1x' ..."
    )
    stats = rig.feed([refused, raw_event(event_id="fine")])
    assert stats.stored == 1
    assert rig.query("SELECT event_id, reason, detail FROM dead_letters") == [
        ("refused", "rejected", "invalid_event_name: event name '1x' ...")
    ]
    assert rig.query("SELECT event_id FROM events") == [("fine",)]
    assert rig.store.count("raw_events") == 2  # history keeps it: a re-run refuses it again


def test_client_address_stays_out_of_enriched_events(rig: Rig) -> None:
    rig.feed([raw_event(event_id="ip1", ip="23.20.0.77", client_id=None)])
    (ip, payload) = rig.query("SELECT ip, payload FROM raw_events")[0]
    assert ip == "23.20.0.77"
    assert msgspec.msgpack.decode(payload, type=RawEvent).ip == ""
    columns = rig.query("SELECT * FROM events")[0]
    assert not any("23.20.0.77" in str(value) for value in columns)
    rig.feed([raw_event(event_id="ip2", ip="23.20.0.78", user_agent="curl/8.5.0")])  # a dead letter
    assert all(
        b"23.20.0.78" not in bytes(p) for (p,) in rig.query("SELECT payload FROM dead_letters")
    )
    rig.store.scrub_raw_ips(now_us() + 1)
    assert rig.query("SELECT DISTINCT ip FROM raw_events") == [(None,)]


def test_new_users_are_marked_by_their_first_event_whatever_the_order(rig: Rig) -> None:
    t0 = now_us() - 3600 * 1_000_000
    rig.feed([raw_event(event_id="later", event_time=t0 + MIN)])
    rig.feed([raw_event(event_id="earlier", event_time=t0)])
    assert rig.query("SELECT first_event_id FROM visitors") == [("earlier",)]


@pytest.mark.parametrize("name", example_names())
def test_contract_examples_process_to_golden_fields(rig: Rig, name: str) -> None:
    """The event contract's examples, through the collector's validation and the processor."""
    body = example(name)
    stamp = Stamp(
        property_id=PROPERTY.property_id,
        received_at=now_us(),
        ip="86.128.0.7",
        user_agent=OKHTTP if "app_instance_id" in body else CHROME,  # an app's HTTP client
        accept_language="en-GB,en;q=0.9",
    )
    accepted, results = build_events(decode_envelope(msgspec.json.encode(body)), stamp, Limits())
    rig.feed(accepted)
    rows = rig.query(
        "SELECT event_id, event_name, page_path, source, medium, campaign, channel_group, country, "
        "device_category, browser, language, is_key_event, value_micros, currency, flags "
        "FROM events ORDER BY event_id"
    )
    assert rows == GOLDEN[name], rows
    assert [r.status for r in results] == STATUSES[name]


def _app_row(
    n: int, name: str, *, key_event: bool = False, value: int | None = None, currency: str = ""
) -> tuple[Any, ...]:
    """An event of app_screen_view.json: no page, direct, device and language from the device."""
    page = ("", "(direct)", "(none)", "(direct)", "Direct", "United Kingdom")
    return (f"ex-app-{n}", name, *page, "mobile", "", "English", key_event, value, currency, "")


GOLDEN: dict[str, list[tuple[Any, ...]]] = {
    # an app (okhttp, no browser): device and language from the device object, no page path
    "app_screen_view.json": [
        _app_row(1, "first_open", key_event=True),
        _app_row(2, "screen_view"),
        _app_row(3, "add_to_cart", value=29_500_000, currency="USD"),
        _app_row(4, "screen_view"),
    ],
    "cookieless.json": [
        (
            "ex-cookieless-1",
            "page_view",
            "/",
            "l.facebook.com",
            "referral",
            "(referral)",
            "Organic Social",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            False,
            None,
            "",
            "",
        ),
    ],
    "mixed_batch.json": [
        (
            "ex-mixed-1",
            "page_view",
            "/pricing",
            "google",
            "cpc",
            "(not set)",
            "Paid Search",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            False,
            None,
            "",
            "",
        ),
        (
            "ex-mixed-3",
            "scroll",
            "/pricing",
            "(direct)",
            "(none)",
            "(direct)",
            "Direct",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            False,
            None,
            "",
            "",
        ),
    ],
    "page_view.json": [
        (
            "ex-page-view-1",
            "page_view",
            "/products/kettle",
            "newsletter",
            "email",
            "winter_sale",
            "Email",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            False,
            None,
            "",
            "",
        ),
    ],
    "purchase.json": [
        (
            "ex-purchase-1",
            "add_to_cart",
            "/products/kettle",
            "(direct)",
            "(none)",
            "(direct)",
            "Direct",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            False,
            29_500_000,
            "USD",
            "",
        ),
        (
            "ex-purchase-2",
            "purchase",
            "/cart",
            "(direct)",
            "(none)",
            "(direct)",
            "Direct",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            True,
            59_000_000,
            "USD",
            "",
        ),
    ],
    # exact money: 4050.9 stays 4050.9; a refund's string amount; EUR without an exchange rate
    # is kept out of revenue and flagged; the invalid value is rejected by the collector
    "refund.json": [
        (
            "ex-refund-1",
            "purchase",
            "/cart",
            "(direct)",
            "(none)",
            "(direct)",
            "Direct",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            True,
            4_050_900_000,
            "USD",
            "",
        ),
        (
            "ex-refund-2",
            "refund",
            "/account",
            "(direct)",
            "(none)",
            "(direct)",
            "Direct",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            False,
            50_900_000,
            "USD",
            "",
        ),
        (
            "ex-refund-3",
            "purchase",
            "/cart",
            "(direct)",
            "(none)",
            "(direct)",
            "Direct",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            True,
            None,
            "EUR",
            "revenue_unconverted",
        ),
    ],
    "search_referral.json": [
        (
            "ex-search-1",
            "page_view",
            "/blog/brewing-guide",
            "google",
            "organic",
            "(organic)",
            "Organic Search",
            "United Kingdom",
            "desktop",
            "Chrome",
            "English",
            False,
            None,
            "",
            "",
        ),
    ],
}
STATUSES = {
    "app_screen_view.json": ["accepted"] * 4,
    "cookieless.json": ["accepted"],
    "mixed_batch.json": ["accepted", "rejected", "accepted"],
    "page_view.json": ["accepted"],
    "purchase.json": ["accepted", "accepted"],
    "refund.json": ["accepted", "accepted", "accepted", "rejected"],
    "search_referral.json": ["accepted"],
}


def test_reports_never_block_ingestion(rig: Rig) -> None:
    """Readers see a snapshot while batches commit, and holding every reader stalls no write."""
    import threading

    rig.feed([raw_event(event_id="before")])
    held = [rig.store._readers.get() for _ in range(rig.store._readers.qsize())]
    try:
        snapshot = held[0]
        snapshot.execute("BEGIN TRANSACTION")
        assert snapshot.execute("SELECT count(*) FROM events").fetchone() == (1,)
        done = threading.Event()

        def ingest() -> None:
            rig.feed([raw_event(event_id="during-1"), raw_event(event_id="during-2")])
            done.set()

        worker = threading.Thread(target=ingest)
        worker.start()
        worker.join(timeout=60)
        assert done.is_set(), "ingestion waited for readers"
        # the open read transaction still sees its snapshot; a new one sees the batch
        assert snapshot.execute("SELECT count(*) FROM events").fetchone() == (1,)
        snapshot.execute("COMMIT")
        assert snapshot.execute("SELECT count(*) FROM events").fetchone() == (3,)
    finally:
        for cur in held:
            rig.store._readers.put(cur)


def test_salts_and_addresses_are_forgotten_after_the_raw_window(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path, raw_retention_hours=24), clock=CLOCK)
    try:
        store = runtime.store
        salts = SaltSource(store)
        now = now_us()
        today = dt.datetime.fromtimestamp(now / 1e6, dt.UTC).date()
        old = today - dt.timedelta(days=5)
        salts.salt_for(old)
        salts.salt_for(today)
        runtime.forget_expired(now)
        assert store.get_meta(f"salt:{old.isoformat()}") is None
        assert store.get_meta(f"salt:{today.isoformat()}") is not None
    finally:
        runtime.stop()
