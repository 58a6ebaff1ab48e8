"""Tenancy records, usage and meta on Cassandra."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from footfall.store import R, UsageRow
from footfall.store.cassandra.base import CassandraBase, _insert
from footfall.tenancy.model import Record, decode_record, record_row


class Outcome(enum.Enum):
    APPLIED = "applied"
    PRESUMED = "presumed"  # after a timeout, the row found is the one we meant to write
    REFUSED = "refused"


_TENANCY_COLUMNS = ("kind", "id", "lookup", "account_id", "property_id", "doc")
LWT_ATTEMPTS = 3  # a lightweight transaction whose outcome timed out is asked again


class TenancyTables(CassandraBase):
    # -- TenancyStore ----------------------------------------------------------------------------

    def _lwt(self, cql: str, params: Sequence[Any], ours: Callable[[Any], bool]) -> Outcome:
        """Run a lightweight transaction (Paxos at the serial level matching the configured
        consistency: LOCAL_SERIAL for LOCAL_*, else SERIAL). When an attempt times out, its
        outcome is unknown and the next one may find the row it wrote: a row that is ``ours``
        is then presumed written by us."""
        from cassandra import ConsistencyLevel, WriteTimeout
        from cassandra.cluster import EXEC_PROFILE_DEFAULT

        level = self.session.get_execution_profile(EXEC_PROFILE_DEFAULT).consistency_level
        local = ConsistencyLevel.value_to_name[level].startswith("LOCAL_")
        bound = self._stmt(cql).bind(params)
        bound.serial_consistency_level = (
            ConsistencyLevel.LOCAL_SERIAL if local else ConsistencyLevel.SERIAL
        )
        timed_out = False
        for attempt in range(LWT_ATTEMPTS):
            try:
                result = self.session.execute(bound)
            except WriteTimeout:
                if attempt == LWT_ATTEMPTS - 1:
                    raise
                timed_out = True
                continue
            if result.was_applied:
                return Outcome.APPLIED
            found = result.one()
            if timed_out and found is not None and ours(found):
                return Outcome.PRESUMED
            return Outcome.REFUSED
        raise AssertionError("unreachable: the last attempt returns or raises")

    def insert(self, record: Record) -> bool:
        """Claim the lookup first (``tenancy_lookup … IF NOT EXISTS``), then the id (``tenancy
        … IF NOT EXISTS``); when the id is taken, release the lookup just claimed. A crash in
        between leaves a lookup row pointing at no record of its own, which :meth:`find`
        ignores."""
        kind, record_id, lookup = record.KIND, record.record_id, record.lookup
        claimed = Outcome.APPLIED
        if lookup:
            claimed = self._lwt(
                _insert("tenancy_lookup", ("kind", "lookup", "id"), " IF NOT EXISTS"),
                (kind, lookup, record_id),
                lambda found: found.id == record_id,
            )
            if claimed is Outcome.REFUSED:
                return False
        row = record_row(record)
        if (
            self._lwt(
                _insert("tenancy", _TENANCY_COLUMNS, " IF NOT EXISTS"),
                row,
                lambda found: bytes(found.doc) == row[-1],
            )
            is not Outcome.REFUSED
        ):
            return True
        if lookup and claimed is Outcome.APPLIED:
            # only a claim known to be ours is released: a presumed one may be the lookup of
            # a record with this very id and lookup
            self._lwt(
                "DELETE FROM tenancy_lookup WHERE kind = ? AND lookup = ? IF id = ?",
                (kind, lookup, record_id),
                lambda found: False,
            )
        return False

    def put(self, record: Record) -> None:
        """An update through Paxos too (``IF EXISTS``), so it is ordered after the lightweight
        transaction that created the record whatever the clocks say; a record that does not
        exist yet is inserted as by :meth:`insert`."""
        kind, record_id, lookup, account_id, property_id, doc = record_row(record)
        for _attempt in range(LWT_ATTEMPTS):
            updated = self._lwt(
                "UPDATE tenancy SET lookup = ?, account_id = ?, property_id = ?, doc = ? "
                "WHERE kind = ? AND id = ? IF EXISTS",
                (lookup, account_id, property_id, doc, kind, record_id),
                lambda found: False,  # not applied: there is no such record (yet)
            )
            if updated is not Outcome.REFUSED or self.insert(record):
                return
        raise RuntimeError(f"tenancy record {kind} could not be written")

    def get(self, kind: type[R], record_id: str) -> R | None:
        rows = self._one(
            "SELECT doc FROM tenancy WHERE kind = ? AND id = ?", (kind.KIND, record_id)
        )
        record = decode_record(rows[0].doc) if rows else None
        return record if isinstance(record, kind) else None

    def find(self, kind: type[R], lookup: str) -> R | None:
        if not lookup:
            return None
        rows = self._one(
            "SELECT id FROM tenancy_lookup WHERE kind = ? AND lookup = ?", (kind.KIND, lookup)
        )
        record = self.get(kind, rows[0].id) if rows else None
        return record if record is not None and record.lookup == lookup else None

    def records(
        self, kind: type[R], *, account_id: str | None = None, property_id: str | None = None
    ) -> list[R]:
        rows = self._one(
            "SELECT account_id, property_id, doc FROM tenancy WHERE kind = ?", (kind.KIND,)
        )
        out: list[R] = []
        for r in rows:
            if account_id is not None and r.account_id != account_id:
                continue
            if property_id is not None and r.property_id != property_id:
                continue
            record = decode_record(r.doc)
            if isinstance(record, kind):
                out.append(record)
        return out

    # -- UsageStore ------------------------------------------------------------------------------

    def add_usage(self, rows: Sequence[UsageRow]) -> None:
        for pid, hour, metric, value in rows:
            self._usage[(pid, hour, metric)] += value
        touched = {(pid, hour, metric) for pid, hour, metric, _v in rows}
        # this process's running totals: writing them again is harmless
        self._many(
            _insert("usage", ("property_id", "hour", "metric", "writer", "value")),
            [(p, h, m, self.writer, self._usage[(p, h, m)]) for p, h, m in touched],
        )

    def usage(self, property_id: str, start_us: int, end_us: int) -> list[UsageRow]:
        rows = self._one(
            "SELECT hour, metric, value FROM usage WHERE property_id = ? AND hour >= ? AND hour < ?",
            (property_id, start_us, end_us),
        )
        totals: dict[tuple[int, str], int] = defaultdict(int)
        for r in rows:
            totals[(r.hour, r.metric)] += r.value
        return [(property_id, h, m, v) for (h, m), v in sorted(totals.items())]

    # -- MetaStore -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0].value) if rows else None

    def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> str:
        if not only_if_absent:
            self._one("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            return value
        return self._meta_once(key, value)
