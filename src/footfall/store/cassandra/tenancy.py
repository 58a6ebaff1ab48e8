"""Tenancy records, usage and meta on Cassandra."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from footfall.store import R, UsageRow
from footfall.store.cassandra.base import CassandraBase, _insert
from footfall.tenancy.model import Record, decode_record, encode_record


class TenancyTables(CassandraBase):
    # -- TenancyStore ----------------------------------------------------------------------------

    def put(self, record: Record) -> None:
        self._one(
            _insert("tenancy", ("kind", "id", "lookup", "account_id", "property_id", "doc")),
            (
                record.KIND,
                record.record_id,
                record.lookup,
                record.owner_account,
                record.owner_property,
                encode_record(record),
            ),
        )
        if record.lookup:
            self._one(
                _insert("tenancy_lookup", ("kind", "lookup", "id")),
                (record.KIND, record.lookup, record.record_id),
            )

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
        return self.get(kind, rows[0].id) if rows else None

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
