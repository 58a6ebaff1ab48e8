"""The store ports and how an adapter is chosen.

Small protocols, because the write path, tenancy metadata and reports are used by different
roles: the processor writes events (:class:`EventStore`), the gateway looks up tenancy records
(:class:`TenancyStore`) and counts usage (:class:`UsageStore`), and the report engine reads
(:class:`ReportStore`). Re-processing reads raw events (:class:`RawHistory`) and builds a new
generation of a property's derived data beside the live one (:class:`Generations`).

URLs: ``duckdb:///path/footfall.duckdb`` (embedded); ``memory://`` is DuckDB in memory (tests);
``cassandra://host[,host]:port/keyspace`` (cluster).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import msgspec

from footfall.schema.events import DeadLetter, EnrichedEvent, Session
from footfall.tenancy.model import Record

if TYPE_CHECKING:
    from footfall.report.query import ReportQuery, ReportResult
    from footfall.settings import Settings


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


class SessionRef(msgspec.Struct, frozen=True):
    """Where a stored session is: enough for any store to delete it."""

    property_id: str
    visitor_id: str
    session_key: str
    start_time: int


class Rebuild(msgspec.Struct, kw_only=True, frozen=True):
    """A property's re-processing: its raw events read again into a new ``generation`` of
    derived data, which becomes the live one when complete."""

    property_id: str
    generation: int  # the generation it builds
    state: str  # RUNNING, DONE or FAILED
    after: tuple[int, str] | None = None  # cursor: the last raw event read (received_at, event_id)
    raw_read: int = 0  # raw events processed into the generation so far
    raw_total: int = 0  # the property's raw events when it started (or, when done, all read)
    started_at: int = 0  # µs since the epoch
    updated_at: int = 0
    finished_at: int | None = None
    last_error: str = ""
    # when the generations it left behind (the old live one; a failed rebuild's own) were
    # deleted; None until then, so a process that starts settles only what is still to settle
    settled_at: int | None = None


RUNNING, DONE, FAILED = "running", "done", "failed"
REBUILD_COLUMNS = (  # a stored rebuild, after its property_id
    "generation",
    "state",
    "after_received_at",
    "after_event_id",
    "raw_read",
    "raw_total",
    "started_at",
    "updated_at",
    "finished_at",
    "last_error",
    "settled_at",
)


def rebuild_values(r: Rebuild) -> list[object]:
    """The values of ``REBUILD_COLUMNS``."""
    received, event_id = r.after or (None, None)
    return [
        r.generation,
        r.state,
        received,
        event_id,
        r.raw_read,
        r.raw_total,
        r.started_at,
        r.updated_at,
        r.finished_at,
        r.last_error,
        r.settled_at,
    ]


def rebuild_of(property_id: str, values: Sequence[Any]) -> Rebuild:
    """A stored rebuild from the values of ``REBUILD_COLUMNS`` (NULLs read as the defaults)."""
    row = dict(zip(REBUILD_COLUMNS, values, strict=True))
    received, event_id = row["after_received_at"], row["after_event_id"]

    def whole(name: str) -> int:
        return int(row[name] or 0)

    return Rebuild(
        property_id=property_id,
        generation=whole("generation"),
        state=row["state"],
        after=None if received is None else (int(received), str(event_id)),
        raw_read=whole("raw_read"),
        raw_total=whole("raw_total"),
        started_at=whole("started_at"),
        updated_at=whole("updated_at"),
        finished_at=None if row["finished_at"] is None else int(row["finished_at"]),
        last_error=row["last_error"] or "",
        settled_at=None if row["settled_at"] is None else int(row["settled_at"]),
    )


class LostRebuild(Exception):
    """Another process runs this rebuild now (a shared store whose lease it took over)."""


# Which generation a read or write of derived data means. None: each property's live one, as
# the store finds it then; an int: that generation for every property (a rebuild's); a
# mapping: each property's generation as the processor pinned it at the start of its batch
# (a property missing from it: its live one), so a switch between two of the batch's reads
# and its write never splits the batch between two generations.
Generation = int | Mapping[str, int] | None


class WriteSet(msgspec.Struct, kw_only=True):
    """Everything one processed batch changes (one transaction where the store has them;
    otherwise idempotent writes, replayed whole after a crash).

    The derived rows go to each property's live generation, or, for a rebuild, to
    ``generation``; ``rebuild`` is the rebuild's progress, stored with them."""

    raw: list[RawRow] = []
    events: list[EnrichedEvent] = []
    rekeyed: list[EnrichedEvent] = []  # stored events whose session_key changed (new key set)
    stale_sessions: list[SessionRef] = []  # stored sessions that no longer exist
    sessions: list[Session] = []
    first_seen: list[tuple[str, str, int, str]] = []  # (property, visitor, event_time, event_id)
    dead_letters: list[DeadLetter] = []
    generation: Generation = None
    rebuild: Rebuild | None = None


class EventStore(Protocol):
    """Reads and writes of derived data, of the generation ``generation`` names."""

    def live_generations(self, property_ids: Iterable[str]) -> dict[str, int]:
        """Each property's live generation (0 when it never switched)."""

    def known_event_ids(
        self, keys: Sequence[tuple[str, str]], *, generation: Generation = None
    ) -> set[tuple[str, str]]:
        """Which (property_id, event_id) pairs are already stored."""

    def session_events(
        self, probes: Sequence[SessionProbe], timeout_us: int, *, generation: Generation = None
    ) -> list[EnrichedEvent]:
        """Stored events of every session within ``timeout_us`` of a probe's span."""

    def write(self, writes: WriteSet) -> None:
        """Apply a batch atomically; writing the same events again changes nothing."""


class RawHistory(Protocol):
    """Raw events as received, for re-processing a property from scratch."""

    def raw_page(self, property_id: str, after: tuple[int, str] | None, limit: int) -> list[RawRow]:
        """The next raw events by (received_at, event_id) after ``after``."""

    def raw_unbuilt(self, property_id: str, generation: int, limit: int) -> list[RawRow]:
        """Raw events that ``generation`` holds neither an event nor a dead letter of, by
        (received_at, event_id): what a rebuild has yet to read, wherever they sort."""


class Generations(Protocol):
    """Each property's derived data (events, sessions, visitors, dead letters) belongs to a
    generation. Reports and the processor use the live one (0 until a rebuild switches); a
    rebuild writes the next one beside it, then switches in one step."""

    def rebuilds(self, property_id: str | None = None) -> list[Rebuild]:
        """The latest rebuild of the property, or of every property that had one."""

    def begin_rebuild(self, property_id: str, now_us: int) -> Rebuild:
        """Start a rebuild into a new generation, unless one is running: return that one."""

    def claim_rebuilds(self, now_us: int) -> list[Rebuild]:
        """The running rebuilds this process is to run: every one on a store it alone writes;
        on a shared store, its own and those whose owner stopped renewing its lease."""

    def unsettled(self, now_us: int) -> list[Rebuild]:
        """The finished rebuilds (done or failed) whose leftover generations are still to be
        deleted and that this process is to settle: every one on a store it alone writes; on a
        shared store, its own and those whose owner stopped renewing its lease."""

    def generation_ready(self, rebuild: Rebuild) -> bool:
        """Whether the rebuild's generation could be switched to now (on the cluster, once its
        rollups are built; a cheap check that renews the rebuild's lease while it waits);
        :class:`LostRebuild` when the stored rebuild is not this running one."""

    def switch_generation(self, rebuild: Rebuild) -> bool:
        """Make the rebuild's generation live and store the rebuild as done, in one step.
        False, and nothing changed, when the new generation is not ready for reports yet
        (on the cluster, until its rollups are built); :class:`LostRebuild` when the stored
        rebuild is not this running one."""

    def drop_generations(self, property_id: str) -> int:
        """Delete the property's derived rows of every generation that is neither live nor
        being built; returns how many (where the store counts them)."""


R = TypeVar("R", bound=Record)


class TenancyStore(Protocol):
    """Accounts, properties, streams, secrets and keys (see :mod:`footfall.tenancy.model`)."""

    def insert(self, record: Record) -> bool:
        """Create ``record`` only if nothing of its kind has its id or, when it has one, its
        lookup; atomically. False (and nothing written) when either is taken."""

    def put(self, record: Record) -> None:
        """Replace the record with the same kind and id (an update; lookups never change)."""

    def get(self, kind: type[R], record_id: str) -> R | None: ...

    def find(self, kind: type[R], lookup: str) -> R | None:
        """By the record's second key: a stream's measurement id, a key's or secret's prefix."""

    def records(
        self, kind: type[R], *, account_id: str | None = None, property_id: str | None = None
    ) -> list[R]: ...


UsageRow = tuple[str, int, str, int]  # (property_id, hour start in µs, metric, value)


class UsageStore(Protocol):
    def add_usage(self, rows: Sequence[UsageRow]) -> None:
        """Add each value to the stored count of its (property, hour, metric)."""

    def usage(self, property_id: str, start_us: int, end_us: int) -> list[UsageRow]: ...


class MetaStore(Protocol):
    """Small key-value facts, such as the daily cookieless salts."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> str:
        """Store ``value`` (or keep the existing one when ``only_if_absent``); return what is stored."""


RateRow = tuple[str, dt.date, str]  # (currency, day, units per unit of the base, decimal text)


class RateStore(Protocol):
    """Exchange rates against a base currency, one per currency and day."""

    def put_rates(self, base: str, rates: Sequence[RateRow]) -> None:
        """Insert each rate, or replace the one of the same base, currency and day."""

    def exchange_rates(self, base: str) -> list[RateRow]: ...


class ReportTimeout(Exception):
    """A report ran past its time budget (``report_timeout``) and its query was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the report ran past its time budget of {seconds:g} s")
        self.seconds = seconds


class ReportStore(Protocol):
    """Reports; a store with a time budget raises :class:`ReportTimeout` past it."""

    def run_report(self, query: ReportQuery) -> ReportResult: ...

    def run_realtime(self, query: ReportQuery) -> ReportResult:
        """A report over ``query.window`` (recent events) instead of date ranges."""


class Retention(Protocol):
    """Forgetting on schedule: client addresses and cookieless salts past the raw window, and
    events past a property's retention."""

    def scrub_raw_ips(self, received_before_us: int) -> None: ...

    def forget_salts(self, before: dt.date) -> None: ...

    def delete_before(self, property_id: str, before_us: int) -> None:
        """Delete a property's events, sessions and raw events older than ``before_us``."""


class Store(
    EventStore,
    RawHistory,
    Generations,
    TenancyStore,
    UsageStore,
    MetaStore,
    RateStore,
    ReportStore,
    Retention,
    Protocol,
):
    """What ``footfall serve`` needs from one embedded store."""

    def close(self) -> None: ...


def open_store(url: str, settings: Settings | None = None) -> Store:
    parts = urlsplit(url)
    if parts.scheme == "cassandra":
        from footfall.store.cassandra import CassandraStore

        s = settings
        return CassandraStore(
            url,
            consistency=s.cassandra_consistency if s else "LOCAL_QUORUM",
            shards=s.cassandra_shards if s else 16,
            raw_retention_hours=s.raw_retention_hours if s else 168,
            settings=s,
        )
    if parts.scheme == "memory":
        from footfall.store.duckdb import DuckDBStore

        return DuckDBStore(":memory:", settings=settings)
    if parts.scheme == "duckdb":
        from footfall.store.duckdb import DuckDBStore

        path = parts.path if not parts.netloc else parts.netloc + parts.path
        return DuckDBStore(path or ":memory:", settings=settings)
    raise ValueError(f"no store adapter for {url!r}")
