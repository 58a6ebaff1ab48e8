"""The store ports and how an adapter is chosen.

Small protocols, because the write path, tenancy metadata and reports are used by different
roles: the processor writes events (:class:`EventStore`), the collector and the API look up
properties (:class:`PropertyStore`), and the report engine reads (:class:`ReportStore`).

URLs: ``duckdb:///path/footfall.duckdb`` (embedded); ``memory://`` is DuckDB in memory (tests).
A Cassandra adapter for the cluster shape is planned (``cassandra://host:port/keyspace``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import msgspec

from footfall.property import Property
from footfall.schema.events import DeadLetter, EnrichedEvent, Session

if TYPE_CHECKING:
    from footfall.report.query import ReportQuery, ReportResult


class RawRow(msgspec.Struct, frozen=True):
    property_id: str
    event_id: str
    received_at: int
    event_time: int
    ip: str | None
    payload: bytes  # RawEvent as msgpack, client address removed


class SessionProbe(msgspec.Struct, frozen=True):
    """New events of one visitor's session stream span [lo, hi]; which stored events touch it?"""

    property_id: str
    visitor_id: str
    client_session_id: str | None
    lo: int
    hi: int


class WriteSet(msgspec.Struct, kw_only=True):
    """Everything one processed batch changes, written in one transaction."""

    raw: list[RawRow] = []
    events: list[EnrichedEvent] = []
    rekeyed: list[tuple[str, str, str]] = []  # (property_id, event_id, new session_key)
    stale_sessions: list[tuple[str, str]] = []  # (property_id, session_key) to delete
    sessions: list[Session] = []
    first_seen: list[tuple[str, str, int, str]] = []  # (property, visitor, event_time, event_id)
    dead_letters: list[DeadLetter] = []


class EventStore(Protocol):
    def known_event_ids(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (property_id, event_id) pairs are already stored."""

    def session_events(
        self, probes: Sequence[SessionProbe], timeout_us: int
    ) -> list[EnrichedEvent]:
        """Stored events of every session within ``timeout_us`` of a probe's span."""

    def write(self, writes: WriteSet) -> None:
        """Apply a batch atomically; writing the same events again changes nothing."""


class RawHistory(Protocol):
    """Raw events as received, for re-processing a property from scratch."""

    def raw_page(self, property_id: str, after: tuple[int, str] | None, limit: int) -> list[RawRow]:
        """The next raw events by (received_at, event_id) after ``after``."""

    def reset_derived(self, property_id: str) -> None:
        """Delete everything derived from raw events: events, sessions, visitors, dead letters."""


class PropertyStore(Protocol):
    def get_property(self, property_id: str) -> Property | None: ...

    def property_for_measurement_id(self, measurement_id: str) -> Property | None: ...

    def list_properties(self) -> list[Property]: ...

    def save_property(self, prop: Property) -> None: ...


class MetaStore(Protocol):
    """Small key-value facts: the admin token's hash, the daily cookieless salts."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> str:
        """Store ``value`` (or keep the existing one when ``only_if_absent``); return what is stored."""


class ReportStore(Protocol):
    def run_report(self, query: ReportQuery) -> ReportResult: ...


class Retention(Protocol):
    """Forgetting on schedule: client addresses and cookieless salts past the raw window."""

    def scrub_raw_ips(self, received_before_us: int) -> None: ...

    def forget_salts(self, before: dt.date) -> None: ...


class Store(EventStore, RawHistory, PropertyStore, MetaStore, ReportStore, Retention, Protocol):
    """What ``footfall serve`` needs from one embedded store."""

    def close(self) -> None: ...


def open_store(url: str) -> Store:
    parts = urlsplit(url)
    if parts.scheme == "memory":
        from footfall.store.duckdb import DuckDBStore

        return DuckDBStore(":memory:")
    if parts.scheme == "duckdb":
        from footfall.store.duckdb import DuckDBStore

        path = parts.path if not parts.netloc else parts.netloc + parts.path
        return DuckDBStore(path or ":memory:")
    raise ValueError(f"no store adapter for {url!r}")
